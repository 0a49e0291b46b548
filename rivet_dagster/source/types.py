"""Declared database types -> exact Arrow types, and casting reader output to them.

The fast readers have quirks (ADBC returns PostgreSQL numeric as text and uuid/json as extension types;
connectorx cannot hold MySQL decimals wider than decimal(38,10)), so each column gets
  * its exact Arrow type, from the database's own description of the query's result, and
  * optionally a SQL expression that makes the reader return it losslessly (e.g. decimal as text),
and `conform` casts every batch to the declared schema. A type without an exact mapping is an error
naming the column, never a silent NULL or a lossy cast.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rivet_dagster.config.errors import ConfigError
from rivet_dagster.source.errors import SourceError, UnexportableValue


class UnsupportedTypeError(SourceError):
    """A column type with no exact Parquet/CSV mapping."""


@dataclass(frozen=True)
class SourceColumn:
    name: str
    db_type: str
    arrow_type: pa.DataType
    read_as: str | None = None  # SQL template over "{col}" for the streaming read, when the raw type is lossy

    @property
    def field(self) -> pa.Field:
        return pa.field(self.name, self.arrow_type, nullable=True, metadata={"db_type": self.db_type})


def schema_of(columns: list[SourceColumn]) -> pa.Schema:
    return pa.schema([c.field for c in columns])


def query_column(columns: list[SourceColumn] | None, name: str, export_name: str, key: str) -> SourceColumn | None:
    """The query's column that an export key (cursor_column, chunk_column, time_column) names; None when the
    engine describes no types (SQLite)."""
    if columns is None:
        return None
    for column in columns:
        if column.name == name:
            return column
    raise ConfigError(f"export '{export_name}': {key} '{name}' is not a column of the query "
                     f"(columns: {', '.join(c.name for c in columns)})")


def bind_type(column: SourceColumn | None) -> str | None:
    """The type a bound value is read back as on PostgreSQL: the column's own."""
    return column.db_type.split(" ")[0] if column is not None else None


def unsupported(name: str, db_type: str, hint: str) -> UnsupportedTypeError:
    return UnsupportedTypeError(f"column '{name}' has type {db_type}, which has no exact Parquet/CSV mapping; "
                                f"cast it in the query (for example {hint})")


def decimal_type(precision: int, scale: int) -> pa.DataType:
    return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)


# --------------------------------------------------------------------------------------------- PostgreSQL
PG_TYPES = {
    "bool": pa.bool_(), "int2": pa.int16(), "int4": pa.int32(), "int8": pa.int64(), "oid": pa.int64(),
    "float4": pa.float32(), "float8": pa.float64(),
    "text": pa.string(), "varchar": pa.string(), "bpchar": pa.string(), "name": pa.string(),
    "citext": pa.string(), "json": pa.string(), "jsonb": pa.string(), "uuid": pa.string(), "xml": pa.string(),
    "bytea": pa.binary(), "date": pa.date32(), "time": pa.time64("us"),
    "timestamp": pa.timestamp("us"), "timestamptz": pa.timestamp("us", tz="UTC"),
}


def postgres_type(name: str, typname: str, typtype: str, precision: int | None, scale: int | None,
                  element: str | None = None) -> tuple[str, pa.DataType]:
    """(db type for humans, Arrow type). Unconstrained numeric is kept as exact decimal text (lossless)."""
    if element is not None:
        db_type, inner = postgres_type(name, element, "b", None, None)
        if pa.types.is_decimal(inner):
            inner = pa.string()
        return f"{db_type}[]", pa.list_(inner)
    if typtype == "e":
        return f"{typname} (enum)", pa.string()
    if typname == "numeric":
        if precision is None or precision <= 0:
            return "numeric", pa.string()
        return f"numeric({precision},{scale or 0})", decimal_type(precision, scale or 0)
    if typname in PG_TYPES:
        return typname, PG_TYPES[typname]
    raise unsupported(name, typname, f"{name}::text")


# ------------------------------------------------------------------------------------------ MySQL / MariaDB
# pymysql FIELD_TYPE codes
_INTS = {1: (pa.int8(), pa.uint8(), "tinyint"), 2: (pa.int16(), pa.uint16(), "smallint"),
         9: (pa.int32(), pa.uint32(), "mediumint"), 3: (pa.int32(), pa.uint32(), "int"),
         8: (pa.int64(), pa.uint64(), "bigint")}
_UNSIGNED, _BINARY_CHARSET = 32, 63


def mysql_column(name: str, type_code: int, flags: int, charset: int, length: int, scale: int) -> SourceColumn:
    unsigned = bool(flags & _UNSIGNED)
    if type_code in _INTS:
        signed_t, unsigned_t, db = _INTS[type_code]
        return SourceColumn(name, db + (" unsigned" if unsigned else ""), unsigned_t if unsigned else signed_t)
    if type_code == 13:
        return SourceColumn(name, "year", pa.int16())
    if type_code == 4:
        return SourceColumn(name, "float", pa.float32())
    if type_code == 5:
        return SourceColumn(name, "double", pa.float64())
    if type_code in (0, 246):
        precision = length - (1 if scale else 0) - (0 if unsigned else 1)
        return SourceColumn(name, f"decimal({precision},{scale})", decimal_type(precision, scale),
                            read_as="CAST({col} AS CHAR)")
    if type_code in (10, 14):
        return SourceColumn(name, "date", pa.date32())
    if type_code == 11:
        # TIME also holds durations up to 838:59:59; read microseconds and accept only times of day.
        return SourceColumn(name, "time", pa.time64("us"),
                            read_as="CAST(FLOOR(TIME_TO_SEC({col})) AS SIGNED) * 1000000 + MICROSECOND({col})")
    if type_code == 12:
        return SourceColumn(name, "datetime", pa.timestamp("us"))
    if type_code == 7:
        # TIMESTAMP is an instant rendered in the session time zone: read it as epoch microseconds instead.
        return SourceColumn(name, "timestamp", pa.timestamp("us", tz="UTC"),
                            read_as="CAST(UNIX_TIMESTAMP({col}) * 1000000 AS SIGNED)")
    if type_code == 16:
        if length == 1:
            return SourceColumn(name, "bit(1)", pa.bool_(), read_as="CAST({col} AS UNSIGNED)")
        return SourceColumn(name, f"bit({length})", pa.uint64(), read_as="CAST({col} AS UNSIGNED)")
    if type_code == 245:
        return SourceColumn(name, "json", pa.string())
    if type_code in (15, 247, 248, 249, 250, 251, 252, 253, 254):
        binary = charset == _BINARY_CHARSET
        kind = {247: "enum", 248: "set"}.get(type_code) or ("blob" if type_code >= 249 and type_code <= 252
                                                              else "char")
        return SourceColumn(name, ("binary " if binary else "") + kind, pa.binary() if binary else pa.string())
    raise unsupported(name, f"MySQL type code {type_code}", f"CAST({name} AS CHAR)")


# ------------------------------------------------------------------------------------------------ casting
DAY_US = 86_400_000_000
_HEX = np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2").view(np.uint8).reshape(256, 2)


def hex_strings(values: pa.Array, dashes: tuple[int, ...] = ()) -> pa.Array:
    """Binary values as lowercase hex text, vectorized (no Python object per value); `dashes` for UUIDs."""
    values = values.cast(pa.large_binary()) if not pa.types.is_fixed_size_binary(values.type) else values
    if values.offset:  # rebase so the validity bitmap, offsets and data all start at the first value
        values = pa.concat_arrays([pa.array([], values.type), values])
    if pa.types.is_fixed_size_binary(values.type):
        width = values.type.byte_width
        raw = np.frombuffer(values.buffers()[1], dtype=np.uint8)[values.offset * width:(values.offset + len(values))
                                                                 * width]
        offsets = np.arange(len(values) + 1, dtype=np.int64) * width
    else:
        offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)[values.offset:values.offset + len(values) + 1]
        raw = np.frombuffer(values.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]] \
            if values.buffers()[2] is not None else np.zeros(0, np.uint8)
        offsets = offsets - offsets[0]
    text = _HEX[raw].reshape(-1)
    if dashes:  # fixed width only: insert '-' at the given hex positions of every value
        width = 2 * values.type.byte_width
        rows = text.reshape(-1, width)
        parts, start = [], 0
        for pos in dashes:
            parts += [rows[:, start:pos], np.full((len(rows), 1), ord("-"), np.uint8)]
            start = pos
        parts.append(rows[:, start:])
        text = np.concatenate(parts, axis=1).reshape(-1)
        offsets = np.arange(len(values) + 1, dtype=np.int64) * (width + len(dashes))
    else:
        offsets = offsets * 2
    return pa.LargeStringArray.from_buffers(len(values), pa.py_buffer(offsets.astype(np.int64)),
                                            pa.py_buffer(text.tobytes()), values.buffers()[0],
                                            values.null_count).cast(pa.string())


def conform_column(name: str, values: pa.Array, target: pa.DataType) -> pa.Array:
    """Cast one reader column to its declared type; a value that does not fit is an error naming the column."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values.type, pa.ExtensionType) or isinstance(values, pa.ExtensionArray):
        if values.type.extension_name == "arrow.uuid":
            return hex_strings(values.storage, dashes=(8, 12, 16, 20))
        values = values.storage
    if values.type == target:
        return values
    try:
        if pa.types.is_timestamp(target) and pa.types.is_integer(values.type):
            return values.cast(pa.int64()).view(target)
        if pa.types.is_time64(target) and pa.types.is_integer(values.type):
            bounds = pc.min_max(values)
            if bounds["min"].is_valid and (bounds["min"].as_py() < 0 or bounds["max"].as_py() >= DAY_US):
                raise UnexportableValue(f"column '{name}': a TIME value lies outside 00:00:00..23:59:59.999999, so it is "
                                 "a duration, not a time of day; cast it in the query (e.g. TIME_TO_SEC(col))")
            return values.cast(pa.int64()).view(target)
        if pa.types.is_boolean(target) and pa.types.is_integer(values.type):
            return pc.not_equal(values, 0)
        if pa.types.is_list(target) and pa.types.is_list(values.type):
            return pc.cast(values, target)
        return pc.cast(values, target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise UnexportableValue(f"column '{name}': cannot convert {values.type} to {target} exactly: {exc}") from None


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """The batch with exactly `schema` (names, order, types), cast column by column."""
    arrays = [conform_column(field.name, batch.column(i), field.type) for i, field in enumerate(schema)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
