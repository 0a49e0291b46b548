"""Exact uniqueness of a column in bounded memory: values are spilled to disk in 64 hash buckets while the
export streams, then each bucket is checked on its own, so memory is about the column's size / 64, never
every value of a huge column at once. The hash only spreads values over buckets; the check itself compares
the values."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BUCKETS = 64
_SLICE = 65_536  # values hashed at a time: bounds the hashing's temporary arrays


class UniquenessSpill:
    def __init__(self, column: str, directory: Path):
        self.column = column
        self.paths = [directory / f"unique_{column}_{i:02d}.arrows" for i in range(BUCKETS)]
        directory.mkdir(parents=True, exist_ok=True)
        self._writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}

    def add(self, values: pa.Array) -> None:
        values = pc.drop_null(values)  # SQL UNIQUE: NULLs never collide
        if len(values) == 0:
            return
        buckets = bucket_of(values)
        order = np.argsort(buckets, kind="stable")
        counts = np.bincount(buckets, minlength=BUCKETS)
        ordered = values.take(pa.array(order))
        start = 0
        for bucket, count in enumerate(counts):
            if count:
                self._writer(bucket, values.type).write_batch(
                    pa.record_batch([ordered.slice(start, count)], names=["v"]))
                start += count

    def duplicates(self) -> tuple[int, object]:
        """(values that occur more than once, one of them) over everything added."""
        for writer in self._writers.values():
            writer.close()
        duplicated, example = 0, None
        for bucket in sorted(self._writers):
            with pa.ipc.open_stream(self.paths[bucket]) as reader:
                values = reader.read_all().column("v").combine_chunks()
            counts = pc.value_counts(values)
            repeated = counts.filter(pc.greater(counts.field("counts"), 1))
            if len(repeated):
                duplicated += len(repeated)
                example = example if example is not None else repeated.field("values")[0].as_py()
            self.paths[bucket].unlink(missing_ok=True)
        return duplicated, example

    def _writer(self, bucket: int, value_type: pa.DataType) -> pa.ipc.RecordBatchStreamWriter:
        if bucket not in self._writers:
            self._writers[bucket] = pa.ipc.new_stream(self.paths[bucket], pa.schema([("v", value_type)]))
        return self._writers[bucket]


def bucket_of(values: pa.Array) -> np.ndarray:
    """A bucket per value from a hash of its bytes (text form for non-text types)."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
            or pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type)):
        values = pc.cast(values, pa.string())
    values = pc.cast(values, pa.large_binary())
    return np.concatenate([_bucket_slice(values.slice(i, _SLICE)) for i in range(0, len(values), _SLICE)])


def _bucket_slice(values: pa.Array) -> np.ndarray:
    _, offsets_buffer, data_buffer = values.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[values.offset: values.offset + len(values) + 1]
    lengths = np.diff(offsets)
    data = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0]:offsets[-1]] if data_buffer else \
        np.zeros(0, np.uint8)
    starts = offsets[:-1] - offsets[0]
    position = np.arange(len(data), dtype=np.uint32) - np.repeat(starts.astype(np.uint32), lengths)
    with np.errstate(over="ignore"):
        mixed = (data.astype(np.uint32) + np.uint32(1)) * (position * np.uint32(0x9E3779B1) + np.uint32(0x85EBCA77))
        hashed = np.zeros(len(values), dtype=np.uint32)
        present = lengths > 0
        if present.any():
            hashed[present] = np.add.reduceat(mixed, starts[present])
        hashed ^= lengths.astype(np.uint32) * np.uint32(0xC2B2AE3D)
        hashed ^= hashed >> np.uint32(15)
        hashed *= np.uint32(0x2C1B3C6D)
        hashed ^= hashed >> np.uint32(13)
    return (hashed % BUCKETS).astype(np.intp)
