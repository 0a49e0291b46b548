"""`<export>_new_rows`: requests a run of an incremental export when its source has rows past the cursor.

It asks the database for MAX(cursor) over rows after the stored cursor (the cursor is a bound value), so
it needs no comparison in Python. The run key is that value, and the sensor's own cursor remembers it, so
one batch of new rows yields one run. While a run holds the export's cursor window (its claim's lease runs), the
sensor waits for it rather than start a run that would only be refused. A source error fails the tick (shown in
the UI); the daemon goes on.
"""
from collections.abc import Mapping

import dagster as dg

from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.source import queries
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.source.readers import describe, fetch_value
from rivet_dagster.source.types import bind_type, query_column
from rivet_dagster.state import cursors
from rivet_dagster.state.claims import CURSOR_SCOPE
from rivet_dagster.state.store import StateStore

DEFAULT_INTERVAL_S = 60


def build_new_rows_sensor(config: RivetConfig, export: ExportConfig, source: SourceDatabase,
                          state: StateStore, tags: Mapping[str, str]) -> dg.SensorDefinition:
    tuning = config.tuning_for(export)

    @dg.sensor(
        name=f"{config.definition_name(export)}_new_rows",
        target=[config.asset_key(export)],
        minimum_interval_seconds=export.sensor.interval_seconds if export.sensor else DEFAULT_INTERVAL_S,
        default_status=dg.DefaultSensorStatus.RUNNING if export.sensor else dg.DefaultSensorStatus.STOPPED,
        description=f"Runs '{export.name}' when rows with {export.cursor_column} past the stored cursor appear.",
    )
    def new_rows(context: dg.SensorEvaluationContext):
        for claim in state.claims(export.name):
            if claim["scope"] == CURSOR_SCOPE and claim["left_ms"] > 0:
                return dg.SkipReason(f"run {claim['run_id']} is exporting the cursor window")
        query = config.query_for(export)
        cast = bind_type(query_column(describe(source, query, tuning), export.cursor_column, export.name,
                                      "cursor_column"))
        after = state.cursor(export.name)
        newest = fetch_value(source, queries.newest(source, query, export.cursor_column, cast, after), tuning)
        if newest is None:
            return dg.SkipReason(f"no rows with {export.cursor_column} after {after}" if after is not None
                                 else "the source has no rows yet")
        key = cursors.encode(newest)
        if key == context.cursor:
            return dg.SkipReason(f"a run for rows up to {cursors.display(newest)} was already requested")
        request = dg.RunRequest(run_key=f"{export.name}:{key}", tags=dict(tags))
        return dg.SensorResult(run_requests=[request], cursor=key)

    return new_rows
