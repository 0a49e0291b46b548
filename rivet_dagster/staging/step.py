"""The export step up to staging (crash-matrix stages 4-6): describe the query, stream the read the mode scoped,
write staged parts.

Nothing here is visible at the destination; the IO manager commits what this returns.
"""
from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.source.readers import Connections, describe, stream
from rivet_dagster.source.types import SourceColumn, schema_of
from rivet_dagster.stages import Stage, reached
from rivet_dagster.staging.meta_columns import meta_fields, with_meta_columns
from rivet_dagster.staging.parts import PartWriter
from rivet_dagster.staging.quality import QualityGate
from rivet_dagster.staging.scope import ReadScope, file_key
from rivet_dagster.staging.staged import StagedExport

PROGRESS_EVERY_S = 5.0
DENSE_ROW_NUMBER = "_rivet_chunk_rn"


@dataclass(frozen=True)
class SharedReads:
    """What the many reads of one query in a run (a chunk run's chunks) share: its columns, described once, the
    source's connections, and the memory of `workers` reads at once."""
    columns: list[SourceColumn] | None
    connections: Connections
    workers: int


def stage_export(config: RivetConfig, export: ExportConfig, source: SourceDatabase, run_id: str, log,
                 staging: Path, query, scope_for: Callable[[list[SourceColumn] | None], ReadScope],
                 partition_key: str | None = None, shared: SharedReads | None = None) -> StagedExport:
    """Stage what `scope_for(columns)` (the mode) says this run reads. The caller logs `staged.summary()`."""
    started = time.monotonic()
    tuning = config.tuning_for(export)
    columns = shared.columns if shared is not None else describe(source, query, tuning)
    scope = scope_for(columns)
    exported_at = datetime.now(timezone.utc)
    schema = _output_schema(schema_of(columns) if columns is not None else None, export)
    writer: PartWriter | None = None
    progress = _Progress(export.name, log)
    gate = QualityGate(export.quality, staging / "quality") if export.quality else None
    try:
        for batch in stream(source, scope.plan, columns, tuning, shared.connections if shared else None,
                            shared.workers if shared else 1, spill_to=staging):
            if writer is None:
                reached(Stage.QUERY)
                schema = schema or _output_schema(_without_row_number(batch.schema), export)
                staged_name = export.name + (f"_{file_key(partition_key)}" if partition_key else "")
                writer = PartWriter(staging, staged_name, export.format, schema, compression=export.compression,
                                    compression_level=export.compression_level,
                                    max_file_size=export.max_file_size_bytes,
                                    side_by_side=shared.workers if shared is not None else 1)
            scope.observe(batch)
            if DENSE_ROW_NUMBER in batch.schema.names:  # SQLite has no declared columns to drop it by
                batch = batch.drop_columns([DENSE_ROW_NUMBER])
            if gate is not None:
                gate.update(batch)
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
    # Every materialization writes new names; what it supersedes (a partition's previous files, a crashed
    # run's window) is removed only once its own manifest is written, so a committed file is never overwritten.
    stem = f"{export.name}{f'_{file_key(partition_key)}' if partition_key else ''}_{extracted_at:%Y%m%d_%H%M%S}" \
           f"_{run_id[:8]}"
    window = scope.window(stem)
    empty_status = "skipped" if export.skip_empty or scope.skip_when_empty else "success"
    return StagedExport(
        export_name=export.name, run_id=run_id, mode=export.mode, format=export.format,
        compression=export.compression if export.format == "parquet" else None, destination=export.destination,
        schema=schema or pa.schema([]), parts=parts, rows=rows, status=empty_status if rows == 0 else "success",
        tuning_profile=tuning.profile_label, extracted_at=extracted_at,
        extract_seconds=time.monotonic() - started, peak_rss_mb=peak_rss_mb(), staging_dir=staging,
        max_retries=tuning.max_retries, retry_backoff_ms=tuning.retry_backoff_ms, cursor_column=export.cursor_column,
        file_stem=stem, window=window, time_window=scope.time_window, replaces=scope.replaces,
        partition_key=partition_key, checkpoint=scope.checkpoint, keep_last=export.keep_last,
        quality=gate.evaluate() if gate is not None else None)


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
