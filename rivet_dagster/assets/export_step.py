"""The export step up to staging (crash-matrix stages 4-6): plan the read, describe it, stream it, write parts.

Nothing here is visible at the destination; the IO manager commits what this returns.
"""
from __future__ import annotations

import resource
import time
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.compute as pc
from dagster import TimeWindow

from ..config.models import ExportConfig, RivetConfig
from ..destinations.local import LocalDestination
from ..destinations.staged import StagedExport
from ..formats.meta_columns import meta_fields, with_meta_columns
from ..formats.parts import PartWriter
from .chunks import chunk_range
from .partitions import file_key
from ..source import queries
from ..source.engines import SourceDatabase
from ..source.readers import describe, stream
from ..source.types import SourceColumn, schema_of
from ..stages import Stage, reached
from ..state.cursors import Window
from ..state.store import StateStore

PROGRESS_EVERY_S = 5.0
DENSE_ROW_NUMBER = "_rivet_chunk_rn"


def stage_export(config: RivetConfig, export: ExportConfig, source: SourceDatabase, state: StateStore,
                 run_id: str, log, partition_key: str | None = None,
                 time_window: TimeWindow | None = None) -> StagedExport:
    started = time.monotonic()
    tuning = config.tuning_for(export)
    query = config.query_for(export).strip().rstrip(";").strip()
    columns = describe(source, query, tuning)
    plan, pending = _plan(export, source, state, query, columns, log, time_window, partition_key)
    staging = LocalDestination(export.destination).staging_dir(export.name, run_id)
    exported_at = datetime.now(timezone.utc)
    schema = _output_schema(schema_of(columns) if columns is not None else None, export)
    writer: PartWriter | None = None
    progress = _Progress(export.name, log)
    high_water = _HighWater(export.cursor_column) if export.mode == "incremental" else None
    try:
        for batch in stream(source, plan, columns, tuning):
            if writer is None:
                reached(Stage.QUERY)
                schema = schema or _output_schema(_without_row_number(batch.schema), export)
                staged_name = export.name + (f"_{file_key(partition_key)}" if partition_key else "")
                writer = PartWriter(staging, staged_name, export.format, schema, compression=export.compression,
                                    compression_level=export.compression_level,
                                    max_file_size=export.max_file_size_bytes)
            if high_water is not None:
                high_water.update(batch)
            if DENSE_ROW_NUMBER in batch.schema.names:  # SQLite has no declared columns to drop it by
                batch = batch.drop_columns([DENSE_ROW_NUMBER])
            writer.write(with_meta_columns(batch, schema, export.meta_columns, exported_at, run_id))
            reached(Stage.FETCH)
            progress.update(writer.rows)
        parts = writer.close() if writer is not None else []
    except BaseException:
        if writer is not None:
            writer.abandon()
        raise
    reached(Stage.STAGED)
    rows = sum(p.rows for p in parts)
    extracted_at = datetime.now(timezone.utc)
    if pending is not None:
        stem, replaces = pending.file_stem, pending.files
    elif partition_key is not None:  # one file set per partition, replaced when it is materialized again
        stem, replaces = f"{export.name}_{file_key(partition_key)}", tuple(state.partition_files(export.name,
                                                                                                   partition_key))
    else:
        stem, replaces = f"{export.name}_{extracted_at:%Y%m%d_%H%M%S}_{run_id[:8]}", ()
    window = None
    if pending is not None:
        window = pending
    elif high_water is not None and high_water.value is not None:
        window = Window(plan.params.get("after"), high_water.value, stem, ())
    log.info(f"{export.name}: staged {rows:,} rows in {len(parts)} file(s) "
             f"({time.monotonic() - started:.2f}s, {progress.rate(rows):,.0f} rows/s)"
             + (f"; cursor window ({window.after}, {window.up_to}]" if window else ""))
    empty_status = "skipped" if export.skip_empty or export.mode == "incremental" else "success"
    return StagedExport(
        export_name=export.name, run_id=run_id, mode=export.mode, format=export.format,
        compression=export.compression if export.format == "parquet" else None, destination=export.destination,
        schema=schema or pa.schema([]), parts=parts, rows=rows, status=empty_status if rows == 0 else "success",
        tuning_profile=tuning.profile_label, extracted_at=extracted_at,
        extract_seconds=time.monotonic() - started, peak_rss_mb=peak_rss_mb(), file_stem=stem, window=window,
        replaces=replaces, partition_key=partition_key, checkpoint=export.mode == "chunked" and export.chunk_checkpoint)


def _plan(export: ExportConfig, source: SourceDatabase, state: StateStore, query: str,
          columns: list[SourceColumn] | None, log, time_window: TimeWindow | None, partition_key: str | None
          ) -> tuple[queries.ReadPlan, Window | None]:
    """The read for this run, and the pending window it repairs (incremental runs after a crash)."""
    if export.mode == "chunked":
        start, end = chunk_range(partition_key)
        return queries.chunk(source, query, export.chunk_column, _cast(_column(export, columns, "chunk_column")),
                             start, end, export.chunk_dense), None
    if export.mode == "time_window":
        column = _column(export, columns, "time_column")
        start, end = _window_bounds(export, column, time_window)
        return queries.time_window(source, query, export.time_column, _cast(column), start, end), None
    if export.mode != "incremental":
        return queries.full(query), None
    cast = _cast(_column(export, columns, "cursor_column"))
    pending = state.pending_window(export.name)
    if pending is not None:
        log.warning(f"{export.name}: a previous run stopped after opening the window ({pending.after}, "
                    f"{pending.up_to}]; re-exporting exactly that window to the same files")
        return queries.incremental(source, query, export.cursor_column, cast, pending.after, pending.up_to), pending
    after = state.cursor(export.name)
    return queries.incremental(source, query, export.cursor_column, cast, after), None


def _column(export: ExportConfig, columns: list[SourceColumn] | None, key: str) -> SourceColumn | None:
    """The query column named by `key` (cursor_column, time_column); None when the engine has no types."""
    name = getattr(export, key)
    if columns is None:
        return None
    for column in columns:
        if column.name == name:
            return column
    raise ValueError(f"export '{export.name}': {key} '{name}' is not a column of the query "
                     f"(columns: {', '.join(c.name for c in columns)})")


def _cast(column: SourceColumn | None) -> str | None:
    """The type a bound value is read back as on PostgreSQL: the column's own."""
    return column.db_type.split(" ")[0] if column is not None else None


def _window_bounds(export: ExportConfig, column: SourceColumn | None, window: TimeWindow | None):
    """[start, end) of this run. A partition's window is in the partitions' time zone; without partitions,
    Rivet's trailing window starts at UTC midnight `days_window` days ago and has no end. Instants are bound
    for time-zone-aware columns, wall-clock times for naive ones, epoch seconds for `time_column_type: unix`."""
    if window is not None:
        start, end = window.start, window.end
    else:
        start = (datetime.now(timezone.utc) - timedelta(days=export.days_window)).replace(
            hour=0, minute=0, second=0, microsecond=0)
        end = None
    if export.time_column_type == "unix":
        return int(start.timestamp()), (int(end.timestamp()) if end else None)
    if column is not None and pa.types.is_timestamp(column.arrow_type) and column.arrow_type.tz:
        return start, end
    return start.replace(tzinfo=None), (end.replace(tzinfo=None) if end else None)


class _HighWater:
    """The largest cursor value exported, computed per batch in Arrow."""

    def __init__(self, column: str):
        self.column = column
        self.value = None

    def update(self, batch: pa.RecordBatch) -> None:
        values = batch.column(batch.schema.get_field_index(self.column))
        if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)
                or pa.types.is_decimal(values.type) or pa.types.is_temporal(values.type)
                or pa.types.is_string(values.type)):
            raise ValueError(f"cursor_column '{self.column}' is a {values.type}; a cursor must be a number, text, "
                             "a date or a timestamp")
        newest = pc.max(values).as_py()
        if newest is not None and (self.value is None or newest > self.value):
            self.value = newest


def _without_row_number(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f for f in schema if f.name != DENSE_ROW_NUMBER])


def _output_schema(data_schema: pa.Schema | None, export: ExportConfig) -> pa.Schema | None:
    if data_schema is None:
        return None
    return pa.schema(list(data_schema) + meta_fields(export.meta_columns))


def peak_rss_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


class _Progress:
    """Logs rows and rows/s every few seconds on long exports."""

    def __init__(self, name: str, log):
        self.name, self.log = name, log
        self.started = self.last = time.monotonic()

    def rate(self, rows: int) -> float:
        return rows / max(time.monotonic() - self.started, 1e-9)

    def update(self, rows: int) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_S:
            self.last = now
            self.log.info(f"{self.name}: {rows:,} rows ({self.rate(rows):,.0f} rows/s)")
