"""What a mode means, in one place: how its runs are partitioned, retried and automated, what one run
reads and supersedes, what reconcile counts, and how `rivet-dagster run` and `check` treat it.

A mode is one module (`full.py`, `incremental.py`, `chunked.py`, `time_window.py`) with a subclass of `Mode`,
registered in `modes/__init__.py`; everything else asks `mode_of(export)`. The defaults here are `full`'s.
"""
from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.config.query import UserQuery
from rivet_dagster.errors import RivetError
from rivet_dagster.source import queries
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.source.types import SourceColumn
from rivet_dagster.staging.scope import ReadScope
from rivet_dagster.state.store import StateStore


class ModeRefused(RivetError):
    """What a mode cannot do for this export (`--resume` without checkpoints); the message says why."""


class Mode:
    name: str = "full"
    range_key: str | None = None      # the export key naming the column a run reads by (`check` rates its index)
    has_chunks: bool = False          # a chunk plan, chunk checkpoints, `state chunks`, `parallel`
    commits_in_step: bool = False     # the step commits each partition as it finishes (else the IO manager, after)
    claims: bool = False              # a run claims each scope (chunk, window) before reading it (`state/claims.py`)

    # --- the asset: partitions and policies ---------------------------------------------------------------------
    def partitions(self, config: RivetConfig, export: ExportConfig) -> dg.PartitionsDefinition | None:
        return None

    def backfill_policy(self, export: ExportConfig) -> dg.BackfillPolicy | None:
        return None

    # --- automation ------------------------------------------------------------------------------------------------
    def sensors(self, config: RivetConfig, export: ExportConfig, source: SourceDatabase, state: StateStore,
                tags: Mapping[str, str]) -> list[dg.SensorDefinition]:
        return []

    def automation(self, config: RivetConfig, export: ExportConfig) -> dg.AutomationCondition | None:
        """`schedule:` (cron, UTC): materialize the export after each tick."""
        return dg.AutomationCondition.on_cron(export.schedule) if export.schedule else None

    # --- one run -------------------------------------------------------------------------------------------------
    def scope(self, export: ExportConfig, source: SourceDatabase, state: StateStore | None, query: UserQuery,
              columns: list[SourceColumn] | None, log, partition_key: str | None) -> ReadScope:
        """What this run reads and what its files supersede."""
        return ReadScope(queries.full(source, query), replaces=self.supersedes(export, state, partition_key))

    def supersedes(self, export: ExportConfig, state: StateStore | None, partition_key: str | None
                   ) -> tuple[str, ...]:
        """A re-materialized partition replaces the files the partition held; other runs add files."""
        if partition_key is None or state is None:
            return ()
        return tuple(state.partition_objects(export.name, partition_key))

    def reconcile_scope(self, export: ExportConfig, source: SourceDatabase, query: UserQuery,
                        columns: list[SourceColumn] | None, manifest: dict, log) -> queries.ReadPlan:
        """The read whose row count a committed manifest must match: the run's own scope, read again."""
        return self.scope(export, source, None, query, columns, log, manifest["partition"]).plan

    # --- the command line -----------------------------------------------------------------------------------------
    def run_keys(self, config: RivetConfig, export: ExportConfig, instance: dg.DagsterInstance, state: StateStore,
                 resume: bool) -> list[str | dg.PartitionKeyRange | None]:
        """What one `rivet-dagster run` of the export covers, one run per item: the whole export, once."""
        return [None]

    def strategy(self, export: ExportConfig) -> str:
        """`check`'s one-line description of the SQL a run executes."""
        return "full scan: the whole query on every run"

    def range_column(self, export: ExportConfig) -> str | None:
        return getattr(export, self.range_key) if self.range_key else None

    def key_range_column(self, export: ExportConfig) -> str | None:
        """A column whose MIN..MAX the mode cuts into ranges (`check` reports how sparse it is)."""
        return None
