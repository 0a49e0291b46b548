"""Meta columns: exported_at, an unambiguous row hash, and the Dagster run id."""
import datetime as dt

import pyarrow as pa

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
