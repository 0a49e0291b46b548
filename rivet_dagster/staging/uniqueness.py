"""Exact uniqueness of a column in bounded memory: values are spilled to disk in 64 hash buckets while the
export streams, then each bucket is checked on its own. A bucket bigger than `BUCKET_BYTES` on disk is split
again, batch by batch, by the next six bits of the same hash, so what is held at once stays about
`BUCKET_BYTES` whatever the column's size. The hash only spreads values over buckets; the check itself
compares the values."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BUCKETS = 64                 # 6 bits of the hash per level
LEVELS = 5                   # 30 of its 32 bits: 64^5 buckets at most
BUCKET_BYTES = 64 << 20      # a bucket file above this is split again before it is read
_SLICE = 65_536              # values hashed at a time: bounds the hashing's temporary arrays


class UniquenessSpill:
    def __init__(self, column: str, directory: Path):
        self.column = column
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._buckets = _BucketFiles(directory / f"unique_{column}", level=0)

    def add(self, values: pa.Array) -> None:
        self._buckets.add(pc.drop_null(values))  # SQL UNIQUE: NULLs never collide

    def duplicates(self) -> tuple[int, object]:
        """(values that occur more than once, one of them) over everything added; the spill is removed."""
        return self._buckets.duplicates()

    @property
    def paths(self) -> list[Path]:
        return list(self.directory.glob(f"unique_{self.column}*.arrows"))


class _BucketFiles:
    """The values of one hash level, one Arrow stream file per bucket."""

    def __init__(self, prefix: Path, level: int):
        self.prefix, self.level = prefix, level
        self._writers: dict[int, tuple[Path, pa.ipc.RecordBatchStreamWriter]] = {}

    def add(self, values: pa.Array) -> None:
        if len(values) == 0:
            return
        buckets = bucket_of(values, self.level)
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
        for _, writer in self._writers.values():
            writer.close()
        duplicated, example = 0, None
        for bucket in sorted(self._writers):
            path = self._writers[bucket][0]
            if path.stat().st_size > BUCKET_BYTES and self.level + 1 < LEVELS:
                found, one = self._split(path, bucket).duplicates()
            else:
                found, one = _count_repeated(path)
            path.unlink(missing_ok=True)
            duplicated += found
            example = one if example is None else example
        return duplicated, example

    def _split(self, path: Path, bucket: int) -> _BucketFiles:
        """The bucket's values spread over the next level's buckets, one batch in memory at a time."""
        deeper = _BucketFiles(Path(f"{self.prefix}_{bucket:02d}"), self.level + 1)
        with pa.ipc.open_stream(path) as reader:
            for batch in reader:
                deeper.add(batch.column(0))
        return deeper

    def _writer(self, bucket: int, value_type: pa.DataType) -> pa.ipc.RecordBatchStreamWriter:
        if bucket not in self._writers:
            path = Path(f"{self.prefix}_{bucket:02d}.arrows")
            self._writers[bucket] = path, pa.ipc.new_stream(path, pa.schema([("v", value_type)]))
        return self._writers[bucket][1]


def _count_repeated(path: Path) -> tuple[int, object]:
    with pa.ipc.open_stream(path) as reader:
        values = reader.read_all().column("v").combine_chunks()
    counts = pc.value_counts(values)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1))
    return len(repeated), (repeated.field("values")[0].as_py() if len(repeated) else None)


def bucket_of(values: pa.Array, level: int = 0) -> np.ndarray:
    """A bucket per value from a hash of its bytes (text form for non-text types); each level takes the next
    six bits of the hash."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
            or pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type)):
        values = pc.cast(values, pa.string())
    values = pc.cast(values, pa.large_binary())
    hashed = np.concatenate([_hash_slice(values.slice(i, _SLICE)) for i in range(0, len(values), _SLICE)])
    return ((hashed >> np.uint32(6 * level)) % BUCKETS).astype(np.intp)


def _hash_slice(values: pa.Array) -> np.ndarray:
    _, offsets_buffer, data_buffer = values.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[values.offset: values.offset + len(values) + 1]
    lengths = np.diff(offsets)
    data = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0]:offsets[-1]] if data_buffer else \
        np.zeros(0, np.uint8)
    starts = offsets[:-1] - offsets[0]
    position = np.arange(len(data), dtype=np.uint32) - np.repeat(starts.astype(np.uint32), lengths)
    with np.errstate(over="ignore"):
        # a polynomial hash of the bytes (sum of byte * K^position, mod 2^32), then MurmurHash3's finalizer
        powers = np.cumprod(np.full(int(lengths.max(initial=0)) + 1, 0x01000193, dtype=np.uint32), dtype=np.uint32)
        mixed = (data.astype(np.uint32) + np.uint32(1)) * powers[position]
        hashed = np.zeros(len(values), dtype=np.uint32)
        present = lengths > 0
        if present.any():
            hashed[present] = np.add.reduceat(mixed, starts[present])
        hashed ^= lengths.astype(np.uint32) * np.uint32(0xC2B2AE3D)
        hashed ^= hashed >> np.uint32(16)      # MurmurHash3's finalizer: every bit depends on every input bit,
        hashed *= np.uint32(0x85EBCA6B)        # so each level's six bits split a bucket evenly
        hashed ^= hashed >> np.uint32(13)
        hashed *= np.uint32(0xC2B2AE35)
        hashed ^= hashed >> np.uint32(16)
    return hashed
