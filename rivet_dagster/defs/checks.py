"""`validate` and `reconcile`, the checks of what an export committed (validate: not for stdout).

On their own (the asset's Checks tab in the UI) they check what is committed now: every partition of a
partitioned export, the latest run of another. In a run that also materializes the export they check what
that run committed, and only when asked — `validate: true` / `reconcile: true` on the export, or the run tags
`rivet/validate` / `rivet/reconcile` = `true` (what `rivet-dagster run --validate` sets); otherwise they yield
nothing, which Dagster shows as skipped. A mismatch is an ERROR-severity failed check and a `degraded`
notification; `validate` in a run also fills Rivet's `validated` column of the run's metric.

Most exports commit through the IO manager, after the step, so these are asset checks of their own; a mode
whose step commits each partition itself (chunked) declares them on its asset and judges them in the step."""
# no `from __future__ import annotations`: Dagster reads the check's context annotation at definition

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import dagster as dg

from rivet_dagster.commit.destinations import open_destination
from rivet_dagster.commit.exported import ExportedFiles
from rivet_dagster.commit.validate import validate
from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.defs.names import DefinitionNames
from rivet_dagster.defs.run_config import ExportRunConfig
from rivet_dagster.defs.source_sessions import hold_sessions
from rivet_dagster.modes import mode_of
from rivet_dagster.modes.reconcile import reconcile

VALIDATE_TAG, RECONCILE_TAG = "rivet/validate", "rivet/reconcile"


@dataclass(frozen=True)
class CommittedCheck:
    """One check of what was committed: its name, the run tag that asks for it, and how it compares."""
    name: str
    tag: str
    description: str
    needs_source: bool

    def always(self, export: ExportConfig) -> bool:
        return export.validate_files if self.name == "validate" else export.reconcile

    def asked(self, export: ExportConfig, run_tags: Mapping[str, str]) -> bool:
        return self.always(export) or run_tags.get(self.tag) == "true"

    def spec(self, export: ExportConfig) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(self.name, asset=export.name, description=self.description)


VALIDATE = CommittedCheck("validate", VALIDATE_TAG, "Re-reads the committed files at the destination and compares "
                          "them with their manifest (size, rows; sha256 for CSV).", needs_source=False)
RECONCILE = CommittedCheck("reconcile", RECONCILE_TAG, "Counts the source over exactly the exported scope and "
                           "compares it with the rows committed.", needs_source=True)


def committed_checks(export: ExportConfig) -> list[CommittedCheck]:
    """stdout keeps no files to re-read, so no validate."""
    return [VALIDATE, RECONCILE] if export.destination.type != "stdout" else [RECONCILE]


def build_export_checks(config: RivetConfig, export: ExportConfig, names: DefinitionNames
                        ) -> list[dg.AssetChecksDefinition]:
    """The checks as asset checks of their own, for exports committed after their step."""
    if mode_of(export).commits_in_step:
        return []
    return [_export_check(config, export, names, check) for check in committed_checks(export)]


def _export_check(config: RivetConfig, export: ExportConfig, names: DefinitionNames,
                  check: CommittedCheck) -> dg.AssetChecksDefinition:
    asset_key = dg.AssetKey(export.name)
    resource_keys = {names.state, names.notifier} | ({names.source} if check.needs_source else set())

    # a multi-asset check only so that it may yield no result: a planned check without one shows as skipped
    @dg.multi_asset_check(name=f"{export.name}_{check.name}", specs=[check.spec(export)], can_subset=True,
                          required_resource_keys=resource_keys, description=check.description)
    def export_check(context: dg.AssetCheckExecutionContext):
        in_materialization = _materialized_in(context, asset_key)
        if in_materialization and not check.asked(export, context.run.tags):
            context.log.info(f"{check.name}: skipped in this run (ask with `{check.name}: true` on the export or "
                             f"the run tag {check.tag}=true)")
            return
        yield judge(config, export, names, check, context, context.run.run_id if in_materialization else None)

    return export_check


def judge(config: RivetConfig, export: ExportConfig, names: DefinitionNames, check: CommittedCheck, context,
          run_id: str | None) -> dg.AssetCheckResult:
    """The check on what run `run_id` committed, or (None) on what is committed now."""
    asset_key = dg.AssetKey(export.name)
    state, notifier = getattr(context.resources, names.state), getattr(context.resources, names.notifier)
    exported = _committed(config, export, state, run_id)
    if not exported.manifests:
        return dg.AssetCheckResult(asset_key=asset_key, check_name=check.name, passed=run_id is not None,
                                   severity=dg.AssetCheckSeverity.WARN,
                                   description="this run committed no files" if run_id is not None
                                   else "nothing has been committed yet")
    mismatches, figures = _comparison(config, export, names, check, context)(exported)
    if run_id is not None and check is VALIDATE:   # Rivet's `validated` column of the run's metric
        state.set_validated(export.name, run_id, not mismatches)
    if mismatches:  # the export succeeded but what it committed does not hold up: a degraded run
        notifier.notify("degraded", export.name, context.run.run_id, "check failed",
                        detail=f"{check.name} failed: {mismatches[0]}", log=context.log)
    return dg.AssetCheckResult(asset_key=asset_key, check_name=check.name, passed=not mismatches,
                               severity=dg.AssetCheckSeverity.ERROR,
                               metadata={**figures, "mismatches": dg.MetadataValue.json(mismatches)},
                               description="; ".join(mismatches[:5]) or None)


def judge_in_step(config: RivetConfig, export: ExportConfig, names: DefinitionNames, context,
                  materialized: bool) -> Iterator[dg.AssetCheckResult]:
    """For an asset that declares the checks: those selected and, in a materialization, asked for."""
    for check in committed_checks(export):
        if dg.AssetCheckKey(dg.AssetKey(export.name), check.name) not in context.selected_asset_check_keys:
            continue
        if materialized and not check.asked(export, context.run.tags):
            continue
        yield judge(config, export, names, check, context, context.run.run_id if materialized else None)


def _comparison(config: RivetConfig, export: ExportConfig, names: DefinitionNames, check: CommittedCheck,
                context) -> Callable[[ExportedFiles], tuple[list[str], dict]]:
    if check is VALIDATE:
        return validate

    def reconciled(exported: ExportedFiles) -> tuple[list[str], dict]:
        slots = hold_sessions(context, names, 1, f"{export.name}: reconcile")
        try:
            return reconcile(config, export, getattr(context.resources, names.source), exported, context.log,
                             ExportRunConfig.params_of(context.run, export.name))
        finally:
            slots.release()
    return reconciled


def _materialized_in(context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey) -> bool:
    """Whether this run materialized the export (asked of this run's own events: a concurrent run of another
    chunk may have materialized it since)."""
    return any(entry.dagster_event.asset_key == asset_key
               for entry in context.instance.all_logs(context.run.run_id,
                                                      of_type=dg.DagsterEventType.ASSET_MATERIALIZATION))


def _committed(config: RivetConfig, export: ExportConfig, state, run_id: str | None) -> ExportedFiles:
    """What one run committed, or (run_id None) what is committed now."""
    if run_id is None and mode_of(export).partitions(config, export) is not None:
        uris = state.manifest_uris(export.name, state.committed_partitions(export.name))
    else:
        uris = state.manifest_uris(export.name, run_id=run_id)
    return ExportedFiles.read(export.name, open_destination(export.destination), uris)
