"""What an export step hands to its IO manager: complete staged part files plus what to record about them."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow as pa
from dagster import TimeWindow

from rivet_dagster.config.sections import DestinationConfig
from rivet_dagster.staging.parts import StagedPart
from rivet_dagster.staging.quality import QualityResult
from rivet_dagster.staging.writers import EXTENSIONS
from rivet_dagster.state.claims import Claim
from rivet_dagster.state.cursors import Window


@dataclass
class StagedExport:
    export_name: str
    run_id: str
    mode: str
    format: str
    compression: str | None
    destination: DestinationConfig
    schema: pa.Schema
    parts: list[StagedPart]
    rows: int
    status: str                      # success | skipped
    tuning_profile: str
    extracted_at: datetime           # UTC, after extraction: the timestamp in the file names (as Rivet)
    extract_seconds: float
    peak_rss_mb: int
    staging_dir: Path                # this run's staging folder, removed once everything is committed
    max_retries: int = 0             # transient destination errors: retries, backing off from retry_backoff_ms
    retry_backoff_ms: int = 0
    cursor_column: str | None = None
    quality: QualityResult | None = None  # the `quality:` gates on what was staged, judged before the commit
    schema_drift: dict | None = None      # the columns against the last committed ones, judged before the commit
    file_stem: str = ""              # `<export>[_<partition>]_<UTC timestamp>_<run id[:8]>`
    window: Window | None = None     # incremental: the cursor window (after, up_to] these files hold
    time_window: TimeWindow | None = None  # time_window: [start, end) these files hold (end None: open)
    replaces: tuple[str, ...] = ()   # committed files this materialization supersedes (same window / partition)
    partition_key: str | None = None
    keep_last: int | None = None     # retention: the export keeps its latest N unpartitioned file sets
    checkpoint: bool = False         # chunked with chunk_checkpoint: mark the chunk completed after the manifest
    claim: Claim | None = None       # the run's claim on this scope (chunk, window), which fences its commit
    uris: list[str] = field(default_factory=list)  # filled in by the commit
    manifest_uri: str | None = None
    retries: int = 0                                # destination retries the commit spent
    source_retries: int = 0                         # whole reads retried after a transient source error

    def file_name(self, index: int) -> str:
        """`<stem>[_part<i>].<ext>`: the stem carries a timestamp and the run id, so reruns never collide."""
        part = f"_part{index}" if len(self.parts) > 1 else ""
        return f"{self.file_stem}{part}.{EXTENSIONS[self.format]}"

    @property
    def file_names(self) -> list[str]:
        return [self.file_name(i) for i in range(len(self.parts))]

    @property
    def bytes(self) -> int:
        return sum(p.bytes for p in self.parts)

    def summary(self) -> str:
        """The step's log line for these files."""
        rate = self.rows / max(self.extract_seconds, 1e-9)
        return (f"{self.export_name}: staged {self.rows:,} rows in {len(self.parts)} file(s) "
                f"({self.extract_seconds:.2f}s, {rate:,.0f} rows/s)"
                + (f"; cursor window ({self.window.after}, {self.window.up_to}]" if self.window else ""))

    def schema_columns(self) -> list[dict]:
        return [{"name": f.name, "type": str(f.type)} for f in self.schema]
