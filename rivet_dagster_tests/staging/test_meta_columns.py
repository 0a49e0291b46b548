"""Meta columns: exported_at, an unambiguous row hash, and the Dagster run id."""
import datetime as dt
import decimal
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import xxhash

from rivet_dagster.config.sections import MetaColumns
from rivet_dagster.staging.meta_columns import meta_fields, row_hashes, with_meta_columns

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
    def canonical(values: pa.Array) -> list[bytes | None]:
        t = values.type
        if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
            return values.to_pylist()
        if pa.types.is_nested(t):
            return [None if v is None else repr(v).encode() for v in values.to_pylist()]
        return [None if v is None else v.encode() for v in values.cast(pa.string()).to_pylist()]

    columns = [canonical(column) for column in batch.columns]
    out = []
    for row in range(batch.num_rows):
        encoded = b"".join(b"\x00" if c[row] is None else b"\x01" + struct.pack("<Q", len(c[row])) + c[row]
                           for c in columns)
        out.append(int(np.uint64(xxhash.xxh3_64_intdigest(encoded)).view(np.int64)))
    return out


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


def test_the_row_hash_benchmark_agrees_with_the_reference():
    """The README's `python benchmarks/bench_row_hash.py`, on few rows (it asserts equal values itself)."""
    bench = Path(__file__).parents[2] / "benchmarks" / "bench_row_hash.py"
    result = subprocess.run([sys.executable, str(bench), "--rows", "2000"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "2,000 rows x 20 columns: vectorised" in result.stdout
