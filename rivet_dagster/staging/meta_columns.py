"""Meta columns appended after the data: `_rivet_exported_at`, `_rivet_row_hash`, `_rivet_run_id`.

`_rivet_run_id` is the Dagster run id: the crash matrix tells consumers to dedup on primary key + run id.
`_rivet_row_hash` is xxh3-64 (as a signed int64) over an injective encoding of the row: per value a
NULL marker, or a presence marker + 8-byte length + the value's canonical text/bytes, so no two different
rows share an encoding ("a","bc" vs "ab","c"; NULL vs ""). The encoding of a whole batch is laid out
column by column with numpy over Arrow's buffers; only the xxh3 call is made per row.
"""
from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from rivet_dagster.config.sections import MetaColumns

EXPORTED_AT, ROW_HASH, RUN_ID = "_rivet_exported_at", "_rivet_row_hash", "_rivet_run_id"


def meta_fields(meta: MetaColumns) -> list[pa.Field]:
    fields = []
    if meta.exported_at:
        fields.append(pa.field(EXPORTED_AT, pa.timestamp("us", tz="UTC"), nullable=False))
    if meta.row_hash:
        fields.append(pa.field(ROW_HASH, pa.int64(), nullable=False))
    if meta.run_id:
        fields.append(pa.field(RUN_ID, pa.string(), nullable=False))
    return fields


def with_meta_columns(batch: pa.RecordBatch, schema: pa.Schema, meta: MetaColumns, exported_at: datetime,
                      run_id: str) -> pa.RecordBatch:
    """`batch` plus the enabled meta columns, as `schema` (the data schema + `meta_fields`)."""
    if not (meta.exported_at or meta.row_hash or meta.run_id):
        return batch
    n = batch.num_rows
    arrays = list(batch.columns)
    if meta.row_hash:
        hashes = row_hashes(batch)
    if meta.exported_at:
        micros = int(exported_at.timestamp() * 1_000_000)
        arrays.append(pa.array(np.full(n, micros, dtype=np.int64)).view(pa.timestamp("us", tz="UTC")))
    if meta.row_hash:
        arrays.append(hashes)
    if meta.run_id:
        arrays.append(pa.array([run_id], pa.string()).take(np.zeros(n, dtype=np.int32)))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def row_hashes(batch: pa.RecordBatch) -> pa.Array:
    n = batch.num_rows
    encoded = [part for column in batch.columns for part in _encoded(column)]
    # a NULL value joins as nothing: its marker alone stands for it
    rows = pc.binary_join_element_wise(*encoded, pa.scalar(b"", pa.large_binary()), null_handling="replace",
                                       null_replacement="") if encoded else pa.array([b""] * n, pa.large_binary())
    offsets = _offsets(rows).tolist()
    data_buffer = rows.buffers()[2]
    data = memoryview(data_buffer) if data_buffer is not None else memoryview(b"")
    out = np.fromiter((xxhash.xxh3_64_intdigest(data[offsets[i]:offsets[i + 1]]) for i in range(n)),
                      dtype=np.uint64, count=n)
    return pa.array(out.view(np.int64))


def _encoded(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """A column's encoding as two arrays to join row by row: each value's marker and length (`\\x00` for NULL,
    `\\x01` + 8-byte little-endian length otherwise), and its canonical bytes (NULL for NULL). Laid out as one
    9-byte block per row, from which a NULL keeps only its first byte: whole-array numpy, no per-value index."""
    canonical = _canonical(values)
    n = len(canonical)
    block = np.empty((n, 9), dtype=np.uint8)
    block[:, 0] = 1
    block[:, 1:] = np.diff(_offsets(canonical)).astype("<u8").view(np.uint8).reshape(n, 8)
    if canonical.null_count == 0:
        offsets, data = np.arange(0, 9 * n + 1, 9, dtype=np.int64), block
    else:
        valid = canonical.is_valid().to_numpy(zero_copy_only=False)
        block[~valid, 0] = 0
        kept = np.ones((n, 9), dtype=bool)
        kept[~valid, 1:] = False
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.where(valid, 9, 1), out=offsets[1:])
        data = block[kept]
    markers = pa.LargeBinaryArray.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(offsets),
                                                                        pa.py_buffer(data)])
    return markers, canonical


def _offsets(values: pa.Array) -> np.ndarray:
    """A large binary array's n + 1 offsets, read in place."""
    return np.frombuffer(values.buffers()[1], dtype=np.int64)[values.offset: values.offset + len(values) + 1]


def _canonical(values: pa.Array) -> pa.Array:
    """Each value as bytes: binary as is, nested values as Python's repr, everything else as its UTF-8 text form
    (Arrow's cast to string)."""
    t = values.type
    if pa.types.is_nested(t):
        return pa.array([None if v is None else repr(v).encode() for v in values.to_pylist()], pa.large_binary())
    if pa.types.is_timestamp(t) and t.tz == "UTC":  # Arrow's text with the `Z`, without a time-zone lookup per value
        values = pc.binary_join_element_wise(values.cast(pa.timestamp(t.unit)).cast(pa.string()), "Z", "")
    elif not (pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)):
        values = values.cast(pa.string())
    return values.cast(pa.large_binary())
