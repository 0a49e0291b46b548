"""The SQL each mode runs: the user's query wrapped with quoted identifiers and bound values.

A `ReadPlan` is constant SQL text plus named values. Values are never pasted into the SQL: each reader binds
them in its own way (PostgreSQL: session settings read back with the column's type, so the COPY stream
stays; MySQL/MariaDB and SQLite: DB-API parameters).
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from .engines import SourceDatabase


@dataclass(frozen=True)
class ReadPlan:
    sql: str                                   # with {name} placeholders for the bound values
    params: dict[str, Any] = field(default_factory=dict)
    param_types: dict[str, str] = field(default_factory=dict)  # PostgreSQL type to read each value back as

    def bound(self, source: SourceDatabase) -> dict[str, Any]:
        """The values as each engine binds them. PostgreSQL: text in the type's input syntax, for set_config.
        MySQL sessions run in UTC and PyMySQL drops time zones, so instants become naive UTC; SQLite compares
        timestamps as ISO text."""
        if source.kind == "postgres":
            return {name: _postgres_text(value) for name, value in self.params.items()}
        out = {}
        for name, value in self.params.items():
            if isinstance(value, datetime.datetime):
                if value.tzinfo is not None:
                    value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
                if source.kind == "sqlite":
                    value = value.isoformat(sep=" ")
            out[name] = value
        return out

    def render(self, source: SourceDatabase) -> str:
        """The SQL for `source`'s reader, with each {name} turned into that engine's parameter reference."""
        def reference(name: str) -> str:
            if source.kind == "postgres":
                return f"current_setting('rivet.{name}')::{self.param_types[name]}"
            if source.kind == "mysql":
                return f"%({name})s"
            return f":{name}"

        template = self.sql
        if source.kind == "mysql" and self.params:  # the driver %-formats the text when it binds values
            template = template.replace("%", "%%")
        return template.format(**{name: reference(name) for name in self.params})


def _postgres_text(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    return repr(value) if isinstance(value, float) else str(value)


def full(query: str) -> ReadPlan:
    return ReadPlan(_braces(query))


def incremental(source: SourceDatabase, query: str, cursor_column: str, cursor_type: str | None,
                after: Any | None, up_to: Any | None = None) -> ReadPlan:
    """Rows with cursor > `after` (all rows on the first run), and <= `up_to` when re-exporting a window,
    in cursor order."""
    column = f"_rivet.{source.quote(cursor_column)}"
    conditions, params = [], {}
    if after is not None:
        conditions.append(f"{column} > {{after}}")
        params["after"] = after
    if up_to is not None:
        conditions.append(f"{column} <= {{up_to}}")
        params["up_to"] = up_to
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    sql = f"SELECT * FROM ({_braces(query)}) AS _rivet{where} ORDER BY {column}"
    return ReadPlan(sql, params, {name: cursor_type or "text" for name in params})


def time_window(source: SourceDatabase, query: str, time_column: str, column_type: str | None, start: Any,
                end: Any | None) -> ReadPlan:
    """Rows with `start <= time_column < end` (no upper bound for Rivet's trailing `days_window`)."""
    column = f"_rivet.{source.quote(time_column)}"
    where = f"{column} >= {{start}}" + (f" AND {column} < {{end}}" if end is not None else "")
    params = {"start": start} if end is None else {"start": start, "end": end}
    return ReadPlan(f"SELECT * FROM ({_braces(query)}) AS _rivet WHERE {where}", params,
                    {name: column_type or "text" for name in params})


def chunk(source: SourceDatabase, query: str, chunk_column: str, column_type: str | None, start: int, end: int,
          dense: bool) -> ReadPlan:
    """One chunk: `start <= chunk_column <= end`, or row numbers start..end in chunk_column order (dense).
    The row-number column is the last one, so reading the declared columns drops it."""
    column = source.quote(chunk_column)
    params = {"start": start, "end": end}
    if dense:
        sql = (f"SELECT * FROM (SELECT _rivet_i.*, ROW_NUMBER() OVER (ORDER BY _rivet_i.{column}) AS _rivet_chunk_rn "
               f"FROM ({_braces(query)}) AS _rivet_i) AS _rivet WHERE _rivet_chunk_rn >= {{start}} "
               f"AND _rivet_chunk_rn <= {{end}}")
        return ReadPlan(sql, params, {"start": "int8", "end": "int8"})
    sql = f"SELECT * FROM ({_braces(query)}) AS _rivet WHERE _rivet.{column} >= {{start}} AND _rivet.{column} <= {{end}}"
    return ReadPlan(sql, params, {name: column_type or "int8" for name in params})


def chunk_bounds(source: SourceDatabase, query: str, chunk_column: str, dense: bool) -> tuple[ReadPlan, ReadPlan]:
    """What a chunk plan spans: MIN and MAX of the chunk column, or 1 and COUNT(*) for dense chunks."""
    if dense:
        return ReadPlan("SELECT 1"), ReadPlan(f"SELECT COUNT(*) FROM ({_braces(query)}) AS _rivet")
    column = f"_rivet.{source.quote(chunk_column)}"
    return tuple(ReadPlan(f"SELECT {fn}({column}) FROM ({_braces(query)}) AS _rivet") for fn in ("MIN", "MAX"))


def newest(source: SourceDatabase, query: str, cursor_column: str, cursor_type: str | None,
           after: Any | None) -> ReadPlan:
    """The largest cursor value after `after`: NULL when there is nothing new."""
    column = f"_rivet.{source.quote(cursor_column)}"
    where = f" WHERE {column} > {{after}}" if after is not None else ""
    return ReadPlan(f"SELECT MAX({column}) FROM ({_braces(query)}) AS _rivet{where}",
                    {"after": after} if after is not None else {}, {"after": cursor_type or "text"})


def _braces(query: str) -> str:
    """Escape the user's braces so str.format leaves them alone."""
    return query.replace("{", "{{").replace("}", "}}")
