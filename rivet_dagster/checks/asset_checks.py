"""`validate: true` / `reconcile: true` as Dagster asset checks on the export's asset: they run after every
materialization (in the same run) and on their own from the UI, over the latest committed materialization.
A mismatch is an ERROR-severity failed check."""

import dagster as dg

from ..config.models import ExportConfig, RivetConfig
from ..destinations import open_destination
from ..destinations.exported import ExportedFiles
from ..resource_keys import SOURCE_KEY, STATE_KEY
from .reconcile import reconcile
from .validate import validate


def build_export_checks(config: RivetConfig, export: ExportConfig,
                        partitions: dg.PartitionsDefinition | None) -> list[dg.AssetChecksDefinition]:
    checks = []
    if export.validate_files:
        @dg.asset_check(asset=export.name, name="validate", required_resource_keys={STATE_KEY},
                        description="Re-reads the committed files at the destination and compares them with "
                                    "their manifest (size, rows; sha256 for CSV).")
        def validate_check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
            exported = _latest(export, context.resources.rivet_state)
            return _result(*validate(exported)) if exported.manifests else _nothing_committed()
        checks.append(validate_check)
    if export.reconcile:
        @dg.asset_check(asset=export.name, name="reconcile", required_resource_keys={SOURCE_KEY, STATE_KEY},
                        description="Counts the source over exactly the exported scope and compares it with the "
                                    "rows committed.")
        def reconcile_check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
            exported = _latest(export, context.resources.rivet_state)
            if not exported.manifests:
                return _nothing_committed()
            return _result(*reconcile(config, export, context.resources.rivet_source, exported, partitions,
                                      context.log))
        checks.append(reconcile_check)
    return checks


def _latest(export: ExportConfig, state) -> ExportedFiles:
    return ExportedFiles.read(export.name, open_destination(export.destination), state.manifest_uris(export.name))


def _result(mismatches: list[str], figures: dict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=not mismatches, severity=dg.AssetCheckSeverity.ERROR,
                               metadata={**figures, "mismatches": dg.MetadataValue.json(mismatches)},
                               description="; ".join(mismatches[:5]) or None)


def _nothing_committed() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                               description="nothing has been committed yet")
