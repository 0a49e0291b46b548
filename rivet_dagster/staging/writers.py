"""One output file: Parquet (configured codec, large bounded row groups) or CSV (RFC 4180)."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from rivet_dagster.config.errors import ConfigError
from rivet_dagster.source.types import hex_strings

# A row group is flushed at whichever comes first; the buffer is the writer's whole memory (encoding it takes
# about as much again), so it is what keeps a step's peak RSS bounded; writers that run side by side share it.
ROW_GROUP_ROWS = 1_000_000
ROW_GROUP_BYTES = 16 << 20   # still many times Rivet's row group (one per fetched batch)
EXTENSIONS = {"parquet": "parquet", "csv": "csv"}


class ParquetFileWriter:
    def __init__(self, path: Path, schema: pa.Schema, compression: str, level: int | None,
                 max_buffer_bytes: int = ROW_GROUP_BYTES):
        self.path = path
        self._writer = pq.ParquetWriter(path, schema, compression=None if compression == "none" else compression,
                                        compression_level=level, write_statistics=True,
                                        use_dictionary=dictionary_columns(schema))
        self._buffer: list[pa.RecordBatch] = []
        self._rows = self._bytes = 0
        self._max_bytes = max_buffer_bytes

    def write(self, batch: pa.RecordBatch) -> None:
        self._buffer.append(batch)
        self._rows += batch.num_rows
        self._bytes += batch.nbytes
        if self._rows >= ROW_GROUP_ROWS or self._bytes >= self._max_bytes:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            table = pa.Table.from_batches(self._buffer)
            self._writer.write_table(table, row_group_size=table.num_rows)
            self._buffer, self._rows, self._bytes = [], 0, 0

    @property
    def bytes_written(self) -> int:
        return self.path.stat().st_size

    def close(self) -> None:
        self.flush()
        self._writer.close()


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """The columns written dictionary-encoded: text and binary, where values repeat (codes, statuses) and a
    dictionary pays. Numbers and timestamps are mostly distinct: Parquet's writer would fill a dictionary per
    column chunk before falling back to plain, which on the benchmark tables made files 13-40% larger (zstd
    and snappy alike) and cost up to 110 MB of peak RSS, for nothing."""
    return [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
            or pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type) or pa.types.is_dictionary(f.type)]


class CsvFileWriter:
    """RFC 4180: header, quoting where needed, NULL as an empty field ("" is an empty string), ISO-8601
    timestamps (`Z` for UTC), binary as lowercase hex. Rivet writes CSV uncompressed; so does this."""

    def __init__(self, path: Path, schema: pa.Schema):
        for field in schema:
            if pa.types.is_nested(field.type):
                raise ConfigError(f"column '{field.name}' is a {field.type}, which CSV cannot hold; use format: "
                                 "parquet or turn it into text in the query")
        self.path = path
        self._schema = pa.schema([pa.field(f.name, _csv_type(f.type)) for f in schema])
        self._writer = pacsv.CSVWriter(path, self._schema, write_options=pacsv.WriteOptions(quoting_style="needed"))

    def write(self, batch: pa.RecordBatch) -> None:
        columns = [_csv_column(batch.column(i)) for i in range(batch.num_columns)]
        self._writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=self._schema))

    @property
    def bytes_written(self) -> int:
        return self.path.stat().st_size

    def close(self) -> None:
        self._writer.close()


def _csv_type(t: pa.DataType) -> pa.DataType:
    return pa.string() if (pa.types.is_timestamp(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t)
                           or pa.types.is_fixed_size_binary(t)) else t


def _csv_column(values: pa.Array) -> pa.Array:
    t = values.type
    if pa.types.is_timestamp(t):
        return pc.strftime(values, format="%Y-%m-%dT%H:%M:%S" + ("Z" if t.tz else ""))
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return hex_strings(values)
    return values


def open_writer(fmt: str, path: Path, schema: pa.Schema, compression: str, level: int | None,
                max_file_size: int | None, side_by_side: int = 1):
    """`side_by_side`: how many writers of the step run at once (a chunk run's workers), sharing the buffer."""
    if fmt == "csv":
        return CsvFileWriter(path, schema)
    # With max_file_size, flush smaller row groups so the file size tracks what was written.
    buffer_bytes = ROW_GROUP_BYTES // side_by_side
    buffer_bytes = min(buffer_bytes, max_file_size) if max_file_size else buffer_bytes
    return ParquetFileWriter(path, schema, compression, level, buffer_bytes)

