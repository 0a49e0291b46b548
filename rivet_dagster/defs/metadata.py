"""What a materialization records: the staged data's figures (the step) and the commit's (the IO manager, or the
step itself where it commits each partition)."""
from __future__ import annotations

import dagster as dg

from rivet_dagster.commit.destinations.base import Destination
from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.staging.staged import StagedExport


def staged_metadata(config: RivetConfig, export: ExportConfig, params: dict[str, str], staged: list[StagedExport],
                    drift: dict | None) -> dict:
    rows, seconds = sum(s.rows for s in staged), sum(s.extract_seconds for s in staged)
    shown = config.params_used(export, params)
    return {
        "dagster/row_count": rows,
        "dagster/column_schema": dg.TableSchema(columns=[dg.TableColumn(f.name, str(f.type))
                                                         for f in staged[0].schema]),
        "status": "success" if any(s.status == "success" for s in staged) else staged[0].status,
        "bytes": sum(s.bytes for s in staged),
        "extract_seconds": round(seconds, 3),
        "rows_per_second": round(rows / max(seconds, 1e-9)),
        "peak_rss_mb": max(s.peak_rss_mb for s in staged),
        "tuning_profile": staged[0].tuning_profile,
        "source_retries": sum(s.source_retries for s in staged),
        **({"rivet/params": dg.MetadataValue.json(shown)} if shown else {}),
        **({"schema_drift": dg.MetadataValue.json(drift)} if drift else {}),
    }


def commit_metadata(destination: Destination, committed: list[StagedExport], schema_changed: bool,
                    commit_seconds: float) -> dict:
    return {
        "destination": destination.describe(),
        "uris": dg.MetadataValue.json([uri for staged in committed for uri in staged.uris]),
        "manifests": dg.MetadataValue.json([s.manifest_uri for s in committed if s.manifest_uri]),
        "files": sum(len(staged.uris) for staged in committed),
        "duration_seconds": round(sum(s.extract_seconds for s in committed) + commit_seconds, 3),
        "destination_retries": sum(s.retries for s in committed),
        "schema_changed": schema_changed,
    }
