"""What one run of an export reads, per mode: the whole query (full), rows after the stored cursor or a
pending window to repair (incremental), one chunk's key range (chunked), one time window (time_window)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.compute as pc
from dagster import TimeWindow

from rivet_dagster.config.models import ExportConfig
from rivet_dagster.config.query import UserQuery
from rivet_dagster.source import queries
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.source.types import SourceColumn
from rivet_dagster.state.cursors import Window
from rivet_dagster.state.store import StateStore
from rivet_dagster.modes.chunk_plan import chunk_range


def plan_read(export: ExportConfig, source: SourceDatabase, state: StateStore, query: UserQuery,
          columns: list[SourceColumn] | None, log, time_window: TimeWindow | None, partition_key: str | None
          ) -> tuple[queries.ReadPlan, Window | None]:
    """The read for this run, and the pending window it repairs (incremental runs after a crash)."""
    if export.mode == "chunked":
        start, end = chunk_range(partition_key)
        column = query_column(export, columns, "chunk_column")
        return queries.chunk(source, query, export.chunk_column, bind_type(column), start, end,
                             export.chunk_dense), None
    if export.mode == "time_window":
        column = query_column(export, columns, "time_column")
        start, end = _window_bounds(export, column, time_window or trailing_window(export))
        return queries.time_window(source, query, export.time_column, bind_type(column), start, end), None
    if export.mode != "incremental":
        return queries.full(source, query), None
    cast = bind_type(query_column(export, columns, "cursor_column"))
    pending = state.pending_window(export.name)
    if pending is not None:
        log.warning(f"{export.name}: a previous run stopped after opening the window ({pending.after}, "
                    f"{pending.up_to}]; re-exporting exactly that window; its files then replace what that run left")
        return queries.incremental(source, query, export.cursor_column, cast, pending.after, pending.up_to), pending
    after = state.cursor(export.name)
    return queries.incremental(source, query, export.cursor_column, cast, after), None


def query_column(export: ExportConfig, columns: list[SourceColumn] | None, key: str) -> SourceColumn | None:
    """The query column named by `key` (cursor_column, time_column); None when the engine has no types."""
    name = getattr(export, key)
    if columns is None:
        return None
    for column in columns:
        if column.name == name:
            return column
    raise ValueError(f"export '{export.name}': {key} '{name}' is not a column of the query "
                     f"(columns: {', '.join(c.name for c in columns)})")


def bind_type(column: SourceColumn | None) -> str | None:
    """The type a bound value is read back as on PostgreSQL: the column's own."""
    return column.db_type.split(" ")[0] if column is not None else None


def trailing_window(export: ExportConfig) -> TimeWindow:
    """Without partitions, Rivet's trailing window: from UTC midnight `days_window` days ago, with no end."""
    start = (datetime.now(timezone.utc) - timedelta(days=export.days_window)).replace(
        hour=0, minute=0, second=0, microsecond=0)
    return TimeWindow(start, None)


def _window_bounds(export: ExportConfig, column: SourceColumn | None, window: TimeWindow):
    """[start, end) of this run (a partition's window is in the partitions' time zone). Instants are bound for
    time-zone-aware columns, wall-clock times for naive ones, epoch seconds for `time_column_type: unix`."""
    start, end = window.start, window.end
    if export.time_column_type == "unix":
        return int(start.timestamp()), (int(end.timestamp()) if end else None)
    if column is not None and pa.types.is_timestamp(column.arrow_type) and column.arrow_type.tz:
        return start, end
    return start.replace(tzinfo=None), (end.replace(tzinfo=None) if end else None)


class HighWater:
    """The largest cursor value exported, computed per batch in Arrow."""

    def __init__(self, column: str):
        self.column = column
        self.value = None

    def update(self, batch: pa.RecordBatch) -> None:
        values = batch.column(batch.schema.get_field_index(self.column))
        if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)
                or pa.types.is_decimal(values.type) or pa.types.is_temporal(values.type)
                or pa.types.is_string(values.type)):
            raise ValueError(f"cursor_column '{self.column}' is a {values.type}; a cursor must be a number, text, "
                             "a date or a timestamp")
        newest = pc.max(values).as_py()
        if newest is not None and (self.value is None or newest > self.value):
            self.value = newest
