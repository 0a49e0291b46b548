"""The export step up to staging (crash-matrix stages 4-6): describe the query, stream it, write staged parts.

Nothing here is visible at the destination; the IO manager commits what this returns.
"""
from __future__ import annotations

import resource
import time
from datetime import datetime, timezone

import pyarrow as pa

from ..config.models import ExportConfig, RivetConfig
from ..destinations.local import LocalDestination
from ..destinations.staged import StagedExport
from ..formats.meta_columns import meta_fields, with_meta_columns
from ..formats.parts import PartWriter
from ..source.engines import SourceDatabase
from ..source.readers import describe, stream
from ..source.types import schema_of
from ..stages import Stage, reached

PROGRESS_EVERY_S = 5.0


def stage_export(config: RivetConfig, export: ExportConfig, source: SourceDatabase, run_id: str, log,
                 partition_key: str | None = None) -> StagedExport:
    started = time.monotonic()
    tuning = config.tuning_for(export)
    query = config.query_for(export).strip().rstrip(";").strip()
    columns = describe(source, query, tuning)
    staging = LocalDestination(export.destination).staging_dir(export.name, run_id)
    exported_at = datetime.now(timezone.utc)
    schema = _output_schema(schema_of(columns) if columns is not None else None, export)
    writer: PartWriter | None = None
    progress = _Progress(export.name, log)
    try:
        for batch in stream(source, query, columns, tuning):
            if writer is None:
                reached(Stage.QUERY)
                schema = schema or _output_schema(batch.schema, export)
                writer = PartWriter(staging, export.name, export.format, schema, compression=export.compression,
                                    compression_level=export.compression_level,
                                    max_file_size=export.max_file_size_bytes)
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
    log.info(f"{export.name}: staged {rows:,} rows in {len(parts)} file(s) "
             f"({time.monotonic() - started:.2f}s, {progress.rate(rows):,.0f} rows/s)")
    return StagedExport(
        export_name=export.name, run_id=run_id, mode=export.mode, format=export.format,
        compression=export.compression if export.format == "parquet" else None, destination=export.destination,
        schema=schema or pa.schema([]), parts=parts, rows=rows,
        status="skipped" if rows == 0 and export.skip_empty else "success",
        tuning_profile=tuning.profile_label, extracted_at=datetime.now(timezone.utc),
        extract_seconds=time.monotonic() - started, peak_rss_mb=peak_rss_mb(), partition_key=partition_key)


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
