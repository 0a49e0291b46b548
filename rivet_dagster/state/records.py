"""The rows the state store keeps for each committed file and each run (Rivet's `file_manifest` and
`export_metrics`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class FileRecord:
    run_id: str
    export_name: str
    file_name: str
    uri: str
    row_count: int
    bytes: int
    format: str
    compression: str | None
    checksum: str
    partition_key: str | None = None


@dataclass
class MetricRecord:
    export_name: str
    run_id: str
    status: str
    duration_ms: int
    total_rows: int = 0
    peak_rss_mb: int | None = None
    error_message: str | None = None
    tuning_profile: str | None = None
    format: str | None = None
    mode: str | None = None
    files_produced: int = 0
    bytes_written: int = 0
    retries: int = 0
    validated: bool | None = None
    schema_changed: bool | None = None
    partition_key: str | None = None
    run_at: str = field(default_factory=utc_now)
