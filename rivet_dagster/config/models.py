"""The rivet.yaml schema: the config and its exports (their nested blocks are in `sections.py`), Rivet's keys and
defaults, validated strictly (unknown keys are errors).

Cross-field rules raise `KeyedError(key, message)` so the loader can point at the exact key and line.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field, field_validator, model_validator

from rivet_dagster.config.asset_settings import AssetSettings, valid_cron
from rivet_dagster.config.errors import ConfigError, KeyedError, format_key, line_for
from rivet_dagster.config.query import UserQuery
from rivet_dagster.config.resolved import ResolvedExport, bound_query, effective_tuning, shown_params
from rivet_dagster.config.sections import (DestinationConfig, MetaColumns, NotificationsConfig, PartitioningConfig,
                                           QualityConfig, SensorConfig, SourceConfig, StateConfig, Strict, TuningConfig)
from rivet_dagster.config.tuning import EffectiveTuning

CONFIG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
EXPORT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


# What the schema knows of each mode (what a mode *does* is in `modes/`): the keys it requires, the keys only one
# mode may use, and the modes whose runs commit several file sets (stdout has no boundary between them).
MODE_KEYS = {"full": (), "incremental": ("cursor_column",), "chunked": ("chunk_column",),
             "time_window": ("time_column", "days_window")}
ONLY_IN_MODE = {"partitioning": "time_window", "sensor": "incremental", "chunk_dense": "chunked"}
ONLY_IN_MODE_WHY = {"sensor": " (it polls the cursor column)"}
SPLIT_MODES = ("chunked",)
UNSCHEDULED_MODES = ("chunked",)  # its partitions are chunks: a backfill or `rivet-dagster run` runs them, not a cron
RETAINED_MODES = ("full", "time_window")  # each run a whole copy: older ones may go (an incremental file is new rows)


class ExportConfig(Strict):
    name: str
    query: str | None = None
    query_file: str | None = None
    mode: Literal["full", "incremental", "chunked", "time_window"] = "full"
    cursor_column: str | None = None
    chunk_column: str | None = None
    chunk_dense: bool = False
    chunk_size: int = Field(100_000, gt=0)
    parallel: int = Field(1, gt=0)
    chunk_checkpoint: bool = False
    chunk_max_attempts: int | None = Field(None, gt=0)
    time_column: str | None = None
    time_column_type: Literal["timestamp", "unix"] = "timestamp"
    days_window: int | None = Field(None, gt=0)
    format: Literal["parquet", "csv"]
    compression: Literal["zstd", "snappy", "gzip", "lz4", "none"] = "zstd"
    compression_level: int | None = None
    skip_empty: bool = False
    keep_last: int | None = Field(None, gt=0)  # rivet-dagster: retention, the latest N file sets (RETAINED_MODES)
    max_file_size: str | int | None = None
    meta_columns: MetaColumns = Field(default_factory=MetaColumns)
    quality: QualityConfig | None = None
    on_schema_drift: Literal["warn", "fail"] = "warn"  # Rivet 0.10's key: fail stops the run before the commit
    # rivet-dagster: the validate / reconcile asset checks (on every export) also run with each materialization
    validate_files: bool = Field(False, alias="validate")
    reconcile: bool = False
    destination: DestinationConfig
    tuning: TuningConfig | None = None
    sensor: SensorConfig | None = None     # rivet-dagster: incremental exports only
    partitioning: PartitioningConfig | None = None  # rivet-dagster: time_window exports as time partitions
    schedule: str | None = None            # rivet-dagster: a cron expression (UTC) that materializes the export
    dagster: AssetSettings | None = None   # rivet-dagster: Dagster's asset attributes for this export

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str):
        if not EXPORT_NAME.fullmatch(value):
            raise ValueError(f"export name '{value}' must start with a letter or '_' and contain only letters, "
                             "digits and '_' (it names the Dagster asset and the output files)")
        return value

    @model_validator(mode="after")
    def _export_rules(self):
        if self.query is None and self.query_file is None:
            raise KeyedError("query", "must specify 'query' or 'query_file'")
        if self.query is not None and self.query_file is not None:
            raise KeyedError("query_file", "specify either 'query' or 'query_file', not both")
        for key in MODE_KEYS[self.mode]:
            if key == "days_window" and self.partitioning is not None:
                continue  # partitions give the windows

            if getattr(self, key) is None:
                raise KeyedError(key, f"{self.mode} mode requires {key}")
        for key in ONLY_IN_MODE:
            if getattr(self, key) not in (None, False) and self.mode != ONLY_IN_MODE[key]:
                raise KeyedError(key, f"{key} is only valid with mode: {ONLY_IN_MODE[key]}"
                                      + ONLY_IN_MODE_WHY.get(key, ""))
        if self.partitioning is not None and self.schedule is not None:
            raise KeyedError("schedule", "a partitioned time_window export is scheduled per window already; remove "
                                         "'schedule'")
        if self.schedule is not None and self.mode in UNSCHEDULED_MODES:
            raise KeyedError("schedule", "a chunked export's chunks are partitions: run them with a backfill or "
                                         "`rivet-dagster run`, or automate them with dagster.automation_condition")
        if self.schedule is not None and self.dagster is not None and self.dagster.automation_condition is not None:
            raise KeyedError("schedule", "'schedule' is this export's automation_condition (on_cron); give one of "
                                         "the two")
        if self.schedule is not None and not valid_cron(self.schedule):
            raise KeyedError("schedule", f"'{self.schedule}' is not a valid cron expression (e.g. '0 3 * * *')")
        if self.keep_last is not None:
            self.check_retention()
        if self.compression_level is not None:
            ranges = {"zstd": (1, 22), "gzip": (0, 10)}
            if self.compression not in ranges:
                raise KeyedError("compression_level", "compression_level is only supported for zstd and gzip")
            low, high = ranges[self.compression]
            if not low <= self.compression_level <= high:
                raise KeyedError("compression_level", f"{self.compression} compression_level must be "
                                                      f"{low}..{high}, got {self.compression_level}")
        if self.max_file_size is not None:
            self.max_file_size_bytes  # noqa: B018 - validates the size string
        if self.destination.type == "stdout" and self.validate_files:
            raise KeyedError("validate", "stdout keeps no files to validate")
        if self.destination.type == "stdout" and (self.mode in SPLIT_MODES or self.max_file_size is not None
                                                  or self.partitioning is not None):
            raise KeyedError("destination.type", "stdout has no commit boundary between files: it cannot be "
                                                 "used with mode: chunked, max_file_size or partitioning (a "
                                                 "backfill would concatenate windows)")
        return self

    def check_retention(self) -> None:
        """`keep_last` counts whole copies of the export: a full run's, a trailing window's."""
        if self.mode not in RETAINED_MODES:
            raise KeyedError("keep_last", f"keep_last is only valid with mode: full or time_window; each {self.mode} "
                                          "file set holds rows no other one holds, so removing one loses data")
        if self.partitioning is not None:
            raise KeyedError("keep_last", "a partitioned export keeps one file set per window already (a window "
                                          "materialized again replaces its files); remove 'keep_last'")
        if self.destination.type == "stdout":
            raise KeyedError("keep_last", "stdout keeps no files to remove")

    @property
    def max_file_size_bytes(self) -> int | None:
        """`512MB`, `1GB`, `20KB`, `100B` or bare bytes; binary units (KB = 1024), fractions allowed."""
        if self.max_file_size is None:
            return None
        match = SIZE.match(str(self.max_file_size))
        if not match:
            raise KeyedError("max_file_size", f"invalid max_file_size '{self.max_file_size}' "
                                              "(examples: 512MB, 1GB, 20KB, 1048576)")
        unit = (match.group(2) or "").lower().rstrip("b").rstrip("i")
        size = int(float(match.group(1)) * SIZE_UNITS[unit])
        if size <= 0:
            raise KeyedError("max_file_size", f"invalid max_file_size '{self.max_file_size}' (must be > 0)")
        return size


class RivetConfig(Strict):
    source: SourceConfig
    exports: list[ExportConfig]
    notifications: NotificationsConfig | None = None
    parallel_exports: bool = False
    parallel_export_processes: bool = False
    staging_dir: str | None = None  # rivet-dagster: where parts are staged before upload (default: system temp)
    state: StateConfig | None = None  # rivet-dagster: the state store (default: $RIVET_STATE_URL, else SQLite)
    name: str | None = None         # rivet-dagster: names this config's resources, job and sensors in a code location
    dagster: AssetSettings | None = None  # rivet-dagster: Dagster's asset attributes for every export
    # Set by the loader, not by the user: where relative paths resolve from.
    base_dir: Path = Field(default=Path("."), exclude=True)
    config_file: str | None = Field(default=None, exclude=True)
    key_lines: dict[tuple, int] = Field(default_factory=dict, exclude=True, repr=False)
    params: dict[str, str] = Field(default_factory=dict, exclude=True, repr=False)  # build_definitions(params=)
    resolved: dict[str, ResolvedExport] = Field(default_factory=dict, exclude=True, repr=False)  # per export name

    @field_validator("exports")
    @classmethod
    def _some_exports(cls, value: list[ExportConfig]):
        if not value:
            raise ValueError("there are no exports; add at least one under 'exports'")
        return value

    @field_validator("name")
    @classmethod
    def _safe_config_name(cls, value: str | None):
        if value is not None and not CONFIG_NAME.fullmatch(value):
            raise ValueError(f"name '{value}' must start with a letter and contain only letters, digits and '_' "
                             "(it names the config's resources, job and sensors)")
        return value

    @model_validator(mode="after")
    def _export_rules(self):
        seen: set[str] = set()
        for i, export in enumerate(self.exports):
            if export.name in seen:
                raise KeyedError(f"exports[{i}].name", f"duplicate export name '{export.name}'")
            seen.add(export.name)
            tuning = effective_tuning(self.source, export)
            if tuning.batch_size is not None and tuning.batch_size_memory_mb is not None:
                raise KeyedError(f"exports[{i}].tuning", f"export '{export.name}': effective tuning has both "
                                                          "batch_size and batch_size_memory_mb (mutually exclusive)")
        return self

    def error(self, key_path: tuple, message: str) -> ConfigError:
        """A ConfigError pointing at a key of this config (file and line where it was loaded from)."""
        return ConfigError(message, file=self.config_file, line=line_for(self.key_lines, key_path),
                           key=format_key(key_path))

    def tuning_for(self, export: ExportConfig) -> EffectiveTuning:
        return self.resolved[export.name].tuning

    def export(self, name: str) -> ExportConfig:
        for export in self.exports:
            if export.name == name:
                return export
        known = ", ".join(e.name for e in self.exports)
        raise ConfigError(f"export '{name}' not found in config (exports: {known})", file=self.config_file)

    def asset_settings(self, export: ExportConfig) -> AssetSettings:
        """The export's `dagster:` block over the config's."""
        return (export.dagster or AssetSettings()).over(self.dagster)

    def asset_key(self, export: ExportConfig) -> dg.AssetKey:
        """`<key_prefix...>/<export name>`: what every definition of the export refers to it by."""
        return dg.AssetKey([*(self.asset_settings(export).key_prefix or []), export.name])

    def definition_name(self, export: ExportConfig) -> str:
        """The export's op and the prefix of its checks' and sensors' names: `billing__orders` for
        key billing/orders, so exports of the same name in two configs don't collide in one code location."""
        return self.asset_key(export).to_python_identifier()

    def query_template(self, export: ExportConfig) -> str:
        """The export's SQL as written (inline, or `query_file` as read at load), `${KEY}`s kept."""
        return self.resolved[export.name].query_template

    def query_for(self, export: ExportConfig, run_params: Mapping[str, str] | None = None) -> UserQuery:
        """The SQL a run executes, its `${KEY}`s bound (`resolved.bound_query`)."""
        return bound_query(self.resolved[export.name], self.source.type, self.params, run_params)

    def params_used(self, export: ExportConfig, run_params: Mapping[str, str] | None = None) -> dict[str, str]:
        """The `${KEY}`s of the export's query with the values a run gives them, secrets shown as ***."""
        return shown_params(self.resolved[export.name], self.params, run_params)
