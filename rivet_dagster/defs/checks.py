"""`validate` and `reconcile`, the checks of what an export committed (validate: not for stdout).

An export has the checks it asks for (`validate: true` / `reconcile: true`; `rivet-dagster run --validate /
--reconcile` asks for its runs), so a check that nobody asked for is neither shown nor run. In a run that
materializes the export they check what that run committed; on their own (the asset's Checks tab in the UI)
what is committed now: every partition of a partitioned export, the latest run of another. A mismatch is an
ERROR-severity failed check and a `degraded` notification; `validate` in a run also fills Rivet's `validated`
column of the run's metric.

Most exports commit through the IO manager, after the step, so these are asset checks of their own; a mode
whose step commits each partition itself (chunked) declares them on its asset and judges them in the step."""
# no `from __future__ import annotations`: Dagster reads the check's context annotation at definition

from collections.abc import Callable, Iterator
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


@dataclass(frozen=True)
class CommittedCheck:
    """One check of what was committed: its name, the export key that asks for it, and how it compares."""
    name: str
    description: str
    needs_source: bool

    def asked(self, export: ExportConfig) -> bool:
        return export.validate_files if self.name == "validate" else export.reconcile

    def spec(self, config: RivetConfig, export: ExportConfig) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(self.name, asset=config.asset_key(export), description=self.description)


VALIDATE = CommittedCheck("validate", "Re-reads the committed files at the destination and compares "
                          "them with their manifest (size, rows; sha256 for CSV).", needs_source=False)
RECONCILE = CommittedCheck("reconcile", "Counts the source over exactly the exported scope and "
                           "compares it with the rows committed.", needs_source=True)


def committed_checks(export: ExportConfig) -> list[CommittedCheck]:
    """The checks the export asks for (the config refuses `validate` on stdout, which keeps no files)."""
    return [check for check in (VALIDATE, RECONCILE) if check.asked(export)]


def build_export_checks(config: RivetConfig, export: ExportConfig, names: DefinitionNames
                        ) -> list[dg.AssetChecksDefinition]:
    """The checks as asset checks of their own, for exports committed after their step."""
    if mode_of(export).commits_in_step:
        return []
    return [_export_check(config, export, names, check) for check in committed_checks(export)]


def _export_check(config: RivetConfig, export: ExportConfig, names: DefinitionNames,
                  check: CommittedCheck) -> dg.AssetChecksDefinition:
    asset_key = config.asset_key(export)
    resource_keys = {names.state, names.notifier} | ({names.source} if check.needs_source else set())

    @dg.asset_check(asset=asset_key, name=check.name, required_resource_keys=resource_keys,
                    description=check.description)
    def export_check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        in_materialization = _materialized_in(context, asset_key)
        return judge(config, export, names, check, context, context.run.run_id if in_materialization else None)

    return export_check


def judge(config: RivetConfig, export: ExportConfig, names: DefinitionNames, check: CommittedCheck, context,
          run_id: str | None) -> dg.AssetCheckResult:
    """The check on what run `run_id` committed, or (None) on what is committed now."""
    asset_key = config.asset_key(export)
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
    """For an asset that declares the checks: those selected."""
    for check in committed_checks(export):
        if dg.AssetCheckKey(config.asset_key(export), check.name) not in context.selected_asset_check_keys:
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
                             ExportRunConfig.params_of(context.run, config.definition_name(export)))
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
