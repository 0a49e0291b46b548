"""Every mode reads every type exactly, on every engine, to Parquet and CSV.

One table per cell holds every type of its engine (`source/every_type.py`: extremes, exotic values, NULLs) beside
an integer key (`id`, the chunk column), a cursor (`updated_at`) and a time column (`created_at`, an instant
where the engine has one). Each mode runs as a user runs it (incremental: a first run, new rows, a second run and
an idle third one; chunked: every planned chunk; partitioned time windows: a range run over three days whose
rows sit on the windows' edges; Rivet's trailing `days_window`), and the union of the files it committed must
equal the source row by row and value by value, with the declared Arrow types in every Parquet file.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import math
import sqlite3
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from rivet_dagster.config import load_config
from rivet_dagster.modes.chunk_plan import register_plan
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster_tests.conftest import materialize, run_sql, state_in, write_config
from rivet_dagster_tests.source.every_type import TABLES, UTC, TypeTable

KEY_COLUMNS = {
    "postgres": "id int8 PRIMARY KEY, updated_at timestamp(6) NOT NULL, created_at timestamptz NOT NULL",
    "mysql": "id bigint PRIMARY KEY, updated_at datetime(6) NOT NULL, "
             "created_at timestamp(6) NOT NULL DEFAULT '2000-01-01 00:00:00'",
    "sqlite": "id INTEGER PRIMARY KEY, updated_at TEXT NOT NULL, created_at TEXT NOT NULL",
}
KEY_TYPES = {"postgres": {"id": "int64", "updated_at": "timestamp[us]", "created_at": "timestamp[us, tz=UTC]"},
             "mysql": {"id": "int64", "updated_at": "timestamp[us]", "created_at": "timestamp[us, tz=UTC]"},
             "sqlite": {"id": "int64", "updated_at": "string", "created_at": "string"}}
# Rows 1-3 come first, rows 4-6 later (a second incremental run). Windows: three days, rows on their edges.
CREATED = [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, 23, 59, 59, 999999), dt.datetime(2024, 1, 2),
           dt.datetime(2024, 1, 2, 12, 0, 0, 500000), dt.datetime(2024, 1, 3),
           dt.datetime(2024, 1, 3, 23, 59, 59, 999999)]
RANGE = {"dagster/asset_partition_range_start": "2024-01-01", "dagster/asset_partition_range_end": "2024-01-03"}

MODES = {
    "full": {},
    "incremental": {"mode": "incremental", "cursor_column": "updated_at"},
    "chunked": {"mode": "chunked", "chunk_column": "id", "chunk_size": 2},
    "chunked_checkpoint": {"mode": "chunked", "chunk_column": "id", "chunk_size": 2, "chunk_checkpoint": True},
    "chunked_dense": {"mode": "chunked", "chunk_column": "id", "chunk_size": 4, "chunk_dense": True},
    "chunked_dense_checkpoint": {"mode": "chunked", "chunk_column": "id", "chunk_size": 4, "chunk_dense": True,
                                 "chunk_checkpoint": True},
    "time_window": {"mode": "time_window", "time_column": "created_at",
                    "partitioning": {"granularity": "daily", "start": "2024-01-01"}},
    "days_window": {"mode": "time_window", "time_column": "created_at",
                    "days_window": (dt.date.today() - dt.date(2024, 1, 1)).days + 1},
}


def updated(row: int) -> dt.datetime:
    return dt.datetime(2024, 2, 1, 10, 0, 0, row)


def sql_time(engine: str, value: dt.datetime, instant: bool) -> str:
    text = value.isoformat(sep=" ")
    return f"'{text}+00'" if engine == "postgres" and instant else f"'{text}'"


def insert(engine: str, connect, table: TypeTable, name: str, ids: range) -> None:
    rows = [f"({i}, {sql_time(engine, updated(i), False)}, {sql_time(engine, CREATED[i - 1], True)}, "
            f"{table.rows[(i - 1) % 3]})" for i in ids]
    connect(*table.insert_session, f"INSERT INTO {name} VALUES {', '.join(rows)}")


def expected_rows(engine: str, table: TypeTable, columns: list[str]) -> list[dict]:
    out = []
    for i in range(1, 7):
        if engine == "sqlite":
            keys = {"id": i, "updated_at": updated(i).isoformat(sep=" "),
                    "created_at": CREATED[i - 1].isoformat(sep=" ")}
        else:
            keys = {"id": i, "updated_at": updated(i), "created_at": CREATED[i - 1].replace(tzinfo=UTC)}
        typed = table.expected[(i - 1) % 3]
        out.append({**keys, **{name: typed[name] for name in columns}})
    return out


@pytest.fixture
def source(request, tmp_path):
    """(engine, source config, a function running SQL statements in one session) for the cell's engine."""
    engine = request.node.callspec.params["engine"]
    if engine == "sqlite":
        path = tmp_path / "every.db"

        def sqlite_sql(*statements):
            with sqlite3.connect(path) as db:
                for statement in statements:
                    db.execute(statement)
        return engine, {"type": "sqlite", "database": str(path)}, sqlite_sql
    url = request.getfixturevalue("pg_url" if engine == "postgres" else "mariadb_url")
    return engine, {"type": engine, "url": url}, lambda *statements: run_sql(url, *statements)


def read_parquet(files: list[Path], types: dict[str, str]) -> list[dict]:
    rows = []
    for path in files:
        table = pq.read_table(path)
        assert dict(zip(table.schema.names, map(str, table.schema.types))) == types, path.name
        rows += table.to_pylist()
    return rows


def read_csv(files: list[Path], columns: list[str]) -> list[dict]:
    """Cells as text; an unquoted empty field is NULL, a quoted one the empty string."""
    rows = []
    for path in files:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in columns}, null_values=[""], strings_can_be_null=True,
            quoted_strings_can_be_null=False))
        assert table.schema.names == columns, path.name
        rows += table.to_pylist()
    return rows


def from_csv(text: str | None, like):
    """A CSV cell read back as the type of the value it should hold (README: booleans true/false, ISO-8601
    times with Z for UTC, binary as lowercase hex, decimals exact)."""
    if text is None or like is None:
        return text
    if isinstance(like, bool):
        return {"true": True, "false": False}[text]
    if isinstance(like, (int, float, Decimal)):
        return type(like)(text)
    if isinstance(like, (dt.datetime, dt.date, dt.time)):
        return type(like).fromisoformat(text)
    if isinstance(like, bytes):
        assert text == text.lower()
        return bytes.fromhex(text)
    return text


def same(actual, expected) -> bool:
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(actual, float) and math.isnan(actual)
    return actual == expected and type(actual) is type(expected) or (
        isinstance(expected, Decimal) and isinstance(actual, Decimal) and actual == expected)


def run_mode(mode: str, config: Path, connect, insert_later) -> None:
    """Materialize the export as a user would in this mode."""
    if mode == "incremental":
        materialize(config)
        insert_later()
        materialize(config)
        materialize(config)  # nothing new: no file, the cursor stays
    elif mode.startswith("chunked"):
        insert_later()
        instance = dg.DagsterInstance.ephemeral()
        loaded = load_config(config)
        keys = register_plan(instance, loaded, loaded.exports[0], SourceDatabase(loaded.source, loaded.base_dir),
                             state_in(config.parent))
        assert len(keys) >= 2
        for key in keys:
            materialize(config, partition_key=key, instance=instance)
    elif mode == "time_window":
        insert_later()
        materialize(config, tags=RANGE, instance=dg.DagsterInstance.ephemeral())
    else:
        insert_later()
        materialize(config)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("engine", ["postgres", "mysql", "sqlite"])
def test_the_union_of_the_files_equals_the_source_value_by_value(engine, mode, fmt, source, tmp_path, export_dir):
    _, source_config, connect = source
    table = TABLES[engine]
    name = "every_" + hashlib.sha1(f"{engine}{mode}{fmt}".encode()).hexdigest()[:10]
    connect(*table.setup, f"DROP TABLE IF EXISTS {name}", f"CREATE TABLE {name} ({KEY_COLUMNS[engine]}, "
                                                          f"{table.columns})")
    insert(engine, connect, table, name, range(1, 4))
    columns = table.names(csv=fmt == "csv")
    config = write_config(tmp_path, source_config, [{
        "name": name, "query": f"SELECT id, updated_at, created_at, {', '.join(columns)} FROM {name}",
        "format": fmt, "destination": {"type": "local", "path": str(export_dir)}, **MODES[mode]}])

    run_mode(mode, config, connect, lambda: insert(engine, connect, table, name, range(4, 7)))

    files = sorted(export_dir.glob(f"{name}_*.{fmt}"))
    assert files
    all_columns = ["id", "updated_at", "created_at", *columns]
    expected = expected_rows(engine, table, columns)
    if fmt == "parquet":
        rows = read_parquet(files, {**KEY_TYPES[engine], **{c: table.types[c] for c in columns}})
    else:
        rows = [{c: from_csv(row[c], like) for c, like in zip(all_columns, expected[int(row["id"]) - 1].values())}
                for row in read_csv(files, all_columns)]
    rows.sort(key=lambda row: row["id"])
    assert [row["id"] for row in rows] == list(range(1, 7))          # every row, exactly once
    for got, want in zip(rows, expected):
        wrong = {c: (got[c], want[c]) for c in all_columns if not same(got[c], want[c])}
        assert not wrong, f"row {want['id']}: {wrong}"
