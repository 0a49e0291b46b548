"""One Dagster asset per export: key = export name, group = the source, kinds = engine + format,
description = the query, code version = a hash of the export's config."""

import hashlib
import re
import time
from pathlib import Path

import dagster as dg
from sqlalchemy.engine import make_url

from ..config.models import ExportConfig, RivetConfig
from ..destinations.publish import record_failure
from .export_step import stage_export
from .partitions import backfill_policy_for, partitions_for

SOURCE_KEY, STATE_KEY = "rivet_source", "rivet_state"
IO_MANAGER_KEYS = {"local": "rivet_local_io"}


def source_group(config: RivetConfig) -> str:
    """`<type>_<database>` from what the config states (an env var or file URL is not read for a label)."""
    source = config.source
    database = source.database
    if source.url:
        try:
            database = make_url(source.url).database
        except Exception:
            database = None
    name = Path(database).stem if database else ""
    return re.sub(r"\W", "_", f"{source.type}_{name}" if name else source.type)


def code_version(config: RivetConfig, export: ExportConfig) -> str:
    spec = f"{config.source.type}\x1f{config.query_for(export)}\x1f{export.model_dump_json()}"
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def build_export_asset(config: RivetConfig, export: ExportConfig) -> dg.AssetsDefinition:
    group = source_group(config)
    partitions = partitions_for(export)

    @dg.asset(
        name=export.name,
        group_name=group,
        kinds={config.source.type, export.format},
        description=f"```sql\n{config.query_for(export).strip()}\n```",
        code_version=code_version(config, export),
        io_manager_key=IO_MANAGER_KEYS[export.destination.type],
        required_resource_keys={SOURCE_KEY, STATE_KEY},
        pool=f"rivet_{group}",
        partitions_def=partitions,
        backfill_policy=backfill_policy_for(export),
        metadata={"rivet/mode": export.mode, "rivet/format": export.format,
                  "rivet/destination": export.destination.type},
    )
    def export_asset(context: dg.AssetExecutionContext):
        """Stages one file set per partition of the run (a range run covers several windows)."""
        keys = context.partition_keys if partitions is not None else [None]
        staged = []
        for key in keys:
            started = time.monotonic()
            try:
                staged.append(stage_export(
                    config, export, context.resources.rivet_source, context.resources.rivet_state,
                    context.run.run_id, context.log, partition_key=key,
                    time_window=partitions.time_window_for_partition_key(key) if key is not None else None))
            except BaseException as exc:
                record_failure(context.resources.rivet_state, export.name, context.run.run_id, export.mode,
                               export.format, config.tuning_for(export).profile_label, time.monotonic() - started,
                               exc, key)
                raise
        rows, seconds = sum(s.rows for s in staged), sum(s.extract_seconds for s in staged)
        return dg.Output(staged, metadata={
            "dagster/row_count": rows,
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(f.name, str(f.type)) for f in staged[0].schema]),
            "status": "success" if any(s.status == "success" for s in staged) else staged[0].status,
            "bytes": sum(s.bytes for s in staged),
            "extract_seconds": round(seconds, 3),
            "rows_per_second": round(rows / max(seconds, 1e-9)),
            "peak_rss_mb": max(s.peak_rss_mb for s in staged),
            "tuning_profile": staged[0].tuning_profile,
        })

    return export_asset
