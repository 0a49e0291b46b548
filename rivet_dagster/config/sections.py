"""The nested blocks of a rivet.yaml: source, destination, tuning, sensor, partitioning, meta columns, quality
and notifications, with Rivet's keys and defaults, validated strictly (unknown keys are errors). Cross-field rules
raise `KeyedError(key, message)` so the loader can point at the exact key and line."""
from __future__ import annotations

import zoneinfo
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rivet_dagster.config.errors import KeyedError


def known_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{value}' (use an IANA name such as UTC or Europe/Berlin)") from None
    return value


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
    max_sessions: int | None = Field(None, ge=1)  # rivet-dagster: connections at once, all runs (state/sessions.py)

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


STATE_URL_ENV = "RIVET_STATE_URL"  # Rivet's variable: a PostgreSQL state store for every config that names none


class StateConfig(Strict):
    """rivet-dagster: where the state store lives. `path` is an SQLite file (relative to the config; default
    `.rivet_state.db` beside it); `url` / `url_env` name a shared PostgreSQL database (`postgresql://...`). A
    password goes in `url_env` or libpq's own PGPASSWORD / .pgpass, so it never shows in Dagster's UI.
    `lease_seconds`: how long a run's claim on a chunk or window outlives its last renewal, so how soon another run
    may take over the work of one that crashed or stalled (`state/claims.py`)."""
    path: str | None = None
    url: str | None = None
    url_env: str | None = None
    lease_seconds: float | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value):
        if isinstance(value, str):  # `state: postgresql://...` or `state: ./state.db`
            return {"url": value} if "://" in value else {"path": value}
        return value

    @model_validator(mode="after")
    def _one_place(self):
        given = [k for k in ("path", "url", "url_env") if getattr(self, k) is not None]
        if len(given) > 1 or not (given or self.lease_seconds):
            raise KeyedError(given[1] if given else "url", "specify exactly one of 'path', 'url' or 'url_env'")
        if self.url is not None and urlsplit(self.url).password is not None:
            raise KeyedError("url", "the state store's url holds a password; give the url through 'url_env' (or "
                                    "the password through PGPASSWORD or ~/.pgpass) so it never shows in Dagster's UI")
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
        return known_zone(value)


class MetaColumns(Strict):
    exported_at: bool = False
    row_hash: bool = False
    row_hash_version: Literal[1, 2] = 1  # rivet-dagster: 2 encodes fixed-width values as bytes, not text
    run_id: bool = False
    source_file: bool = False  # in Rivet's own e2e configs, which Rivet ignores: a database export has no source file

    @model_validator(mode="after")
    def _version_of_a_hash(self):
        if self.row_hash_version != 1 and not self.row_hash:
            raise KeyedError("row_hash_version", "row_hash_version applies to a row hash: set row_hash: true")
        return self


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
