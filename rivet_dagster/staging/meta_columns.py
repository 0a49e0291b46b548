"""Meta columns appended after the data: `_rivet_exported_at`, `_rivet_row_hash`, `_rivet_run_id`.

`_rivet_run_id` is the Dagster run id: the crash matrix tells consumers to dedup on primary key + run id.
`_rivet_row_hash` is xxh3-64 (as a signed int64) over an injective encoding of the row, so no two different
rows of a schema share an encoding ("a","bc" vs "ab","c"; NULL vs ""). Version 1 (the default) encodes each
value as a NULL marker, or a presence marker + 8-byte length + the value's canonical text/bytes. Version 2
(`row_hash_version: 2`) encodes a value of a fixed-width type (booleans, integers, floats, decimals, dates,
times, timestamps, durations) as a marker + its little-endian bytes instead of its text, three to four times less
work (`benchmarks/bench_row_hash.py`); every other value as version 1 does. The encoding of a whole batch is
laid out column by column with numpy over Arrow's buffers; only the xxh3 call is made per row (mapped
over the encodings as bytes, with no Python code between calls).
"""
from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from rivet_dagster.config.sections import MetaColumns

EXPORTED_AT, ROW_HASH, RUN_ID = "_rivet_exported_at", "_rivet_row_hash", "_rivet_run_id"
# Written on a version 2 row hash's field, so a file says how its hashes were made (version 1 files have none)
ROW_HASH_VERSION_KEY = b"rivet.row_hash_version"
HASHED_AT_ONCE = 16_384  # rows whose encodings are made Python bytes at once, however many rows a batch has


def meta_fields(meta: MetaColumns) -> list[pa.Field]:
    fields = []
    if meta.exported_at:
        fields.append(pa.field(EXPORTED_AT, pa.timestamp("us", tz="UTC"), nullable=False))
    if meta.row_hash:
        fields.append(pa.field(ROW_HASH, pa.int64(), nullable=False, metadata=None if meta.row_hash_version == 1
                               else {ROW_HASH_VERSION_KEY: str(meta.row_hash_version).encode()}))
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
        hashes = row_hashes(batch, meta.row_hash_version)
    if meta.exported_at:
        micros = int(exported_at.timestamp() * 1_000_000)
        arrays.append(pa.array(np.full(n, micros, dtype=np.int64)).view(pa.timestamp("us", tz="UTC")))
    if meta.row_hash:
        arrays.append(hashes)
    if meta.run_id:
        arrays.append(pa.array([run_id], pa.string()).take(np.zeros(n, dtype=np.int32)))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def row_hashes(batch: pa.RecordBatch, version: int = 1) -> pa.Array:
    n = batch.num_rows
    encoded = _encoded_v2(batch) if version == 2 else [part for column in batch.columns for part in _encoded(column)]
    # a NULL value joins as nothing: its marker alone stands for it
    rows = pc.binary_join_element_wise(*encoded, pa.scalar(b"", pa.large_binary()), null_handling="replace",
                                       null_replacement="") if encoded else pa.array([b""] * n, pa.large_binary())
    out = np.empty(n, dtype=np.uint64)
    for start in range(0, n, HASHED_AT_ONCE):  # the rows as Python bytes, a slice at a time, mapped by xxh3's C call
        encodings = rows.slice(start, HASHED_AT_ONCE).to_pylist()
        out[start:start + len(encodings)] = np.fromiter(map(xxhash.xxh3_64_intdigest, encodings), dtype=np.uint64,
                                                        count=len(encodings))
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


def _encoded_v2(batch: pa.RecordBatch) -> list[pa.Array]:
    """Version 2's arrays to join row by row: each run of fixed-width columns as one block of fixed size per row
    (a column's marker, `\\x00` for NULL and `\\x01` otherwise, then its bytes, zeros for NULL), any other
    column as version 1's two arrays."""
    parts, run = [], []
    for column in batch.columns:
        fixed = _fixed_width(column)
        if fixed is not None:
            run.append(fixed)
            continue
        if run:
            parts.append(_fixed_block(run, batch.num_rows))
            run = []
        parts.extend(_encoded(column))
    if run:
        parts.append(_fixed_block(run, batch.num_rows))
    return parts


def _fixed_width(values: pa.Array) -> tuple[np.ndarray, np.ndarray | None] | None:
    """A fixed-width column as version 2's bytes (README, "Meta columns"): one row of 8 little-endian bytes per
    value (16 for a decimal), zeros for NULL, and its validity (None: no NULLs); None for a column version 2
    encodes as version 1 does (an unsigned 64-bit integer may not fit an int64; decimal256 does not fit)."""
    t = values.type
    if pa.types.is_boolean(t) or (pa.types.is_integer(t) and t != pa.uint64()):
        values, width = values.cast(pa.int64()), 8
    elif pa.types.is_floating(t):
        values, width = values.cast(pa.float64()), 8
    elif pa.types.is_decimal(t) and t.precision <= 38:
        values, width = values.cast(pa.decimal128(38, t.scale)), 16
    elif pa.types.is_date(t) or pa.types.is_time32(t):  # Arrow casts these to int32 only
        counts = values.cast(pa.date32()) if pa.types.is_date(t) else values
        values, width = counts.cast(pa.int32()).cast(pa.int64()), 8
    elif pa.types.is_timestamp(t) or pa.types.is_time64(t) or pa.types.is_duration(t):
        values, width = values.cast(pa.int64()), 8
    else:
        return None
    valid = values.is_valid().to_numpy(zero_copy_only=False) if values.null_count else None
    if valid is not None:
        values = values.fill_null(pa.scalar(0).cast(values.type))
    start = values.offset * width
    data = np.frombuffer(values.buffers()[1], dtype=np.uint8)[start:start + len(values) * width]
    return data.reshape(len(values), width), valid


def _fixed_block(run: list[tuple[np.ndarray, np.ndarray | None]], n: int) -> pa.Array:
    """Consecutive fixed-width columns as one value per row: each column's marker, then its bytes."""
    width = sum(1 + data.shape[1] for data, _ in run)
    block = np.empty((n, width), dtype=np.uint8)
    at = 0
    for data, valid in run:
        block[:, at] = 1 if valid is None else valid
        block[:, at + 1:at + 1 + data.shape[1]] = data
        at += 1 + data.shape[1]
    offsets = np.arange(0, width * n + 1, width, dtype=np.int64)
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(block)])


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
