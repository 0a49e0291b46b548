"""Meta columns appended after the data: `_rivet_exported_at`, `_rivet_row_hash`, `_rivet_run_id`.

`_rivet_run_id` is the Dagster run id: the crash matrix tells consumers to dedup on primary key + run id.
`_rivet_row_hash` is xxh3-64 (as a signed int64) over an injective encoding of the row: per value a
NULL marker, or a presence marker + 8-byte length + the value's canonical text/bytes, so no two different
rows share an encoding ("a","bc" vs "ab","c"; NULL vs ""). It is computed per row in Python: opt-in cost.
"""
from __future__ import annotations

import struct
from datetime import datetime

import numpy as np
import pyarrow as pa
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
    columns = [_canonical(batch.column(i)) for i in range(batch.num_columns)]
    out = np.empty(batch.num_rows, dtype=np.uint64)
    pack = struct.Struct("<Q").pack
    for row in range(batch.num_rows):
        parts = []
        for values in columns:
            v = values[row]
            parts.append(b"\x00" if v is None else b"\x01" + pack(len(v)) + v)
        out[row] = xxhash.xxh3_64_intdigest(b"".join(parts))
    return pa.array(out.view(np.int64))


def _canonical(values: pa.Array) -> list[bytes | None]:
    """Each value as bytes: binary as is, everything else as its UTF-8 text form (Arrow's cast to string)."""
    t = values.type
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return values.to_pylist()
    if pa.types.is_nested(t):
        return [None if v is None else repr(v).encode() for v in values.to_pylist()]
    return [None if v is None else v.encode() for v in values.cast(pa.string()).to_pylist()]
