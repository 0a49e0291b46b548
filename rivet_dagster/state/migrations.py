"""The state store's schema, as numbered migrations applied in order and recorded in `schema_version`.

Tables keep Rivet's names and columns (so `state` / `metrics` read the same), plus what Dagster adds:
the partition key, the committed URI and a checksum per file, and the schema's full history. The scripts are
SQLite's; `ddl` renders them for PostgreSQL (64-bit integers and identity keys), so both backends climb the
same ladder.
"""
from __future__ import annotations

import re

MIGRATIONS: list[tuple[int, str]] = [
    (1, """
    CREATE TABLE export_state (
        export_name       TEXT PRIMARY KEY,
        last_cursor_value TEXT,
        last_run_at       TEXT
    );
    CREATE TABLE file_manifest (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id        TEXT NOT NULL,
        export_name   TEXT NOT NULL,
        partition_key TEXT,
        file_name     TEXT NOT NULL,
        uri           TEXT NOT NULL,
        row_count     INTEGER NOT NULL,
        bytes         INTEGER NOT NULL,
        format        TEXT NOT NULL,
        compression   TEXT,
        checksum      TEXT NOT NULL,
        created_at    TEXT NOT NULL
    );
    CREATE INDEX file_manifest_by_export ON file_manifest (export_name, id DESC);
    CREATE TABLE export_metrics (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        export_name    TEXT NOT NULL,
        run_id         TEXT NOT NULL,
        partition_key  TEXT,
        run_at         TEXT NOT NULL,
        duration_ms    INTEGER NOT NULL,
        total_rows     INTEGER NOT NULL DEFAULT 0,
        peak_rss_mb    INTEGER,
        status         TEXT NOT NULL CHECK (status IN ('success', 'failed', 'skipped')),
        error_message  TEXT,
        tuning_profile TEXT,
        format         TEXT,
        mode           TEXT,
        files_produced INTEGER NOT NULL DEFAULT 0,
        bytes_written  INTEGER NOT NULL DEFAULT 0,
        retries        INTEGER NOT NULL DEFAULT 0,
        validated      INTEGER,
        schema_changed INTEGER
    );
    CREATE INDEX export_metrics_by_export ON export_metrics (export_name, id DESC);
    CREATE TABLE export_schema (
        export_name  TEXT PRIMARY KEY,
        columns_json TEXT NOT NULL,
        updated_at   TEXT NOT NULL
    );
    CREATE TABLE schema_history (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        export_name  TEXT NOT NULL,
        run_id       TEXT NOT NULL,
        columns_json TEXT NOT NULL,
        recorded_at  TEXT NOT NULL
    );
    """),
    (2, """
    ALTER TABLE export_state ADD COLUMN cursor_json TEXT;
    CREATE TABLE pending_window (
        export_name TEXT PRIMARY KEY,
        run_id      TEXT NOT NULL,
        after_json  TEXT,
        up_to_json  TEXT NOT NULL,
        file_stem   TEXT NOT NULL,
        files_json  TEXT NOT NULL,
        created_at  TEXT NOT NULL
    );
    """),
    (3, """
    CREATE TABLE chunk_plan (
        export_name TEXT PRIMARY KEY,
        plan_hash   TEXT NOT NULL,
        created_at  TEXT NOT NULL
    );
    CREATE TABLE chunk_task (
        export_name  TEXT NOT NULL,
        chunk_key    TEXT NOT NULL,
        start_key    INTEGER NOT NULL,
        end_key      INTEGER NOT NULL,
        status       TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed')),
        attempts     INTEGER NOT NULL DEFAULT 0,
        rows_written INTEGER,
        files_json   TEXT,
        last_error   TEXT,
        updated_at   TEXT NOT NULL,
        PRIMARY KEY (export_name, chunk_key)
    );
    """),
    (4, """
    ALTER TABLE file_manifest ADD COLUMN manifest_uri TEXT;
    CREATE TABLE pending_commit (
        export_name   TEXT NOT NULL,
        run_id        TEXT NOT NULL,
        file_stem     TEXT NOT NULL,
        partition_key TEXT,
        files_json    TEXT NOT NULL,
        manifest_name TEXT,
        owner         TEXT,
        created_at    TEXT NOT NULL,
        PRIMARY KEY (export_name, run_id, file_stem)
    );
    """),
    (5, """
    CREATE TABLE claim (
        export_name TEXT NOT NULL,
        scope       TEXT NOT NULL,
        run_id      TEXT NOT NULL,
        owner       TEXT NOT NULL,
        fence       INTEGER NOT NULL,
        expires_ms  INTEGER NOT NULL,
        PRIMARY KEY (export_name, scope)
    );
    """),
]


LATEST = MIGRATIONS[-1][0]
VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)"


class NewerSchema(Exception):
    """The database was written by a newer version of the code; this one must not touch it."""

    def __init__(self, version: int):
        super().__init__(f"schema version {version}; this rivet-dagster knows up to {LATEST}")
        self.version = version


def ddl(script: str, dialect: str) -> list[str]:
    """A migration's statements for `dialect` ("sqlite" or "postgres"): on PostgreSQL every integer is 64-bit
    (row counts and bytes outgrow 32 bits) and an autoincrement key is an identity column."""
    if dialect == "postgres":
        script = script.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT GENERATED BY DEFAULT AS IDENTITY "
                                                                     "PRIMARY KEY")
        script = re.sub(r"\bINTEGER\b", "BIGINT", script)
    return [statement.strip() for statement in script.split(";") if statement.strip()]


def migrate(conn) -> int:
    """Bring the database to the newest version, each migration in its own exclusive transaction, so several
    processes may start at once (the second finds the step done). Returns the version. A database newer than the
    code is refused before anything is read or written (NewerSchema). `conn` is a backend's connection: SQL with
    `?` parameters, `exclusive(key)`, `has_table(name)` and `dialect`. A store already at the newest version is only
    read, so a user who may only read can still open it."""
    if conn.has_table("schema_version"):
        current = _version(conn)
        if current > LATEST:
            raise NewerSchema(current)
        if current == LATEST:
            return current
    with conn.exclusive("schema"):
        conn.execute(ddl(VERSION_TABLE, conn.dialect)[0])
        current = _version(conn)
    if current > LATEST:
        raise NewerSchema(current)
    for version, script in MIGRATIONS:
        if version <= current:
            continue
        with conn.exclusive("schema"):
            if conn.execute("SELECT 1 AS done FROM schema_version WHERE version = ?", (version,)).fetchone() is None:
                for statement in ddl(script, conn.dialect):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        current = version
    return current


def _version(conn) -> int:
    return conn.execute("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version").fetchone()["v"]
