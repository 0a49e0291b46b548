"""The translator: an export -> its `AssetSpec` and its step's policies, from the config alone (no database, no
instance), so what the UI will show can be tested as a value. The asset factory adds only the body."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import dagster as dg

from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.defs.checks import committed_checks
from rivet_dagster.defs.gates import QUALITY_CHECK
from rivet_dagster.defs.io_manager import DESTINATION_METADATA, destination_metadata
from rivet_dagster.defs.names import DefinitionNames
from rivet_dagster.modes import mode_of


def spec_for(config: RivetConfig, export: ExportConfig, names: DefinitionNames) -> dg.AssetSpec:
    """Key = export name, group = the source, kinds = engine + format, description = the query, code version = a
    hash of the export's config, partitions = the mode's, IO manager = the destination type's."""
    return dg.AssetSpec(
        key=export.name,
        group_name=names.group,
        kinds={config.source.type, export.format},
        description=f"```sql\n{config.query_template(export).strip()}\n```",
        code_version=code_version(config, export),
        tags=names.source_tags,
        partitions_def=mode_of(export).partitions(config, export),
        skippable=mode_of(export).commits_in_step,  # its step reports each partition, not one output
        metadata={"rivet/mode": export.mode, "rivet/format": export.format,
                  DESTINATION_METADATA: destination_metadata(export.destination)},
    ).with_io_manager_key(names.io_manager(export.destination.type))


@dataclass(frozen=True)
class StepPolicies:
    """What Dagster applies to the export's step: the source's pool, the mode's backfill grouping. (Transient
    errors are retried inside the step, chunks chunk by chunk, so Dagster never reruns a whole step.)"""
    pool: str
    backfill_policy: dg.BackfillPolicy | None


def policies_for(config: RivetConfig, export: ExportConfig, names: DefinitionNames) -> StepPolicies:
    return StepPolicies(pool=names.source_pool, backfill_policy=mode_of(export).backfill_policy(export))


def check_specs_for(export: ExportConfig) -> list[dg.AssetCheckSpec]:
    """The blocking `quality` check, judged on the staged data before the commit; and where the step commits
    itself (chunks), the checks of what it committed."""
    specs = [dg.AssetCheckSpec(QUALITY_CHECK, asset=export.name, blocking=True,
                               description="The quality: gates, judged on the staged data before the commit")] \
        if export.quality is not None else []
    if mode_of(export).commits_in_step:
        specs += [check.spec(export) for check in committed_checks(export)]
    return specs


def code_version(config: RivetConfig, export: ExportConfig) -> str:
    spec = f"{config.source.type}\x1f{config.query_template(export)}\x1f{export.model_dump_json()}"
    return hashlib.sha256(spec.encode()).hexdigest()[:16]
