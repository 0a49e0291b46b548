"""`incremental`: each run exports the rows past the stored cursor, and the cursor advances only once they are
committed. A run that crashed after opening its window left it pending: the next run re-exports exactly that
window, and its files replace what the crashed run left (exactly once, where Rivet is at-least-once)."""
from __future__ import annotations

import json
from collections.abc import Mapping

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from rivet_dagster.commit.manifest import manifest_name
from rivet_dagster.config.errors import ConfigError
from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.config.query import UserQuery
from rivet_dagster.modes.base import Mode
from rivet_dagster.modes.new_rows import build_new_rows_sensor
from rivet_dagster.source import queries
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.source.types import SourceColumn, bind_type, query_column
from rivet_dagster.staging.scope import ReadScope
from rivet_dagster.state.cursors import Window, decode
from rivet_dagster.state.store import StateStore


class Incremental(Mode):
    name = "incremental"
    range_key = "cursor_column"
    claims = True

    def sensors(self, config: RivetConfig, export: ExportConfig, source: SourceDatabase, state: StateStore,
                tags: Mapping[str, str]) -> list[dg.SensorDefinition]:
        return [build_new_rows_sensor(config, export, source, state, tags)]

    def scope(self, export: ExportConfig, source: SourceDatabase, state: StateStore | None, query: UserQuery,
              columns: list[SourceColumn] | None, log, partition_key: str | None) -> ReadScope:
        cast = self._cursor_type(export, columns)
        pending = state.pending_window(export.name)
        if pending is not None:
            log.warning(f"{export.name}: a previous run stopped after opening the window ({pending.after}, "
                        f"{pending.up_to}]; re-exporting exactly that window; its files then replace what that run "
                        "left")
            plan = queries.incremental(source, query, export.cursor_column, cast, pending.after, pending.up_to)
            return CursorScope(plan, replaces=(*pending.files, manifest_name(pending.file_stem)),
                               skip_when_empty=True, pending=pending)
        after = state.cursor(export.name)
        return CursorScope(queries.incremental(source, query, export.cursor_column, cast, after),
                           skip_when_empty=True, after=after, high_water=HighWater(export.cursor_column))

    def reconcile_scope(self, export: ExportConfig, source: SourceDatabase, query: UserQuery,
                        columns: list[SourceColumn] | None, manifest: dict, log) -> queries.ReadPlan:
        """The cursor window the manifest's files hold."""
        typed = manifest["cursor_window"]["typed"]
        after = decode(json.dumps(typed["after"])) if typed["after"] else None
        return queries.incremental(source, query, export.cursor_column, self._cursor_type(export, columns), after,
                                   decode(json.dumps(typed["up_to"])))

    def strategy(self, export: ExportConfig) -> str:
        return f"cursor range: {export.cursor_column} > last cursor, in {export.cursor_column} order"

    @staticmethod
    def _cursor_type(export: ExportConfig, columns: list[SourceColumn] | None) -> str | None:
        return bind_type(query_column(columns, export.cursor_column, export.name, "cursor_column"))


class CursorScope(ReadScope):
    """Rows in (after, newest]: the newest cursor value is found while staging; a pending window is fixed."""

    def __init__(self, plan: queries.ReadPlan, *, replaces: tuple[str, ...] = (), skip_when_empty: bool = True,
                 pending: Window | None = None, after=None, high_water: HighWater | None = None):
        super().__init__(plan, replaces=replaces, skip_when_empty=skip_when_empty)
        self.pending, self.after, self.high_water = pending, after, high_water

    def observe(self, batch: pa.RecordBatch) -> None:
        if self.high_water is not None:
            self.high_water.update(batch)

    def window(self, file_stem: str) -> Window | None:
        if self.pending is not None:
            return self.pending
        if self.high_water is None or self.high_water.value is None:
            return None
        return Window(self.after, self.high_water.value, file_stem, ())


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
            raise ConfigError(f"cursor_column '{self.column}' is a {values.type}; a cursor must be a number, text, "
                             "a date or a timestamp")
        newest = pc.max(values).as_py()
        if newest is not None and (self.value is None or newest > self.value):
            self.value = newest
