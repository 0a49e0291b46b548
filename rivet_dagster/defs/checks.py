"""`validate` and `reconcile` as Dagster asset checks on every export's asset (validate: not for stdout).

On their own (the asset's Checks tab in the UI) they check what is committed now: every partition of a
partitioned export, the latest run of another. In a run that also materializes the export they check what
that run committed, and only when asked — `validate: true` / `reconcile: true` on the export, or the run tags
`rivet/validate` / `rivet/reconcile` = `true` (what `rivet-dagster run --validate` sets); otherwise they yield
nothing, which Dagster shows as skipped. A mismatch is an ERROR-severity failed check and a `degraded`
notification; `validate` in a run also fills Rivet's `validated` column of the run's metric."""

import dagster as dg

from rivet_dagster.commit.destinations import open_destination
from rivet_dagster.commit.exported import ExportedFiles
from rivet_dagster.commit.validate import validate
from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.defs.factory import ExportRunConfig
from rivet_dagster.defs.names import DefinitionNames
from rivet_dagster.modes import mode_of
from rivet_dagster.modes.reconcile import reconcile

VALIDATE_TAG, RECONCILE_TAG = "rivet/validate", "rivet/reconcile"


VALIDATE_DESCRIPTION = ("Re-reads the committed files at the destination and compares them with their manifest "
                        "(size, rows; sha256 for CSV).")
RECONCILE_DESCRIPTION = "Counts the source over exactly the exported scope and compares it with the rows committed."


def build_export_checks(config: RivetConfig, export: ExportConfig, names: DefinitionNames
                        ) -> list[dg.AssetChecksDefinition]:
    partitions = mode_of(export).partitions(export)

    def reconcile_with_the_runs_params(context, exported: ExportedFiles):
        return reconcile(config, export, getattr(context.resources, names.source), exported, context.log,
                         ExportRunConfig.params_of(context.run, export.name))

    checks = []
    if export.destination.type != "stdout":  # stdout keeps no files to re-read
        checks.append(_export_check(export, partitions, names, "validate", VALIDATE_TAG, export.validate_files,
                                    VALIDATE_DESCRIPTION, lambda context, exported: validate(exported)))
    checks.append(_export_check(export, partitions, names, "reconcile", RECONCILE_TAG, export.reconcile,
                                RECONCILE_DESCRIPTION, reconcile_with_the_runs_params, needs_source=True))
    return checks


def _export_check(export: ExportConfig, partitions: dg.PartitionsDefinition | None, names: DefinitionNames,
                  name: str, tag: str, always: bool, description: str, compare,
                  needs_source: bool = False) -> dg.AssetChecksDefinition:
    asset_key = dg.AssetKey(export.name)
    resource_keys = {names.state, names.notifier} | ({names.source} if needs_source else set())

    # a multi-asset check only so that it may yield no result: a planned check without one shows as skipped
    @dg.multi_asset_check(name=f"{export.name}_{name}", specs=[dg.AssetCheckSpec(name, asset=asset_key,
                                                                                  description=description)],
                          can_subset=True, required_resource_keys=resource_keys,
                          description=description)
    def export_check(context: dg.AssetCheckExecutionContext):
        in_materialization = _materialized_in(context, asset_key)
        if in_materialization and not (always or context.run.tags.get(tag) == "true"):
            context.log.info(f"{name}: skipped in this run (ask with `{name}: true` on the export or the run "
                             f"tag {tag}=true)")
            return
        state, notifier = getattr(context.resources, names.state), getattr(context.resources, names.notifier)
        exported = _committed(export, partitions, state, context.run.run_id if in_materialization else None)
        if not exported.manifests:
            yield dg.AssetCheckResult(asset_key=asset_key, check_name=name, passed=in_materialization,
                                      severity=dg.AssetCheckSeverity.WARN,
                                      description="this run committed no files" if in_materialization
                                      else "nothing has been committed yet")
            return
        mismatches, figures = compare(context, exported)
        if in_materialization and name == "validate":   # Rivet's `validated` column of the run's metric
            state.set_validated(export.name, context.run.run_id, not mismatches)
        if mismatches:  # the export succeeded but what it committed does not hold up: a degraded run
            notifier.notify("degraded", export.name, context.run.run_id, "check failed",
                                                    detail=f"{name} failed: {mismatches[0]}", log=context.log)
        yield dg.AssetCheckResult(asset_key=asset_key, check_name=name, passed=not mismatches,
                                  severity=dg.AssetCheckSeverity.ERROR,
                                  metadata={**figures, "mismatches": dg.MetadataValue.json(mismatches)},
                                  description="; ".join(mismatches[:5]) or None)

    return export_check


def _materialized_in(context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey) -> bool:
    """Whether this run materialized the export (asked of this run's own events: a concurrent run of another
    chunk may have materialized it since)."""
    return any(entry.dagster_event.asset_key == asset_key
               for entry in context.instance.all_logs(context.run.run_id,
                                                      of_type=dg.DagsterEventType.ASSET_MATERIALIZATION))


def _committed(export: ExportConfig, partitions: dg.PartitionsDefinition | None, state,
               run_id: str | None) -> ExportedFiles:
    """What one run committed, or (run_id None) what is committed now."""
    if run_id is None and partitions is not None:
        uris = state.manifest_uris(export.name, state.committed_partitions(export.name))
    else:
        uris = state.manifest_uris(export.name, run_id=run_id)
    return ExportedFiles.read(export.name, open_destination(export.destination), uris)
