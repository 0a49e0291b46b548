"""`rivet_<config>_slack_on_failure`: a run-failure sensor, so a failed or crashed export run is reported even when
its step never got to say so itself. Runs of `rivet-dagster run` (tag `rivet/cli`) are posted by the command,
which needs no daemon."""
from __future__ import annotations

import dagster as dg

from rivet_dagster.config.models import RivetConfig
from rivet_dagster.defs.names import DefinitionNames
from rivet_dagster.errors import export_message
from rivet_dagster.notifications.slack import SlackNotifier

CLI_TAG = "rivet/cli"


def build_failure_alert_sensor(config: RivetConfig, names: DefinitionNames) -> dg.RunFailureSensorDefinition:
    exports = {export.name for export in config.exports}
    notifier = SlackNotifier(config.notifications.slack)

    @dg.run_failure_sensor(name=names.failure_sensor, default_status=dg.DefaultSensorStatus.RUNNING,
                           description="Posts failed runs of this config's exports to Slack (notifications.slack, "
                                       "on: failure).")
    def slack_on_failure(context: dg.RunFailureSensorContext):
        run = context.dagster_run
        if CLI_TAG in run.tags:
            return
        failed = _failed_exports(context, exports)
        if not failed:  # a run of another config's exports in the same code location
            return
        step_errors = [event.event_specific_data.error for event in context.get_step_failure_events()]
        error = export_message(step_errors[0]) if step_errors and step_errors[0] else context.failure_event.message
        thread = post_failure(notifier, context.instance, run.run_id, ", ".join(failed), error, context.log)
        if thread is not None:
            thread.join(timeout=15)  # the sensor's tick waits for its post, bounded

    return slack_on_failure


def post_failure(notifier: SlackNotifier, instance: dg.DagsterInstance, run_id: str, exports: str, error: str,
                 log=None):
    """The failure message: exports, run, duration, error (a failed run commits nothing)."""
    stats = instance.get_run_stats(run_id)
    seconds = stats.end_time - stats.start_time if stats.start_time and stats.end_time else None
    return notifier.notify("failure", exports, run_id, "failed", seconds=seconds, error=error,
                           detail="nothing was committed", log=log)


def _failed_exports(context: dg.RunFailureSensorContext, exports: set[str]) -> list[str]:
    """The exports whose steps failed; for a crashed run (no step failure recorded), those it was running."""
    run = context.dagster_run
    for names in ([event.step_key for event in context.get_step_failure_events()],
                  [key.path[-1] for key in run.asset_selection or ()], run.step_keys_to_execute or []):
        failed = sorted({name for name in names if name in exports})
        if failed:
            return failed
    return []
