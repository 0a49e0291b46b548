"""Meta columns: exported_at, an unambiguous row hash (two versions), and the Dagster run id."""
import datetime as dt
import decimal
import math
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import xxhash

from rivet_dagster.config.sections import MetaColumns
from rivet_dagster.staging.meta_columns import (ROW_HASH, ROW_HASH_VERSION_KEY, meta_fields, row_hashes,
                                                with_meta_columns)
from rivet_dagster_tests.conftest import materialize_cli, run_cli, run_sql, write_config
from rivet_dagster_tests.source.every_type import TABLES

SCHEMA = pa.schema([("a", pa.string()), ("b", pa.string())])


def hashes(rows: list[tuple]) -> list[int]:
    batch = pa.record_batch([pa.array([r[0] for r in rows]), pa.array([r[1] for r in rows])], schema=SCHEMA)
    return row_hashes(batch).to_pylist()


def test_the_row_hash_never_confuses_field_boundaries_or_null_with_empty():
    values = hashes([("a", "bc"), ("ab", "c"), (None, ""), ("", None), ("", ""), (None, None), ("a\x1f", "b"),
                     ("a", "\x1fb")])
    assert len(set(values)) == len(values)


def test_the_row_hash_is_deterministic_and_64_bit():
    assert hashes([("x", "y")]) == hashes([("x", "y")])
    assert all(-(2**63) <= h < 2**63 for h in hashes([("x", "y"), ("p", None)]))


def test_meta_columns_are_appended_in_order_with_one_value_per_run():
    meta = MetaColumns(exported_at=True, row_hash=True, run_id=True)
    schema = pa.schema(list(SCHEMA) + meta_fields(meta))
    at = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone.utc)
    batch = pa.record_batch([pa.array(["x", None]), pa.array(["y", "z"])], schema=SCHEMA)
    out = with_meta_columns(batch, schema, meta, at, "run-123")
    assert out.schema.names == ["a", "b", "_rivet_exported_at", "_rivet_row_hash", "_rivet_run_id"]
    assert out.column(2).to_pylist() == [at, at] and out.column(4).to_pylist() == ["run-123", "run-123"]
    assert not any(f.nullable for f in meta_fields(meta))


def test_no_meta_columns_leaves_the_batch_alone():
    batch = pa.record_batch([pa.array(["x"]), pa.array(["y"])], schema=SCHEMA)
    assert with_meta_columns(batch, SCHEMA, MetaColumns(), dt.datetime.now(dt.timezone.utc), "r") is batch


def reference_row_hashes(batch: pa.RecordBatch) -> list[int]:
    """The row hash as first specified, value by value in Python: files written before stay comparable."""
    return _xxh3_of_rows([[_v1_encoded(v) for v in _v1_canonical(column)] for column in batch.columns])


def _v1_canonical(values: pa.Array) -> list[bytes | None]:
    t = values.type
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return values.to_pylist()
    if pa.types.is_nested(t):
        return [None if v is None else repr(v).encode() for v in values.to_pylist()]
    return [None if v is None else v.encode() for v in values.cast(pa.string()).to_pylist()]


def _v1_encoded(value: bytes | None) -> bytes:
    return b"\x00" if value is None else b"\x01" + struct.pack("<Q", len(value)) + value


def _xxh3_of_rows(columns: list[list[bytes]]) -> list[int]:
    """xxh3-64, as a signed int64, of each row's encoded values joined in column order."""
    return [int(np.uint64(xxhash.xxh3_64_intdigest(b"".join(row))).view(np.int64)) for row in zip(*columns)]


EVERY_KIND = pa.record_batch({
    "int": pa.array([1, None, -7, 0, 2**62], pa.int64()),
    "small": pa.array([1, 2, None, 4, 5], pa.int8()),
    "float": pa.array([1.5, float("nan"), None, -0.0, 1e300]),
    "decimal": pa.array([decimal.Decimal("1.10"), None, decimal.Decimal("-0.01"), decimal.Decimal("0"),
                         decimal.Decimal("123456789.99")], pa.decimal128(12, 2)),
    "text": pa.array(["a", "", None, "héllo ☃", "x" * 1000]),
    "large_text": pa.array(["p", None, "", "q", "r"], pa.large_string()),
    "bytes": pa.array([b"\x00\x01", b"", None, b"\xff", b"z"], pa.binary()),
    "fixed": pa.array([b"ab", b"cd", None, b"ef", b"gh"], pa.binary(2)),
    "flag": pa.array([True, False, None, True, False]),
    "day": pa.array([dt.date(2024, 1, 1), None, dt.date(1970, 1, 1), dt.date(9999, 12, 31), dt.date(2000, 2, 29)]),
    "at": pa.array([dt.datetime(2024, 1, 1, 12, 0, 0, 123456), None, dt.datetime(1970, 1, 1), dt.datetime(2030, 5, 6),
                    dt.datetime(2000, 1, 1)], pa.timestamp("us", tz="UTC")),
    "at_ns": pa.array([0, None, -1, 1_700_000_000_123_456_789, 1], pa.timestamp("ns", tz="UTC")),
    "at_s": pa.array([0, 86_399, None, -86_400, 253_402_300_799], pa.timestamp("s", tz="UTC")),
    "at_paris": pa.array([0, None, 1_700_000_000_000, 1, 2], pa.timestamp("ms", tz="Europe/Paris")),
    "at_naive": pa.array([0, 1, None, 2, 3], pa.timestamp("ms")),
    "no_nulls": pa.array([5, 4, 3, 2, 1], pa.int32()),
    "items": pa.array([[1, 2], None, [], [None], [3]], pa.list_(pa.int64())),
    "nothing": pa.array([None] * 5, pa.null()),
})


def test_the_row_hash_is_the_same_as_first_specified_for_every_kind_of_column():
    assert row_hashes(EVERY_KIND).to_pylist() == reference_row_hashes(EVERY_KIND)


def test_the_row_hash_of_a_slice_and_of_no_rows():
    sliced = EVERY_KIND.slice(1, 3)
    assert row_hashes(sliced).to_pylist() == reference_row_hashes(sliced) == row_hashes(EVERY_KIND).to_pylist()[1:4]
    assert row_hashes(EVERY_KIND.slice(0, 0)).to_pylist() == []


def test_the_row_hash_of_a_large_batch_matches_row_by_row():
    n = 20_000
    batch = pa.record_batch({"id": pa.array(range(n)), "name": pa.array([None if i % 7 == 0 else f"n{i}" * (i % 5)
                                                                         for i in range(n)])})
    assert row_hashes(batch).to_pylist() == reference_row_hashes(batch)


EXACT = decimal.Context(prec=80)  # 38 digits scale exactly (the default context rounds to 28)


def reference_row_hashes_v2(batch: pa.RecordBatch) -> list[int]:
    """Version 2 as the README specifies it, value by value in Python: a fixed-width value as a marker and its
    little-endian bytes (zeros for NULL), any other value as version 1 encodes it."""
    return _xxh3_of_rows([_v2_encoded(column) for column in batch.columns])


def _v2_encoded(values: pa.Array) -> list[bytes]:
    t = values.type
    if pa.types.is_boolean(t) or (pa.types.is_integer(t) and t != pa.uint64()):
        return [b"\x00" + bytes(8) if v is None else b"\x01" + struct.pack("<q", int(v)) for v in values.to_pylist()]
    if pa.types.is_floating(t):
        return [b"\x00" + bytes(8) if v is None else b"\x01" + struct.pack("<d", v) for v in values.to_pylist()]
    if pa.types.is_decimal(t) and t.precision <= 38:
        return [b"\x00" + bytes(16) if v is None else
                b"\x01" + int(v.scaleb(t.scale, EXACT)).to_bytes(16, "little", signed=True) for v in values.to_pylist()]
    if pa.types.is_date(t):
        return [b"\x00" + bytes(8) if v is None else b"\x01" + struct.pack("<q", (v - dt.date(1970, 1, 1)).days)
                for v in values.to_pylist()]
    if pa.types.is_timestamp(t) or pa.types.is_time(t) or pa.types.is_duration(t):  # the count in its own unit
        counts = pa.Array.from_buffers(pa.int32() if pa.types.is_time32(t) else pa.int64(), len(values),
                                       values.buffers(), values.null_count, values.offset)
        return [b"\x00" + bytes(8) if v is None else b"\x01" + struct.pack("<q", v) for v in counts.to_pylist()]
    return [_v1_encoded(v) for v in _v1_canonical(values)]


MORE_FIXED_WIDTH = pa.record_batch({
    "u8": pa.array([0, 255, None, 7, 1], pa.uint8()),
    "u32": pa.array([2**32 - 1, None, 0, 1, 2], pa.uint32()),
    "u64": pa.array([2**64 - 1, 0, None, 1, 2], pa.uint64()),      # may not fit an int64: as text
    "f4": pa.array([1.5, None, -0.0, float("inf"), 3.25], pa.float32()),
    "d38": pa.array([decimal.Decimal("9" * 28 + "." + "9" * 10), None, decimal.Decimal("-1"), decimal.Decimal(0),
                     decimal.Decimal("0.0000000001")], pa.decimal128(38, 10)),
    "d50": pa.array([decimal.Decimal("1.5"), None, decimal.Decimal("-2"), decimal.Decimal(0), decimal.Decimal(1)],
                    pa.decimal256(50, 1)),                                # wider than 128 bits: as text
    "day64": pa.array([dt.date(2024, 2, 29), None, dt.date(1900, 1, 1), dt.date(1970, 1, 1), dt.date(2, 1, 1)],
                      pa.date64()),
    "t32": pa.array([dt.time(23, 59, 59), None, dt.time(0), dt.time(1), dt.time(2)], pa.time32("s")),
    "t64": pa.array([dt.time(23, 59, 59, 999999), None, dt.time(0), dt.time(1), dt.time(2)], pa.time64("us")),
    "lasted": pa.array([dt.timedelta(days=-1), None, dt.timedelta(0), dt.timedelta(microseconds=1),
                        dt.timedelta(days=3)], pa.duration("us")),
})


@pytest.mark.parametrize("batch", [EVERY_KIND, MORE_FIXED_WIDTH, EVERY_KIND.slice(1, 3), MORE_FIXED_WIDTH.slice(2)],
                         ids=["every-kind", "more-fixed-width", "every-kind-slice", "more-fixed-width-slice"])
def test_version_2_of_the_row_hash_is_as_specified_for_every_kind_of_column(batch):
    assert row_hashes(batch, 2).to_pylist() == reference_row_hashes_v2(batch)
    assert row_hashes(batch, 1).to_pylist() == reference_row_hashes(batch)


def test_version_2_never_confuses_null_with_zero_or_one_column_with_the_next():
    batch = pa.record_batch({
        "a": pa.array([None, 0, 0, 1, None, 0], pa.int64()),
        "b": pa.array([0, None, 0, None, 1, 0], pa.int32()),
        "text": pa.array(["", "", None, "", "", "\x00"]),
        "c": pa.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0])})
    values = row_hashes(batch, 2).to_pylist()
    assert len(set(values)) == len(values)


def test_version_2_hashes_an_instant_whatever_its_zone_and_a_value_whatever_its_integer_width():
    micros = [0, 1_700_000_000_123_456, None]
    zones = [pa.record_batch({"at": pa.array(micros, pa.timestamp("us", tz=zone))})
             for zone in ("UTC", "+00:00", "Europe/Paris")]
    assert row_hashes(zones[0], 2) == row_hashes(zones[1], 2) == row_hashes(zones[2], 2)
    widths = [pa.record_batch({"n": pa.array([1, -5, None], t)}) for t in (pa.int8(), pa.int32(), pa.int64())]
    assert row_hashes(widths[0], 2) == row_hashes(widths[1], 2) == row_hashes(widths[2], 2)


def test_a_version_2_row_hash_says_so_on_its_field():
    [v2] = meta_fields(MetaColumns(row_hash=True, row_hash_version=2))
    [v1] = meta_fields(MetaColumns(row_hash=True))
    assert v2.metadata == {ROW_HASH_VERSION_KEY: b"2"} and v1.metadata is None
    batch = pa.record_batch([pa.array(["x", None]), pa.array(["y", "z"])], schema=SCHEMA)
    schema = pa.schema(list(SCHEMA) + [v2])
    out = with_meta_columns(batch, schema, MetaColumns(row_hash=True, row_hash_version=2), dt.datetime.now(), "r")
    assert out.schema.field("_rivet_row_hash").metadata == {ROW_HASH_VERSION_KEY: b"2"}
    assert out.column(2).to_pylist() == reference_row_hashes_v2(batch)


ID_COLUMN = {"postgres": "id int8 PRIMARY KEY", "mysql": "id bigint PRIMARY KEY", "sqlite": "id INTEGER PRIMARY KEY"}


MODE_KEYS = {"full": {}, "incremental": {"mode": "incremental", "cursor_column": "id"},
             "chunked": {"mode": "chunked", "chunk_column": "id", "chunk_size": 2, "parallel": 2}}


@pytest.mark.parametrize("mode", list(MODE_KEYS))
@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("engine", ["postgres", "mysql", "sqlite"])
def test_each_exported_row_carries_the_hash_its_values_recompute_to(engine, version, mode, request, tmp_path):
    """One config exporting an engine's every-type table twice, to Parquet and to CSV, in each mode through the
    command that runs it (`rivet-dagster run` for a chunked one, every chunk; `dagster asset materialize` for the
    others): each Parquet row's hash is the specified one over the values the files hold, the field says which
    version made it, and each CSV row carries the same hash as its Parquet twin."""
    table, name = TABLES[engine], f"hashed_{engine}_v{version}_{mode}"
    if engine == "sqlite":
        source = {"type": "sqlite", "database": str(tmp_path / "every.db")}

        def sql(*statements):
            with sqlite3.connect(source["database"]) as db:
                for statement in statements:
                    db.execute(statement)
    else:
        url = request.getfixturevalue("pg_url" if engine == "postgres" else "mariadb_url")
        source = {"type": engine, "url": url}

        def sql(*statements):
            run_sql(url, *statements)
    sql(*table.setup, f"DROP TABLE IF EXISTS {name}", f"CREATE TABLE {name} ({ID_COLUMN[engine]}, {table.columns})")
    sql(*table.insert_session, f"INSERT INTO {name} VALUES " + ", ".join(f"({i + 1}, {values})"
                                                                          for i, values in enumerate(table.rows)))
    query = f"SELECT id, {', '.join(table.names(csv=True))} FROM {name}"
    meta = {"row_hash": True} if version == 1 else {"row_hash": True, "row_hash_version": 2}
    out = tmp_path / "out"
    config = write_config(tmp_path, source, [
        {"name": f"{name}_{fmt}", "query": query, "format": fmt, "meta_columns": meta, **MODE_KEYS[mode],
         "destination": {"type": "local", "path": str(out)}} for fmt in ("parquet", "csv")])

    home = tmp_path / "home"
    result = run_cli(config, home) if mode == "chunked" else materialize_cli(config, home, "*")
    assert result.returncode == 0, result.stderr[-3000:]

    parquets = sorted(out.glob("*.parquet"))
    assert len(parquets) == (math.ceil(len(table.rows) / 2) if mode == "chunked" else 1)  # a chunk per two rows
    exported = pa.concat_tables(pq.read_table(parquet) for parquet in parquets)
    field = exported.schema.field(ROW_HASH)
    assert field.metadata == (None if version == 1 else {ROW_HASH_VERSION_KEY: b"2"})
    values = exported.drop_columns([ROW_HASH])
    reference = reference_row_hashes if version == 1 else reference_row_hashes_v2
    assert exported[ROW_HASH].to_pylist() == [h for batch in values.to_batches() for h in reference(batch)]
    assert len(set(exported[ROW_HASH].to_pylist())) == len(table.rows)
    from_csv = pa.concat_tables(
        pacsv.read_csv(csv, convert_options=pacsv.ConvertOptions(include_columns=["id", ROW_HASH],
                                                                 column_types={"id": pa.int64()}))
        for csv in sorted(out.glob("*.csv")))
    assert sorted(zip(from_csv["id"].to_pylist(), from_csv[ROW_HASH].to_pylist())) == \
        sorted(zip(exported["id"].to_pylist(), exported[ROW_HASH].to_pylist()))


def test_the_row_hash_benchmark_agrees_with_the_reference():
    """The README's `python benchmarks/bench_row_hash.py`, on few rows (it asserts equal values itself, for both
    versions)."""
    bench = Path(__file__).parents[2] / "benchmarks" / "bench_row_hash.py"
    result = subprocess.run([sys.executable, str(bench), "--rows", "2000"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert all(f"version {v}: 2,000 rows x 20 columns: vectorised" in result.stdout for v in (1, 2)), result.stdout
