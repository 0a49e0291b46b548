"""`reconcile`: count the source over exactly the scope each committed manifest holds (the whole query, the
chunk range, the time window, the incremental window) and compare with the rows committed."""
from __future__ import annotations

import json

from rivet_dagster.modes.read_plans import bind_type, plan_read, query_column
from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.commit.exported import ExportedFiles
from rivet_dagster.commit.manifest import time_window_of
from rivet_dagster.source import queries
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.source.readers import describe, fetch_value
from rivet_dagster.state.cursors import decode


def reconcile(config: RivetConfig, export: ExportConfig, source: SourceDatabase, exported: ExportedFiles, log,
              run_params: dict[str, str] | None = None) -> tuple[list[str], dict]:
    tuning = config.tuning_for(export)
    query = config.query_for(export, run_params)
    columns = describe(source, query, tuning)
    mismatches, source_rows = [], 0
    for manifest in exported.manifests:
        plan = _scope(export, source, query, columns, manifest, log)
        count = int(fetch_value(source, plan.counted(), tuning))
        source_rows += count
        if count != manifest["rows"]:
            scope = manifest["partition"] or manifest["run_id"]
            mismatches.append(f"{scope}: source has {count} rows in scope, {manifest['rows']} were committed")
    return mismatches, {"source_rows": source_rows, "committed_rows": exported.rows,
                        "scopes": len(exported.manifests)}


def _scope(export, source, query, columns, manifest, log) -> queries.ReadPlan:
    window = manifest.get("cursor_window")
    if export.mode == "incremental":
        typed = window["typed"]
        after = decode(json.dumps(typed["after"])) if typed["after"] else None
        return queries.incremental(source, query, export.cursor_column,
                                   bind_type(query_column(export, columns, "cursor_column")), after,
                                   decode(json.dumps(typed["up_to"])))
    plan, _ = plan_read(export, source, None, query, columns, log, time_window_of(manifest), manifest["partition"])
    return plan
