"""`reconcile`: count the source over exactly the scope each committed manifest holds (the whole query, the
chunk range, the time window, the incremental window) and compare with the rows committed."""
from __future__ import annotations

from rivet_dagster.commit.exported import ExportedFiles
from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.modes import mode_of
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.source.readers import describe, fetch_value


def reconcile(config: RivetConfig, export: ExportConfig, source: SourceDatabase, exported: ExportedFiles, log,
              run_params: dict[str, str] | None = None) -> tuple[list[str], dict]:
    tuning = config.tuning_for(export)
    query = config.query_for(export, run_params)
    columns = describe(source, query, tuning)
    mode = mode_of(export)
    mismatches, source_rows = [], 0
    for manifest in exported.manifests:
        plan = mode.reconcile_scope(export, source, query, columns, manifest, log)
        count = int(fetch_value(source, plan.counted(), tuning))
        source_rows += count
        if count != manifest["rows"]:
            scope = manifest["partition"] or manifest["run_id"]
            mismatches.append(f"{scope}: source has {count} rows in scope, {manifest['rows']} were committed")
    return mismatches, {"source_rows": source_rows, "committed_rows": exported.rows,
                        "scopes": len(exported.manifests)}
