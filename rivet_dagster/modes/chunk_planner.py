"""`<export>_chunk_planner`: keeps a chunked export's partitions in step with its source.

Each tick computes the chunk plan (MIN/MAX of the chunk column, or COUNT with chunk_dense) and adds the
chunk keys that are missing. A changed plan (fingerprint mismatch) fails the tick with instructions instead
of mixing plans.
"""
import dagster as dg

from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.modes.chunk_plan import missing_keys, partitions_name
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.state.store import StateStore

PLANNER_INTERVAL_S = 600


def build_chunk_planner_sensor(config: RivetConfig, export: ExportConfig, source: SourceDatabase,
                               state: StateStore) -> dg.SensorDefinition:
    @dg.sensor(name=f"{config.definition_name(export)}_chunk_planner", minimum_interval_seconds=PLANNER_INTERVAL_S,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description=f"Adds the missing chunk partitions of '{export.name}' (chunk_size {export.chunk_size}).")
    def chunk_planner(context: dg.SensorEvaluationContext):
        missing, plan = missing_keys(context.instance, config, export, source, state)
        if not missing:
            return dg.SkipReason(f"all {len(plan.ranges)} chunks are planned")
        return dg.SensorResult(dynamic_partitions_requests=[
            dg.AddDynamicPartitionsRequest(partitions_name(config, export), missing)])

    return chunk_planner
