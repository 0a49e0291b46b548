"""`time_window`: rows with `start <= time_column < end`. Without `partitioning:` a run reads Rivet's trailing
window (from UTC midnight `days_window` days ago, no end); with it each window is a Dagster time partition,
backfilled in one run (one file set per window) and scheduled once it has closed."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import dagster as dg
import pyarrow as pa

from rivet_dagster.commit.manifest import time_window_of
from rivet_dagster.config.errors import KeyedError
from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.config.query import UserQuery
from rivet_dagster.modes.base import Mode
from rivet_dagster.source import queries
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.source.types import SourceColumn, bind_type, query_column
from rivet_dagster.staging.scope import ReadScope
from rivet_dagster.state.store import StateStore

GRANULARITIES = {"hourly": dg.HourlyPartitionsDefinition, "daily": dg.DailyPartitionsDefinition,
                 "weekly": dg.WeeklyPartitionsDefinition, "monthly": dg.MonthlyPartitionsDefinition}


class TimeWindowMode(Mode):
    name = "time_window"
    range_key = "time_column"
    claims = True

    def partitions(self, config: RivetConfig, export: ExportConfig) -> dg.TimeWindowPartitionsDefinition | None:
        return self.windows(export)

    @staticmethod
    def windows(export: ExportConfig) -> dg.TimeWindowPartitionsDefinition | None:
        """The export's window partitions (its config alone defines them)."""
        p = export.partitioning
        if p is None:
            return None
        try:
            return GRANULARITIES[p.granularity](start_date=p.start, timezone=p.timezone, end_offset=p.end_offset)
        except Exception as exc:
            raise KeyedError("partitioning.start", str(exc)) from None

    def backfill_policy(self, export: ExportConfig) -> dg.BackfillPolicy | None:
        """A backfill (UI) or `--partition-range` (CLI) runs the whole range in one run."""
        return dg.BackfillPolicy.single_run() if export.partitioning else None

    def automation(self, config: RivetConfig, export: ExportConfig) -> dg.AutomationCondition | None:
        """A partitioned export materializes each window once it has closed: at the windows' own cron tick,
        the latest window (the one that just closed)."""
        if export.partitioning is None:
            return super().automation(config, export)
        windows = self.windows(export)
        return dg.AutomationCondition.on_cron(windows.get_cron_schedule(), windows.timezone)

    def scope(self, export: ExportConfig, source: SourceDatabase, state: StateStore | None, query: UserQuery,
              columns: list[SourceColumn] | None, log, partition_key: str | None) -> ReadScope:
        window = self.windows(export).time_window_for_partition_key(partition_key) if partition_key \
            else trailing_window(export)
        return ReadScope(self._read(export, source, query, columns, window), time_window=window,
                         replaces=self.supersedes(export, state, partition_key))

    def reconcile_scope(self, export: ExportConfig, source: SourceDatabase, query: UserQuery,
                        columns: list[SourceColumn] | None, manifest: dict, log) -> queries.ReadPlan:
        """The window the manifest records (a trailing window moves on; what was exported does not)."""
        return self._read(export, source, query, columns, time_window_of(manifest))

    @staticmethod
    def _read(export: ExportConfig, source: SourceDatabase, query: UserQuery, columns: list[SourceColumn] | None,
              window: dg.TimeWindow) -> queries.ReadPlan:
        column = query_column(columns, export.time_column, export.name, "time_column")
        start, end = _bounds(export, column, window)
        return queries.time_window(source, query, export.time_column, bind_type(column), start, end)

    def run_keys(self, config, export, instance, state, resume) -> list[str | None]:
        """The latest closed window of a partitioned export."""
        partitions = self.windows(export)
        return [partitions.get_last_partition_key()] if partitions is not None else [None]

    def strategy(self, export: ExportConfig) -> str:
        return f"time window: {export.time_column} >= window start and < window end"


def trailing_window(export: ExportConfig) -> dg.TimeWindow:
    """Rivet's trailing window: from UTC midnight `days_window` days ago, with no end."""
    start = (datetime.now(timezone.utc) - timedelta(days=export.days_window)).replace(
        hour=0, minute=0, second=0, microsecond=0)
    return dg.TimeWindow(start, None)


def _bounds(export: ExportConfig, column: SourceColumn | None, window: dg.TimeWindow):
    """[start, end) of this run (a partition's window is in the partitions' time zone). Instants are bound for
    time-zone-aware columns, wall-clock times for naive ones, epoch seconds for `time_column_type: unix`."""
    start, end = window.start, window.end
    if export.time_column_type == "unix":
        return int(start.timestamp()), (int(end.timestamp()) if end else None)
    if column is not None and pa.types.is_timestamp(column.arrow_type) and column.arrow_type.tz:
        return start, end
    return start.replace(tzinfo=None), (end.replace(tzinfo=None) if end else None)
