"""The source sessions a step holds while it reads (`state/sessions.py`): taken from the run's own resources."""
import dagster as dg

from rivet_dagster.defs.names import DefinitionNames
from rivet_dagster.defs.sensors.crashed_runs import still_working
from rivet_dagster.state.sessions import SessionSlots, take_sessions


def hold_sessions(context: dg.OpExecutionContext, names: DefinitionNames, wanted: int, what: str) -> SessionSlots:
    """Up to `wanted` sessions of the source's pool (at least one, waiting for it); the caller releases them."""
    source, state = getattr(context.resources, names.source), getattr(context.resources, names.state)
    return take_sessions(state, names.source_pool, source.config.max_sessions, wanted, context.run.run_id,
                         still_working(context.instance, context.log), context.log, what)
