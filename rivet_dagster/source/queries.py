"""The SQL each mode runs: the user's query wrapped with quoted identifiers and bound values.

A `ReadPlan` is constant SQL text plus named, typed values. Each reader passes the values in its own way:
PostgreSQL binds them as session settings read back with the column's type (so the COPY stream stays),
SQLite as DB-API parameters, and MySQL/MariaDB, whose Arrow reader cannot bind, as literals rendered by a
strict formatter from the typed value (never user text).
"""
from __future__ import annotations

import datetime
import decimal
import math
from dataclasses import dataclass, field, replace
from typing import Any

from rivet_dagster.config.query import UserQuery
from rivet_dagster.config.resolved import SECRET_NAME
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.source.errors import UnexportableValue


@dataclass(frozen=True)
class ReadPlan:
    sql: str                                   # {columns} for the projection, {name} for each bound value
    params: dict[str, Any] = field(default_factory=dict)
    param_types: dict[str, str] = field(default_factory=dict)  # PostgreSQL type to read each value back as
    keys: dict[str, str] = field(default_factory=dict)         # p<n> -> the ${KEY} it binds, for errors
    key_range: bool = False    # `start`..`end` are an inclusive integer range of the rows' keys: `parts` splits it

    def secrets(self) -> list[str]:
        """The values of `${KEY}`s whose names look like secrets: never in an error message."""
        return [str(self.params[name]) for name, key in self.keys.items() if SECRET_NAME.search(key)]

    def failed(self, what: str) -> str:
        """`what`, naming the `${KEY}`s the statement binds: a value may be what the database refused."""
        named = ", ".join(f"${{{key}}}" for key in dict.fromkeys(self.keys.values()))
        return f"{what} (with {named})" if named else what

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

    def render(self, source: SourceDatabase, columns: str = "*") -> str:
        """The SQL for `source`'s reader: `columns` as the projection, each {name} as that engine's reference to
        the bound value. MySQL/MariaDB reads go through connectorx, which cannot bind, so there each value is a
        typed literal (`mysql_literal`): values come from the database (cursors, chunk bounds, windows), never
        from user text."""
        def reference(name: str) -> str:
            if source.kind == "postgres":
                return f"current_setting('rivet.{name}')::{self.param_types[name]}"
            if source.kind == "mysql":
                return mysql_literal(self.bound(source)[name])
            return f":{name}"

        return self.sql.format(columns=columns, **{name: reference(name) for name in self.params})

    def parts(self, width: int) -> list[ReadPlan]:
        """The same rows as consecutive reads of at most `width` keys each (one when it has no key range)."""
        if not self.key_range or self.params["end"] - self.params["start"] < width:
            return [self]
        return [replace(self, params={**self.params, "start": low, "end": min(low + width - 1, self.params["end"])})
                for low in range(self.params["start"], self.params["end"] + 1, width)]

    def counted(self) -> ReadPlan:
        """COUNT(*) over the rows this plan reads (reconcile)."""
        return ReadPlan(f"SELECT COUNT(*) FROM ({self.sql}) AS _rivet_scope", self.params, self.param_types,
                        self.keys)


def mysql_literal(value: Any) -> str:
    """A MySQL/MariaDB literal for a typed value, built from its digits and fields only (strings and bytes as
    hex), so no value can change the statement. A type it does not know is an error, never `str(value)`."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnexportableValue(f"cannot compare with the non-finite value {value}")
        return repr(float(value))
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise UnexportableValue(f"cannot compare with the non-finite value {value}")
        return format(value, "f")
    if isinstance(value, datetime.datetime):
        return (f"TIMESTAMP'{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:{value.minute:02d}:"
                f"{value.second:02d}.{value.microsecond:06d}'")
    if isinstance(value, datetime.date):
        return f"DATE'{value.year:04d}-{value.month:02d}-{value.day:02d}'"
    if isinstance(value, datetime.time):
        return f"TIME'{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}'"
    if isinstance(value, str):
        return f"_utf8mb4 X'{value.encode().hex()}'" if value else "_utf8mb4 ''"
    if isinstance(value, (bytes, bytearray)):
        return f"X'{bytes(value).hex()}'"
    raise UnexportableValue(f"no MySQL literal for a value of type {type(value).__name__}")


def _postgres_text(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    return repr(value) if isinstance(value, float) else str(value)


def probe(source: SourceDatabase, query: UserQuery) -> ReadPlan:
    """No rows: what the query's columns are (describe)."""
    return _plan(source, query, f"SELECT {{columns}} FROM ({query.sql}) AS _rivet LIMIT 0")


def full(source: SourceDatabase, query: UserQuery) -> ReadPlan:
    return _plan(source, query, f"SELECT {{columns}} FROM ({query.sql}) AS _rivet")


def incremental(source: SourceDatabase, query: UserQuery, cursor_column: str, cursor_type: str | None,
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
    return _plan(source, query, f"SELECT {{columns}} FROM ({query.sql}) AS _rivet{where} ORDER BY {column}", params,
                 {name: cursor_type or "text" for name in params})


def time_window(source: SourceDatabase, query: UserQuery, time_column: str, column_type: str | None, start: Any,
                end: Any | None) -> ReadPlan:
    """Rows with `start <= time_column < end` (no upper bound for Rivet's trailing `days_window`)."""
    column = f"_rivet.{source.quote(time_column)}"
    where = f"{column} >= {{start}}" + (f" AND {column} < {{end}}" if end is not None else "")
    params = {"start": start} if end is None else {"start": start, "end": end}
    return _plan(source, query, f"SELECT {{columns}} FROM ({query.sql}) AS _rivet WHERE {where}", params,
                 {name: column_type or "text" for name in params})


def chunk(source: SourceDatabase, query: UserQuery, chunk_column: str, column_type: str | None, start: int, end: int,
          dense: bool) -> ReadPlan:
    """One chunk: `start <= chunk_column <= end`, or row numbers start..end in chunk_column order (dense).
    The row-number column is the last one, so reading the declared columns drops it."""
    column = source.quote(chunk_column)
    params = {"start": start, "end": end}
    if dense:
        sql = (f"SELECT {{columns}} FROM (SELECT _rivet_i.*, ROW_NUMBER() OVER (ORDER BY _rivet_i.{column}) "
               f"AS _rivet_chunk_rn FROM ({query.sql}) AS _rivet_i) AS _rivet "
               f"WHERE _rivet_chunk_rn >= {{start}} AND _rivet_chunk_rn <= {{end}}")
        return _plan(source, query, sql, params, {"start": "int8", "end": "int8"})  # not split: each read numbers all
    sql = (f"SELECT {{columns}} FROM ({query.sql}) AS _rivet "
           f"WHERE _rivet.{column} >= {{start}} AND _rivet.{column} <= {{end}}")
    return replace(_plan(source, query, sql, params, {name: column_type or "int8" for name in params}),
                   key_range=True)


def chunk_bounds(source: SourceDatabase, query: UserQuery, chunk_column: str, dense: bool
                 ) -> tuple[ReadPlan, ReadPlan]:
    """What a chunk plan spans: MIN and MAX of the chunk column, or 1 and COUNT(*) for dense chunks."""
    if dense:
        return ReadPlan("SELECT 1"), _plan(source, query, f"SELECT COUNT(*) FROM ({query.sql}) AS _rivet")
    column = f"_rivet.{source.quote(chunk_column)}"
    return tuple(_plan(source, query, f"SELECT {fn}({column}) FROM ({query.sql}) AS _rivet") for fn in ("MIN", "MAX"))


def newest(source: SourceDatabase, query: UserQuery, cursor_column: str, cursor_type: str | None,
           after: Any | None) -> ReadPlan:
    """The largest cursor value after `after`: NULL when there is nothing new."""
    column = f"_rivet.{source.quote(cursor_column)}"
    where = f" WHERE {column} > {{after}}" if after is not None else ""
    return _plan(source, query, f"SELECT MAX({column}) FROM ({query.sql}) AS _rivet{where}",
                 {"after": after} if after is not None else {}, {"after": cursor_type or "text"})


def _plan(source: SourceDatabase, query: UserQuery, sql: str, params: dict | None = None,
          param_types: dict | None = None) -> ReadPlan:
    """A plan over the user's query: its bound `${KEY}`s beside the mode's own values (on PostgreSQL with the
    types the server infers for them)."""
    return ReadPlan(sql, {**query.params, **(params or {})}, {**source.param_types(query), **(param_types or {})},
                    query.keys)
