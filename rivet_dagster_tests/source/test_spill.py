"""The disk spill gives batches back in the order they were put, across segments, and deletes each segment once
it has been read back, so the disk holds the backlog, not the whole read."""
import pyarrow as pa

from rivet_dagster.source import spill as spill_module
from rivet_dagster.source.spill import Spill


def batch(first: int, schema: pa.Schema | None = None) -> pa.RecordBatch:
    ids = pa.array(range(first, first + 1000), pa.int64())
    text = pa.array([f"row {i}" for i in range(first, first + 1000)])
    return pa.record_batch([ids, text], schema=schema or pa.schema([("id", pa.int64()), ("label", pa.string())]))


def test_batches_come_back_in_order_and_each_read_segment_is_deleted(tmp_path, monkeypatch):
    monkeypatch.setattr(spill_module, "SEGMENT_BYTES", 30_000)  # a few batches per segment
    spill = Spill(tmp_path)
    put = [batch(i * 1000) for i in range(10)]
    segments = [spill.put(b) for b in put]
    assert len(set(segments)) > 2 and segments == sorted(segments)
    back = []
    for b, segment in zip(put, segments):
        back.append(spill.get(segment))
        assert len(list(tmp_path.glob(".spill-*"))) == segments[-1] - segment + 1  # the ones not read back yet
    assert all(a.equals(b) for a, b in zip(put, back))
    spill.close()
    assert list(tmp_path.glob("*")) == []


def test_a_batch_of_another_schema_starts_a_new_segment(tmp_path):
    spill = Spill(tmp_path)
    other = pa.schema([("id", pa.int64()), ("label", pa.large_string())])
    first, second = batch(0), batch(1000, other)
    segments = spill.put(first), spill.put(second)
    assert segments[0] != segments[1]
    assert spill.get(segments[0]).equals(first) and spill.get(segments[1]).equals(second)
    spill.close()
    assert list(tmp_path.glob("*")) == []
