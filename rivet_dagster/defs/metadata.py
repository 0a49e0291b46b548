"""What a materialization records: the staged data's figures (the step) and the commit's (the IO manager, or the
step itself where it commits each partition). Dagster's standard keys where it has one (the UI shows them as the
asset's row count, schema, table name and location); ours are prefixed `rivet/`. Numbers stay numbers, so the UI
plots each over time."""
from __future__ import annotations

import dagster as dg

from rivet_dagster.commit.destinations.base import Destination
from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.staging.staged import StagedExport


def staged_metadata(config: RivetConfig, export: ExportConfig, params: dict[str, str], staged: list[StagedExport],
                    drift: dict | None) -> dict:
    rows, seconds = sum(s.rows for s in staged), sum(s.extract_seconds for s in staged)
    shown = config.params_used(export, params)
    one_partition = len(staged) == 1 and staged[0].partition_key is not None
    return {
        "dagster/row_count": rows,
        # a range run records one materialization per partition with the same metadata: only a run of one
        # partition knows that partition's own count
        **({"dagster/partition_row_count": rows} if one_partition else {}),
        "dagster/column_schema": dg.TableSchema(columns=[dg.TableColumn(f.name, str(f.type))
                                                         for f in staged[0].schema]),
        "dagster/table_name": ".".join(config.asset_key(export).path),
        "dagster/storage_kind": export.destination.type,
        "rivet/status": "success" if any(s.status == "success" for s in staged) else staged[0].status,
        "rivet/bytes": sum(s.bytes for s in staged),
        "rivet/extract_seconds": round(seconds, 3),
        "rivet/rows_per_second": round(rows / max(seconds, 1e-9)),
        "rivet/peak_rss_mb": max(s.peak_rss_mb for s in staged),
        "rivet/tuning_profile": staged[0].tuning_profile,
        "rivet/source_retries": sum(s.source_retries for s in staged),
        **({"rivet/params": dg.MetadataValue.json(shown)} if shown else {}),
        **({"rivet/schema_drift": dg.MetadataValue.json(drift)} if drift else {}),
    }


def commit_metadata(destination: Destination, committed: list[StagedExport], schema_changed: bool,
                    commit_seconds: float) -> dict:
    uris = [uri for staged in committed for uri in staged.uris]
    manifests = [s.manifest_uri for s in committed if s.manifest_uri]
    # where the data is: its manifest (the list of its files), or its one file where there is no manifest
    location = manifests[0] if len(manifests) == 1 else uris[0] if len(uris) == 1 and not manifests else None
    return {
        **({"dagster/uri": dg.MetadataValue.path(location)} if location else {}),
        "rivet/destination": destination.describe(),
        "rivet/uris": dg.MetadataValue.json(uris),
        "rivet/manifests": dg.MetadataValue.json(manifests),
        "rivet/files": len(uris),
        "rivet/duration_seconds": round(sum(s.extract_seconds for s in committed) + commit_seconds, 3),
        "rivet/destination_retries": sum(s.retries for s in committed),
        "rivet/schema_changed": schema_changed,
    }
