"""Tuning: profile defaults, the field-by-field merge, and batch sizing from memory."""
import pyarrow as pa

from rivet_dagster.config.tuning import PROFILES, estimated_row_bytes, merge_tuning


def test_the_export_overrides_the_source_field_by_field_over_the_profile():
    tuning = merge_tuning({"profile": "safe", "throttle_ms": 7, "max_retries": 9}, {"max_retries": 2})
    assert (tuning.profile, tuning.throttle_ms, tuning.max_retries, tuning.statement_timeout_s) == ("safe", 7, 2, 120)
    assert tuning.rows_per_batch(None) == PROFILES["safe"]["batch_size"]
    assert merge_tuning(None, None).profile_label == "balanced (default)"
    assert merge_tuning(None, {"profile": "fast"}).profile_label == "fast"


def test_batch_size_memory_mb_derives_rows_from_the_schema_within_rivets_bounds():
    narrow = pa.schema([("id", pa.int64()), ("amount", pa.decimal128(12, 2)), ("status", pa.string())])
    assert estimated_row_bytes(narrow) == (8 + 1) + (16 + 1) + (256 + 1)
    assert merge_tuning(None, {"batch_size_memory_mb": 8}).rows_per_batch(narrow) == (8 << 20) // 283
    assert merge_tuning(None, {"batch_size_memory_mb": 1}).rows_per_batch(
        pa.schema([(f"c{i}", pa.string()) for i in range(100)])) == 1_000          # clamped up
    assert merge_tuning(None, {"batch_size_memory_mb": 4096}).rows_per_batch(
        pa.schema([("flag", pa.bool_())])) == 500_000                               # clamped down
