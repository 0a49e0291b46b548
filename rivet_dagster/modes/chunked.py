"""`chunked`: the query cut into inclusive ranges of `chunk_column` (or of row numbers, `chunk_dense`), each a
dynamic partition. A run takes a range of chunks (a backfill is one run) and works through them with `parallel`
workers (`defs/chunk_step.py`): each chunk is tried `chunk_max_attempts` times, committed and checkpointed on its
own and reported as its partition's materialization, so "failed and missing" redoes exactly the rest."""
from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.config.query import UserQuery
from rivet_dagster.config.tuning import EffectiveTuning
from rivet_dagster.modes.base import Mode, ModeRefused
from rivet_dagster.modes.chunk_plan import chunk_range, partitions_name, register_plan
from rivet_dagster.modes.chunk_planner import build_chunk_planner_sensor
from rivet_dagster.source import queries
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.source.types import SourceColumn, bind_type, query_column
from rivet_dagster.staging.scope import ReadScope
from rivet_dagster.state.store import StateStore


class Chunked(Mode):
    name = "chunked"
    range_key = "chunk_column"
    has_chunks = True
    commits_in_step = True
    claims = True

    def partitions(self, config: RivetConfig, export: ExportConfig) -> dg.DynamicPartitionsDefinition:
        return dg.DynamicPartitionsDefinition(name=partitions_name(config, export))

    def backfill_policy(self, export: ExportConfig) -> dg.BackfillPolicy:
        """One run per backfill (per contiguous range of it): no process per chunk."""
        return dg.BackfillPolicy.single_run()

    def attempts(self, export: ExportConfig, tuning: EffectiveTuning) -> int:
        """Tries of each chunk in a run: `chunk_max_attempts` (default max_retries + 1), as Rivet's claim limit."""
        return export.chunk_max_attempts or tuning.max_retries + 1

    def sensors(self, config: RivetConfig, export: ExportConfig, source: SourceDatabase, state: StateStore,
                tags: Mapping[str, str]) -> list[dg.SensorDefinition]:
        return [build_chunk_planner_sensor(config, export, source, state)]

    def scope(self, export: ExportConfig, source: SourceDatabase, state: StateStore | None, query: UserQuery,
              columns: list[SourceColumn] | None, log, partition_key: str | None) -> ReadScope:
        start, end = chunk_range(partition_key)
        column = query_column(columns, export.chunk_column, export.name, "chunk_column")
        plan = queries.chunk(source, query, export.chunk_column, bind_type(column), start, end, export.chunk_dense)
        return ReadScope(plan, replaces=self.supersedes(export, state, partition_key),
                         checkpoint=self.checkpoints(export))

    def run_keys(self, config: RivetConfig, export: ExportConfig, instance: dg.DagsterInstance, state: StateStore,
                 resume: bool) -> list[dg.PartitionKeyRange]:
        """Every chunk of this config's plan in one run (the instance may hold another config's same-named keys,
        so one run per contiguous range of them); with `--resume`, those not completed."""
        register_plan(instance, config, export, SourceDatabase(config.source, config.base_dir), state)
        keys = [task["chunk_key"] for task in state.chunk_tasks(export.name)]
        return contiguous_ranges(instance.get_dynamic_partitions(partitions_name(config, export)),
                                 self._resumed(export, state, keys) if resume else keys)

    def _resumed(self, export: ExportConfig, state: StateStore, keys: list[str]) -> list[str]:
        if not export.chunk_checkpoint:
            raise ModeRefused(f"export '{export.name}': --resume needs chunk_checkpoint: true (no chunk progress is "
                              "recorded without it)")
        done = {t["chunk_key"] for t in state.chunk_tasks(export.name) if t["status"] == "completed"}
        pending = [key for key in keys if key not in done]
        if not pending:
            raise ModeRefused(f"export '{export.name}': --resume but no in-progress chunk checkpoint (all "
                              f"{len(keys)} chunks are completed); run without --resume to export again")
        return pending

    def checkpoints(self, export: ExportConfig) -> bool:
        return export.chunk_checkpoint

    def strategy(self, export: ExportConfig) -> str:
        if export.chunk_dense:
            return (f"row-number ranges: ROW_NUMBER() in {export.chunk_column} order, {export.chunk_size} rows per "
                    "chunk")
        return f"chunk ranges: {export.chunk_column} from start to end of each chunk, {export.chunk_size} per chunk"

    def key_range_column(self, export: ExportConfig) -> str | None:
        """The column whose MIN..MAX the chunks cut (`check` measures how sparse it is); none for row numbers."""
        return None if export.chunk_dense else export.chunk_column


def contiguous_ranges(ordered: list[str], wanted: list[str]) -> list[dg.PartitionKeyRange]:
    """`wanted` as the fewest ranges of consecutive keys in `ordered` (Dagster's order: insertion)."""
    wanted_set, ranges, start, previous = set(wanted), [], None, None
    for key in ordered:
        if key in wanted_set:
            start, previous = start or key, key
        elif start is not None:
            ranges.append(dg.PartitionKeyRange(start, previous))
            start = None
    if start is not None:
        ranges.append(dg.PartitionKeyRange(start, previous))
    return ranges
