"""The gates that must stop a commit, run in the step before anything reaches the destination: `quality:` and
`on_schema_drift: fail`."""
from __future__ import annotations

from collections.abc import Iterator

import dagster as dg

from rivet_dagster.config.models import ExportConfig
from rivet_dagster.errors import IntegrityError, SchemaDriftError
from rivet_dagster.staging.drift import describe as describe_drift, schema_drift
from rivet_dagster.staging.quality import QualityResult, combined
from rivet_dagster.staging.staged import StagedExport

QUALITY_CHECK = "quality"


def quality_check(results: list[QualityResult], keys: list[str | None]) -> dg.AssetCheckResult:
    """The blocking `quality` check's result over the partitions a run staged."""
    quality = combined(results, keys)
    return dg.AssetCheckResult(check_name=QUALITY_CHECK, passed=quality.passed, metadata=quality.metadata,
                               description="; ".join(quality.failures) or None)


def quality_gate(export: ExportConfig, results: list[QualityResult], keys: list[str | None]
                 ) -> Iterator[dg.AssetCheckResult]:
    """Yields the check's result, then stops the commit if it failed."""
    check = quality_check(results, keys)
    yield check
    if not check.passed:
        message = f"{export.name}: quality gate failed, nothing was committed: {check.description}"
        raise dg.Failure(message, metadata=check.metadata) from IntegrityError(message)


def schema_drift_gate(export: ExportConfig, state, staged: list[StagedExport], log) -> dict | None:
    """This run's columns against the last committed ones: logged and returned; with `on_schema_drift: fail`,
    the run stops here, before anything is committed."""
    with_rows = [s for s in staged if s.rows]
    if not with_rows:
        return None
    # as Rivet: a change is a column added, removed or retyped (order ignored)
    drift = schema_drift(state.last_schema(export.name), with_rows[0].schema_columns())
    if drift is None:
        return None
    for staged_set in with_rows:  # what the commit records, and notifies as schema_change
        staged_set.schema_drift = drift
    message = f"{export.name}: the schema changed since the last committed run ({describe_drift(drift)})"
    if export.on_schema_drift == "fail":
        message += "; on_schema_drift: fail, nothing was committed"
        raise dg.Failure(message, metadata={"rivet/schema_drift": dg.MetadataValue.json(drift)}) \
            from SchemaDriftError(message)
    log.warning(message)
    return drift
