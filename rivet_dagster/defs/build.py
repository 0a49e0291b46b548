"""`build_definitions`: a rivet.yaml (path or loaded config) -> Dagster Definitions."""
from __future__ import annotations

import os
from collections import deque
from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from rivet_dagster.config.asset_settings import AssetSettings
from rivet_dagster.config.errors import KeyedError
from rivet_dagster.config.loader import load_config
from rivet_dagster.config.models import RivetConfig
from rivet_dagster.defs.checks import build_export_checks
from rivet_dagster.defs.factory import build_export_asset
from rivet_dagster.defs.io_manager import ExportIOManager
from rivet_dagster.defs.names import DESTINATION_TYPES, DefinitionNames
from rivet_dagster.defs.sensors.crashed_runs import build_crashed_runs_sensor
from rivet_dagster.defs.sensors.failure_alerts import build_failure_alert_sensor
from rivet_dagster.defs.translator import automation_of, table_specs
from rivet_dagster.modes import mode_of
from rivet_dagster.notifications.slack import SlackNotifier
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.state.store import StateStore, store_for


def build_definitions(config: RivetConfig | str | os.PathLike, params: Mapping[str, str] | None = None,
                      state_path: str | os.PathLike | None = None, name: str | None = None,
                      translation: AssetSettings | None = None) -> dg.Definitions:
    """One asset per export plus the resources and sensors they use. The state store defaults to
    `.rivet_state.db` beside the config file, as in Rivet. Resource keys and the names of the config's job and
    failure sensor carry `name` (default: the config's `name:`, else its file's), so several configs merge into
    one code location with `Definitions.merge`. `state_path` overrides where the state store is (`store_for`);
    `translation` is a `dagster:` block for every export, over the config's own."""
    if not isinstance(config, RivetConfig):
        return _built_once(load_config(config, params), state_path, name, translation)
    return _built(config, state_path, name, translation)


_RECENT: deque[tuple[tuple, dg.Definitions]] = deque(maxlen=8)


def _built_once(config: RivetConfig, state_path: str | os.PathLike | None, name: str | None,
                translation: AssetSettings | None) -> dg.Definitions:
    """Dagster loads a code location several times in one command (`dagster asset materialize`: 7 times), each
    load calling its `@definitions` function or component again: a config read from its file is built once per
    process for as long as the file's content (with its query files), the working directory and the environment
    stay the same, as a module-level `Definitions` would be."""
    key = (config, state_path and str(state_path), name, translation, Path.cwd(), dict(os.environ))
    for seen, defs in _RECENT:
        if seen == key:
            return defs
    defs = _built(config, state_path, name, translation)
    _RECENT.append((key, defs))
    return defs


def _built(config: RivetConfig, state_path: str | os.PathLike | None, name: str | None,
           translation: AssetSettings | None) -> dg.Definitions:
    if translation is not None:
        config = config.model_copy(update={"dagster": translation.over(config.dagster)})
    _check_partitioning(config)
    names = DefinitionNames.of(config, name)
    source = SourceDatabase(config.source, config.base_dir)
    state = StateStore(path=str(state_path)) if state_path else store_for(config)
    _check_state_names(config, state)
    slack = config.notifications.slack if config.notifications else None
    notifier = SlackNotifier(slack)
    tags = names.source_tags
    unpartitioned = [config.asset_key(e) for e in config.exports if mode_of(e).partitions(config, e) is None]
    # Rivet runs exports one after another unless `parallel_exports` / `parallel_export_processes` is set;
    # in Dagster that is the in-process executor (one process, no per-step start-up) vs. the multiprocess one.
    parallel = config.parallel_exports or config.parallel_export_processes
    return dg.Definitions(
        executor=dg.multiprocess_executor if parallel else dg.in_process_executor,
        assets=[build_export_asset(config, export, names) for export in config.exports]
        + table_specs(config, names),
        asset_checks=[check for export in config.exports
                      for check in build_export_checks(config, export, names)],
        sensors=[sensor for export in config.exports
                 for sensor in mode_of(export).sensors(config, export, source, state, tags)]
        + [build_crashed_runs_sensor(config, names, state, {names.source_pool})]
        + _automation_sensor(config, names)
        + ([build_failure_alert_sensor(config, names)] if slack and "failure" in slack.on else []),
        # A job holds assets of one partitioning; partitioned exports run from their asset, a backfill or their
        # automation condition.
        jobs=[dg.define_asset_job(names.exports_job, selection=unpartitioned, tags=tags,
                                  description="Every unpartitioned export of the config, once.")]
        if unpartitioned else [],
        resources={
            names.source: source,
            names.state: state,
            names.notifier: notifier,
            **{names.io_manager(kind): ExportIOManager(state=state, notifier=notifier) for kind in DESTINATION_TYPES},
        },
    )


def _automation_sensor(config: RivetConfig, names: DefinitionNames) -> list[dg.SensorDefinition]:
    """Evaluates the exports' automation conditions (`schedule:`, time windows, `dagster.automation_condition`),
    on by default as Rivet's schedules were; its runs carry the source's tag."""
    automated = [config.asset_key(export) for export in config.exports
                 if automation_of(config, export, names) is not None]
    if not automated:
        return []
    return [dg.AutomationConditionSensorDefinition(
        names.automation_sensor, target=automated, run_tags=names.source_tags, emit_backfills=False,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Materializes the exports whose automation condition is met (schedule:, closed windows)")]


def _check_partitioning(config: RivetConfig) -> None:
    """What only a built partitions definition can tell, reported at the config's key and line."""
    for i, export in enumerate(config.exports):
        try:
            mode_of(export).partitions(config, export)
        except KeyedError as exc:
            raise config.error(("exports", i, *exc.key.split(".")), str(exc)) from None


_STATE_NAMES: dict[tuple[str, str], str] = {}   # (state store, export name) -> the config file that exports it


def _check_state_names(config: RivetConfig, state: StateStore) -> None:
    """A state store keys cursors, chunks and files by export name, whatever the asset key's prefix: two configs
    loaded in one code location that share a store must not share an export name (their cursors would be one)."""
    if config.config_file is None or not os.path.isfile(config.config_file):
        return
    where, this = state.identity(), os.path.realpath(config.config_file)
    for i, export in enumerate(config.exports):
        other = _STATE_NAMES.setdefault((where, export.name), this)
        if other != this:
            raise config.error(("exports", i, "name"), f"export '{export.name}' is also exported by {other}, and "
                                                       "both keep their state in the same store: rename one, or "
                                                       "give one config a state store of its own (state:)")
