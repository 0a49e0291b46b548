"""`rivet_<config>_crashed_runs`: tells Dagster about runs of this config's exports whose process is gone.

A SIGKILLed run stays STARTED in Dagster's storage, and at run granularity it keeps its pool slot, so runs queued
behind it would wait forever (Dagster's run monitoring cannot see a dead worker of the default run launcher).
Its owner token (host:pid:start time), left in its staging folder and in any unfinished commit, says it is dead:
the run is then marked failed (`report_run_failed`), which frees the slot, and the export's next run cleans up
the files it left. The export step makes the same check on the leftovers it finds (`still_working`).
"""
from __future__ import annotations

from collections.abc import Callable

import dagster as dg

from rivet_dagster.config.models import RivetConfig
from rivet_dagster.defs.names import DefinitionNames
from rivet_dagster.owners import owner_alive
from rivet_dagster.staging import folders as staging
from rivet_dagster.state.store import StateStore

INTERVAL_S = 60


def still_working(instance: dg.DagsterInstance, log=None) -> Callable[[str, str | None], bool]:
    """Whether the run that left staged files or an unfinished commit may still be working on them: not when
    Dagster saw it finish (its process may live on: `rivet-dagster run` runs one export after another), not when
    its owner process is dead (then Dagster is told the run failed). A process on another host (a shared state
    store or destination) is taken to be working until Dagster sees its run finish: only its own host can tell
    that it died. A leftover without an owner token is working while Dagster knows its run."""
    def check(run_id: str, owner: str | None) -> bool:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            return False
        alive = owner_alive(owner)
        if alive is False and run is not None:
            instance.report_run_failed(run, message=f"its process ({owner}) is gone, killed before it finished; "
                                                    "marked failed by rivet-dagster, which frees its pool slot")
            # a failed run keeps the op-level slots it claimed (run-level ones go with its status)
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
            if log is not None:
                log.warning(f"run {run_id}'s process ({owner}) is gone: marked it failed in Dagster")
        if alive is None:
            return bool(owner) or run is not None
        return alive
    return check


def release_dead_runs(config: RivetConfig, exports, state: StateStore, instance: dg.DagsterInstance, log=None
                      ) -> tuple[dict[str, str | None], list[str]]:
    """Every run that left staged files or an unfinished commit of these exports, and those still working; the
    dead ones are marked failed and their slots freed (`still_working`)."""
    check = still_working(instance, log)
    owners = {}
    for export in exports:
        owners.update(staging.owners(staging.staging_root(config, export), export.name))
        owners.update({commit["run_id"]: commit["owner"] for commit in state.pending_commits(export.name)})
    return owners, [run_id for run_id, owner in owners.items() if check(run_id, owner)]


def build_crashed_runs_sensor(config: RivetConfig, names: DefinitionNames, state: StateStore,
                              pools: set[str]) -> dg.SensorDefinition:
    """`pools`: the pools this config's exports take, whose waiting runs the sensor names with their holders."""
    @dg.sensor(name=names.crashed_runs_sensor, minimum_interval_seconds=INTERVAL_S,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Marks failed the runs of this config's exports whose process was killed, so their "
                           "pool slots are freed and the runs queued behind them start.")
    def crashed_runs(context: dg.SensorEvaluationContext):
        owners, working = release_dead_runs(config, config.exports, state, context.instance, context.log)
        _log_waiting(context, pools)
        return dg.SkipReason(f"{len(owners)} run(s) left files or an unfinished commit; {len(working)} still working")

    return crashed_runs


def _log_waiting(context: dg.SensorEvaluationContext, pools: set[str]) -> None:
    """Each queued run that waits for a slot of one of these pools, and the runs that hold it (INFO)."""
    def pools_of(run: dg.DagsterRun) -> set[str]:
        return set(run.run_op_concurrency.root_key_counts) & pools if run.run_op_concurrency else set()

    active = context.instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTING,
                                                               dg.DagsterRunStatus.STARTED]))
    for run in context.instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED])):
        for pool in sorted(pools_of(run)):
            holders = [other.run_id for other in active if pool in pools_of(other)]
            if holders:
                context.log.info(f"run {run.run_id} waits for a slot of pool {pool}, held by run(s) "
                                 f"{', '.join(holders)}")
