"""The SQLite state store as a Dagster resource: cursors, file manifest, run metrics, schema history.

Each call opens a short connection (WAL, busy timeout, synchronous=FULL) and writes in one transaction, so
the same store serves asset steps, sensors and the CLI, and a crash never leaves it half-written.
"""

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg

from .migrations import migrate


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


class StateStore(dg.ConfigurableResource):
    """`path` defaults to `.rivet_state.db` beside the config file (set by `build_definitions`)."""

    path: str = ".rivet_state.db"
    busy_timeout_ms: int = 30_000

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            migrate(conn)
            conn.row_factory = sqlite3.Row
            yield conn
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _insert(self, table: str, row: dict) -> None:
        with self.transaction() as conn:
            conn.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                         tuple(row.values()))

    # ---------------------------------------------------------------- writes, in the crash matrix's order
    def record_file(self, record: FileRecord) -> None:
        self._insert("file_manifest", {**asdict(record), "created_at": utc_now()})

    def record_metric(self, record: MetricRecord) -> None:
        self._insert("export_metrics", asdict(record))

    def record_schema(self, export_name: str, run_id: str, columns: list[dict]) -> bool:
        """Store the export's schema; returns True when it differs from the last one recorded."""
        columns_json = json.dumps(columns, sort_keys=True)
        with self.transaction() as conn:
            row = conn.execute("SELECT columns_json FROM export_schema WHERE export_name = ?",
                               (export_name,)).fetchone()
            if row is not None and row["columns_json"] == columns_json:
                return False
            now = utc_now()
            conn.execute("INSERT INTO export_schema (export_name, columns_json, updated_at) VALUES (?, ?, ?) "
                         "ON CONFLICT (export_name) DO UPDATE SET columns_json = excluded.columns_json, "
                         "updated_at = excluded.updated_at", (export_name, columns_json, now))
            conn.execute("INSERT INTO schema_history (export_name, run_id, columns_json, recorded_at) "
                         "VALUES (?, ?, ?, ?)", (export_name, run_id, columns_json, now))
            return row is not None

    # ---------------------------------------------------------------------------------------- reads
    def files(self, export_name: str | None = None, last: int = 50) -> list[dict]:
        return self._recent("file_manifest", export_name, last)

    def metrics(self, export_name: str | None = None, last: int = 20) -> list[dict]:
        return self._recent("export_metrics", export_name, last)

    def files_of_run(self, export_name: str, run_id: str) -> list[dict]:
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM file_manifest WHERE export_name = ? AND run_id = ? ORDER BY id",
                                (export_name, run_id)).fetchall()
        return [dict(r) for r in rows]

    def latest_run_files(self, export_name: str) -> list[dict]:
        """The files of the export's most recent committed run (what a downstream asset should read)."""
        with self.connect() as conn:
            row = conn.execute("SELECT run_id FROM file_manifest WHERE export_name = ? ORDER BY id DESC LIMIT 1",
                               (export_name,)).fetchone()
        return self.files_of_run(export_name, row["run_id"]) if row else []

    def _recent(self, table: str, export_name: str | None, last: int) -> list[dict]:
        where, args = ("WHERE export_name = ?", (export_name,)) if export_name else ("", ())
        with self.connect() as conn:
            rows = conn.execute(f"SELECT * FROM {table} {where} ORDER BY id DESC LIMIT ?", (*args, last)).fetchall()
        return [dict(r) for r in rows]
