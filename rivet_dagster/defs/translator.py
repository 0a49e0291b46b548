"""The translator: an export -> its `AssetSpec` and its step's policies, from the config alone (no database, no
instance), so what the UI will show can be tested as a value. The asset factory adds only the body."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import dagster as dg

from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.defs.checks import committed_checks
from rivet_dagster.defs.gates import QUALITY_CHECK
from rivet_dagster.defs.io_manager import DESTINATION_METADATA, destination_metadata
from rivet_dagster.defs.names import DefinitionNames
from rivet_dagster.modes import mode_of
from rivet_dagster.source.tables import tables_read


def spec_for(config: RivetConfig, export: ExportConfig, names: DefinitionNames) -> dg.AssetSpec:
    """Key = export name, group = the source, kinds = engine + format, description = the query, code version = a
    hash of the export's config, partitions = the mode's, IO manager = the destination type's; the `dagster:`
    settings (key prefix, group, owners, tags, kinds, automation, freshness) over these."""
    settings = config.asset_settings(export)
    return dg.AssetSpec(
        key=config.asset_key(export),
        group_name=settings.group_name or names.group,
        kinds=set(settings.kinds) if settings.kinds is not None else {config.source.type, export.format},
        owners=settings.owners,
        automation_condition=automation_of(config, export, names),
        freshness_policy=settings.freshness_policy.policy() if settings.freshness_policy else None,
        description=description(config, export, names),
        code_version=code_version(config, export),
        tags={**settings.tags, **names.source_tags},
        deps=deps_of(config, export, names),
        partitions_def=mode_of(export).partitions(config, export),
        skippable=True,  # a run that skips materializes nothing; a chunk step reports each partition itself
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


def check_specs_for(config: RivetConfig, export: ExportConfig) -> list[dg.AssetCheckSpec]:
    """The blocking `quality` check, judged on the staged data before the commit; and where the step commits
    itself (chunks), the checks of what it committed."""
    specs = [dg.AssetCheckSpec(QUALITY_CHECK, asset=config.asset_key(export), blocking=True,
                               description="The quality: gates, judged on the staged data before the commit")] \
        if export.quality is not None else []
    if mode_of(export).commits_in_step:
        specs += [check.spec(config, export) for check in committed_checks(export)]
    return specs


def automation_of(config: RivetConfig, export: ExportConfig, names: DefinitionNames
                  ) -> dg.AutomationCondition | None:
    """The export's own `dagster.automation_condition`, else its mode's (`schedule:`, a time window's close),
    else the config's; the config's automation sensor evaluates it. The source tables it reads are ignored by
    the condition's wait for updated deps: Dagster never sees a database table updated."""
    own = export.dagster.condition() if export.dagster is not None else None
    condition = own or mode_of(export).automation(config, export) or config.asset_settings(export).condition()
    tables = [key for key in deps_of(config, export, names) if key.path[0] == names.group]
    return condition.ignore(dg.AssetSelection.assets(*tables)) if condition is not None and tables else condition


def deps_of(config: RivetConfig, export: ExportConfig, names: DefinitionNames) -> list[dg.AssetKey]:
    """The config's `deps`, else the tables the query reads (`table_keys`)."""
    given = config.asset_settings(export).dep_keys()
    return given if given is not None else table_keys(config, export, names)


def table_keys(config: RivetConfig, export: ExportConfig, names: DefinitionNames) -> list[dg.AssetKey]:
    """`<source group>/<schema>/<table>` of each table the query reads, shared by the exports of a source."""
    return [dg.AssetKey([names.group, schema, table])
            for schema, table in tables_read(config.query_template(export), config.source.type, names.database)]


_TABLE_OWNERS: dict[dg.AssetKey, str] = {}   # a source table's key -> the config (file#name) defining it here


def table_specs(config: RivetConfig, names: DefinitionNames) -> list[dg.AssetSpec]:
    """The source tables the exports read (where no `deps` replace them), as external assets: Dagster's graph
    hides a dep that nothing defines. Configs of one source share its tables, and a code location may define
    each once: the first config loaded in the process defines it, the others only depend on it."""
    this = f"{os.path.realpath(config.config_file) if config.config_file else ''}#{names.config}"
    keys = dict.fromkeys(key for export in config.exports if config.asset_settings(export).dep_keys() is None
                         for key in table_keys(config, export, names))
    return [dg.AssetSpec(key, group_name=names.group, kinds={config.source.type},
                         description=f"Table {key.path[1]}.{key.path[2]} of the {names.group} source, which "
                                     "rivet-dagster exports read (external: nothing here materializes it).")
            for key in keys if _TABLE_OWNERS.setdefault(key, this) == this]


def description(config: RivetConfig, export: ExportConfig, names: DefinitionNames) -> str:
    """A line the catalog lists, then the query as an indented block: Markdown code on the asset's page, with no
    fence to show raw where the catalog prints the text."""
    query = "\n".join(f"    {line}" for line in config.query_template(export).strip().splitlines())
    mode = export.mode.replace("_", " ").capitalize()
    return f"{mode} export of {names.group} to {export.format} ({export.destination.type}).\n\n{query}"


def code_version(config: RivetConfig, export: ExportConfig) -> str:
    """What the export writes depends on; its `dagster:` attributes (owners, tags...), the checks it asks for and
    how many older copies it keeps don't change the data."""
    written = export.model_dump_json(exclude={"dagster", "validate_files", "reconcile", "keep_last"})
    spec = f"{config.source.type}\x1f{config.query_template(export)}\x1f{written}"
    return hashlib.sha256(spec.encode()).hexdigest()[:16]
