"""`build_definitions`: a rivet.yaml (path or loaded config) -> Dagster Definitions."""
from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

from rivet_dagster.modes.partitions import partitions_for
from rivet_dagster.defs.factory import SOURCE_TAG, build_export_asset, pool_for, source_group
from rivet_dagster.defs.checks import build_export_checks
from rivet_dagster.config.loader import load_config
from rivet_dagster.config.models import RivetConfig
from rivet_dagster.defs.io_manager import ExportIOManager
from rivet_dagster.notifications.slack import SlackNotifier
from rivet_dagster.defs.names import DESTINATION_TYPES, DefinitionNames
from rivet_dagster.modes.chunk_planner import build_chunk_planner_sensor
from rivet_dagster.defs.sensors.crashed_runs import build_crashed_runs_sensor
from rivet_dagster.defs.sensors.failure_alerts import build_failure_alert_sensor
from rivet_dagster.modes.new_rows import build_new_rows_sensor
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.state.store import StateStore

STATE_FILE = ".rivet_state.db"


def build_definitions(config: RivetConfig | str | os.PathLike, params: Mapping[str, str] | None = None,
                      state_path: str | os.PathLike | None = None, name: str | None = None) -> dg.Definitions:
    """One asset per export plus the resources, sensors and schedules they use. The state store defaults to
    `.rivet_state.db` beside the config file, as in Rivet. Resource keys and the names of the config's job and
    failure sensor carry `name` (default: the config's `name:`, else its file's), so several configs merge into
    one code location with `Definitions.merge`."""
    if not isinstance(config, RivetConfig):
        config = load_config(config, params)
    _check_partitioning(config)
    names = DefinitionNames.of(config, name)
    source, state = SourceDatabase(config.source, config.base_dir), StateStore(path=str(state_path or config.base_dir
                                                                                         / STATE_FILE))
    slack = config.notifications.slack if config.notifications else None
    notifier = SlackNotifier(slack)
    tags = {SOURCE_TAG: source_group(config)}
    unpartitioned = [e.name for e in config.exports if partitions_for(e) is None]
    # Rivet runs exports one after another unless `parallel_exports` / `parallel_export_processes` is set;
    # in Dagster that is the in-process executor (one process, no per-step start-up) vs. the multiprocess one.
    parallel = config.parallel_exports or config.parallel_export_processes
    return dg.Definitions(
        executor=dg.multiprocess_executor if parallel else dg.in_process_executor,
        assets=[build_export_asset(config, export, names) for export in config.exports],
        asset_checks=[check for export in config.exports
                      for check in build_export_checks(config, export, partitions_for(export), names)],
        sensors=[build_new_rows_sensor(config, export, source, state) for export in config.exports
                 if export.mode == "incremental"]
        + [build_chunk_planner_sensor(config, export, source, state) for export in config.exports
           if export.mode == "chunked"]
        + [build_crashed_runs_sensor(config, names, state, {pool_for(config, e) for e in config.exports})]
        + ([build_failure_alert_sensor(config, names)] if slack and "failure" in slack.on else []),
        schedules=[_schedule_for(export, tags) for export in config.exports if export.schedule or export.partitioning],
        # A job holds assets of one partitioning; partitioned exports run from their asset, a backfill or a schedule.
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


def _schedule_for(export, tags: dict[str, str]) -> dg.ScheduleDefinition:
    """`schedule:` cron for any export; a time-partitioned export gets one that materializes each window once
    it has closed."""
    if export.partitioning is not None:
        job = dg.define_asset_job(f"{export.name}_windows", selection=[export.name],
                                  partitions_def=partitions_for(export), tags=tags)
        return dg.build_schedule_from_partitioned_job(job, name=f"{export.name}_schedule",
                                                      default_status=dg.DefaultScheduleStatus.RUNNING)
    return dg.ScheduleDefinition(name=f"{export.name}_schedule", cron_schedule=export.schedule,
                                 target=[export.name], tags=tags, default_status=dg.DefaultScheduleStatus.RUNNING)


def _check_partitioning(config: RivetConfig) -> None:
    """What only a built partitions definition can tell, reported at the config's key and line."""
    for i, export in enumerate(config.exports):
        if export.partitioning is not None:
            if export.schedule is not None:
                raise config.error(("exports", i, "schedule"), "a partitioned time_window export is scheduled per "
                                                               "window already; remove 'schedule'")
            try:
                partitions_for(export)
            except Exception as exc:
                raise config.error(("exports", i, "partitioning", "start"), f"{exc}") from None
