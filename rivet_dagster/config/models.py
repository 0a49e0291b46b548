"""The rivet.yaml schema: Rivet's keys and defaults, validated strictly (unknown keys are errors).

Cross-field rules raise `KeyedError(key, message)` so the loader can point at the exact key and line.
"""
from __future__ import annotations

import os
import re
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rivet_dagster.config.errors import ConfigError, KeyedError, format_key, line_for
from rivet_dagster.config.query import UnsafeQuery, UserQuery, bind_params, check_read_only
from rivet_dagster.config.tuning import EffectiveTuning, merge_tuning

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

SECRET_NAME = re.compile(r"(?i)pass|pwd|secret|token|credential|auth|api_?key|private|cert|session|cookie|signature")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TuningConfig(Strict):
    profile: Literal["fast", "balanced", "safe"] | None = None
    batch_size: int | None = Field(None, gt=0)
    batch_size_memory_mb: int | None = Field(None, gt=0)
    throttle_ms: int | None = Field(None, ge=0)
    statement_timeout_s: int | None = Field(None, ge=0)
    max_retries: int | None = Field(None, ge=0)
    retry_backoff_ms: int | None = Field(None, ge=0)
    lock_timeout_s: int | None = Field(None, ge=0)
    memory_threshold_mb: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one_batch_rule(self):
        if self.batch_size is not None and self.batch_size_memory_mb is not None:
            raise KeyedError("batch_size_memory_mb", "batch_size and batch_size_memory_mb are mutually exclusive")
        return self


class SourceConfig(Strict):
    type: Literal["postgres", "mysql", "sqlite"]
    url: str | None = None
    url_env: str | None = None
    url_file: str | None = None
    host: str | None = None
    port: int | None = Field(None, gt=0, lt=65536)
    user: str | None = None
    database: str | None = None
    password: str | None = Field(None, repr=False)
    password_env: str | None = None
    tuning: TuningConfig | None = None

    @model_validator(mode="after")
    def _one_way_to_connect(self):
        url_keys = [k for k in ("url", "url_env", "url_file") if getattr(self, k) is not None]
        structured = [k for k in ("host", "port", "user", "database", "password", "password_env")
                      if getattr(self, k) is not None]
        if len(url_keys) > 1:
            raise KeyedError(url_keys[1], "specify exactly one of 'url', 'url_env', or 'url_file'")
        if url_keys and structured:
            raise KeyedError(structured[0], "use either URL-based config (url/url_env/url_file) or structured "
                                            "fields (host/user/database/...), not both")
        if self.password is not None and self.password_env is not None:
            raise KeyedError("password_env", "specify 'password' or 'password_env', not both")
        if not url_keys:
            if not structured:
                raise KeyedError("type", "must specify url, url_env, url_file, or structured fields "
                                         "(host/user/database)")
            required = ("database",) if self.type == "sqlite" else ("host", "user", "database")
            for key in required:
                if getattr(self, key) is None:
                    raise KeyedError(key, f"structured config requires '{key}'")
        return self


class DestinationConfig(Strict):
    type: Literal["local", "s3", "gcs", "stdout"]
    path: str | None = None
    bucket: str | None = None
    prefix: str | None = None
    region: str | None = None
    endpoint: str | None = None
    access_key_env: str | None = None
    secret_key_env: str | None = None
    credentials_file: str | None = None
    allow_anonymous: bool = False
    aws_profile: str | None = None    # s3: a named profile of ~/.aws (Rivet parsed it but never used it)

    @model_validator(mode="after")
    def _destination_rules(self):
        if self.type in ("s3", "gcs") and not self.bucket:
            raise KeyedError("bucket", f"{self.type.upper()} destination requires 'bucket'")
        if (self.access_key_env is None) != (self.secret_key_env is None):
            missing = "secret_key_env" if self.secret_key_env is None else "access_key_env"
            raise KeyedError(missing, "S3 requires both access_key_env and secret_key_env, or neither "
                                      "(use the default AWS credential chain)")
        if self.type in ("s3", "gcs") and any(part in (".", "..") for part in (self.prefix or "").split("/")):
            raise KeyedError("prefix", f"prefix '{self.prefix}' holds '.' or '..'; a prefix is a plain folder "
                                       "path inside the bucket")
        if self.aws_profile is not None and self.access_key_env is not None:
            raise KeyedError("aws_profile", "use either aws_profile or access_key_env / secret_key_env, not both")
        if self.allow_anonymous and self.credentials_file:
            raise KeyedError("allow_anonymous", "GCS allow_anonymous cannot be used together with credentials_file")
        return self

    @property
    def local_dir(self) -> str:
        """Rivet: a local destination writes under `path`, else `prefix`, else the working directory."""
        return self.path or self.prefix or "."


class SensorConfig(Strict):
    """rivet-dagster: the `<export>_new_rows` sensor of an incremental export runs, polling this often."""
    interval_seconds: int = Field(60, ge=1)


class PartitioningConfig(Strict):
    """rivet-dagster: time-window partitions for `mode: time_window` (one partition per window)."""
    granularity: Literal["hourly", "daily", "weekly", "monthly"] = "daily"
    start: str                      # first window, e.g. 2024-01-01 or 2024-01-01-00:00 (hourly)
    timezone: str = "UTC"           # windows are cut at this zone's midnight / hour
    end_offset: int = 0             # 0: up to the last closed window; 1: include the one in progress

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str):
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}' (use an IANA name such as UTC or Europe/Berlin)") from None
        return value


class MetaColumns(Strict):
    exported_at: bool = False
    row_hash: bool = False
    run_id: bool = False
    source_file: bool = False  # in Rivet's own e2e configs, which Rivet ignores: a database export has no source file


class QualityConfig(Strict):
    row_count_min: int | None = Field(None, ge=0)
    row_count_max: int | None = Field(None, ge=0)
    null_ratio_max: dict[str, float] = Field(default_factory=dict)
    unique_columns: list[str] = Field(default_factory=list)

    @field_validator("null_ratio_max")
    @classmethod
    def _ratios(cls, value: dict[str, float]):
        for column, ratio in value.items():
            if not 0.0 <= ratio <= 1.0:
                raise KeyedError(column, f"null ratio must be between 0 and 1, got {ratio}")
        return value


def _valid_cron(expression: str) -> bool:
    """What Dagster's ScheduleDefinition accepts (its own check, through its public API)."""
    try:
        dg.ScheduleDefinition(name="cron_probe", cron_schedule=expression, job_name="cron_probe")
    except dg.DagsterInvalidDefinitionError:
        return False
    return True


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
        if self.schedule is not None and not _valid_cron(self.schedule):
            raise KeyedError("schedule", f"'{self.schedule}' is not a valid cron expression (e.g. '0 3 * * *')")
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


class SlackConfig(Strict):
    webhook_url: str | None = Field(None, repr=False)
    webhook_url_env: str | None = None
    on: list[Literal["failure", "schema_change", "degraded"]] = Field(default_factory=lambda: ["failure"])
    base_url: str | None = None   # rivet-dagster: the Dagster UI's address, for a link to the run

    @model_validator(mode="after")
    def _one_url(self):
        if self.webhook_url is None and self.webhook_url_env is None:
            raise KeyedError("webhook_url", "slack requires 'webhook_url' or 'webhook_url_env'")
        return self


class NotificationsConfig(Strict):
    slack: SlackConfig | None = None


class RivetConfig(Strict):
    source: SourceConfig
    exports: list[ExportConfig]
    notifications: NotificationsConfig | None = None
    parallel_exports: bool = False
    parallel_export_processes: bool = False
    staging_dir: str | None = None  # rivet-dagster: where parts are staged before upload (default: system temp)
    name: str | None = None         # rivet-dagster: names this config's resources, job and sensors in a code location
    # Set by the loader, not by the user: where relative paths resolve from.
    base_dir: Path = Field(default=Path("."), exclude=True)
    config_file: str | None = Field(default=None, exclude=True)
    key_lines: dict[tuple, int] = Field(default_factory=dict, exclude=True, repr=False)
    params: dict[str, str] = Field(default_factory=dict, exclude=True, repr=False)  # build_definitions(params=)

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
            tuning = self.tuning_for(export)
            if tuning.batch_size is not None and tuning.batch_size_memory_mb is not None:
                raise KeyedError(f"exports[{i}].tuning", f"export '{export.name}': effective tuning has both "
                                                          "batch_size and batch_size_memory_mb (mutually exclusive)")
        return self

    def error(self, key_path: tuple, message: str) -> ConfigError:
        """A ConfigError pointing at a key of this config (file and line where it was loaded from)."""
        return ConfigError(message, file=self.config_file, line=line_for(self.key_lines, key_path),
                           key=format_key(key_path))

    def tuning_for(self, export: ExportConfig) -> EffectiveTuning:
        source = self.source.tuning.model_dump(exclude_none=True) if self.source.tuning else None
        own = export.tuning.model_dump(exclude_none=True) if export.tuning else None
        return merge_tuning(source, own)

    def export(self, name: str) -> ExportConfig:
        for export in self.exports:
            if export.name == name:
                return export
        raise KeyError(f"export '{name}' not found in config")

    def query_template(self, export: ExportConfig) -> str:
        """The export's SQL as written (inline, or `query_file` relative to the config file), `${KEY}`s kept."""
        if export.query is not None:
            return export.query
        return (self.base_dir / export.query_file).read_text()

    def query_for(self, export: ExportConfig, run_params: Mapping[str, str] | None = None) -> UserQuery:
        """The SQL a run executes, without a trailing `;` (it is wrapped as a subquery), its `${KEY}`s bound as
        parameters (`config/query.py`) with values from the run's params, then build_definitions' params, then the
        environment. A missing key, a key where its value would become SQL, or a query that is not a SELECT fails
        before any query runs, naming the export's key and line."""
        index = self.exports.index(export)
        key = ("exports", index, "query" if export.query is not None else "query_file")
        where = {"file": self.config_file, "line": line_for(self.key_lines, key), "key": f"exports[{index}].{key[2]}"}
        values = {**os.environ, **self.params, **(run_params or {})}
        template = self.query_template(export).strip().rstrip(";").strip()
        for name in dict.fromkeys(m.strip() for m in re.findall(r"\$\{([^}]*)\}", template)):
            if name not in values:
                raise ConfigError(f"variable '${{{name}}}' is not set (pass it as a run param or set the environment "
                                  "variable)", **where)
        try:
            check_read_only(template)
            return bind_params(template, values, self.source.type)
        except UnsafeQuery as exc:
            raise ConfigError(str(exc), **where) from None

    def params_used(self, export: ExportConfig, run_params: Mapping[str, str] | None = None) -> dict[str, str]:
        """The `${KEY}`s of the export's query with the values a run gives them, secrets shown as ***."""
        values = {**os.environ, **self.params, **(run_params or {})}
        names = dict.fromkeys(m.strip() for m in re.findall(r"\$\{([^}]*)\}", self.query_template(export)))
        return {name: "***" if SECRET_NAME.search(name) else values.get(name, "") for name in names}
