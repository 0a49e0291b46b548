"""The embedded state store: an SQLite file (WAL, busy timeout, synchronous=FULL), one short connection per call,
or, inside `reusing()` (a chunk run's thousand small commits), connections kept until the scope ends.

SQLite serialises writers itself (`BEGIN IMMEDIATE`), so an exclusive transaction needs no lock of its own.
A connection is closed after its call, or when its scope ends: the last close folds the WAL back into the file, so
a copy of the file alone holds every committed state.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rivet_dagster.state.errors import StateStoreError, locked, newer_schema
from rivet_dagster.state.migrations import NewerSchema, migrate

_MIGRATED: set[tuple[str, int]] = set()  # database files this process has already brought to the newest version


class SqliteConnection(sqlite3.Connection):
    """sqlite3's connection with the interface the store writes against (`exclusive`, `dialect`, `json_list`,
    `now_ms`)."""

    dialect = "sqlite"
    json_list = "(SELECT value FROM json_each(?))"  # `IN` this: the values of a JSON array bound as one parameter
    now_ms = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"  # the database's clock, ms since 1970

    def has_table(self, name: str) -> bool:
        return self.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() \
            is not None

    @contextmanager
    def exclusive(self, key: str) -> Iterator[SqliteConnection]:
        """A write transaction; `key` (what it writes) does not matter: SQLite lets one writer in at a time."""
        self.execute("BEGIN IMMEDIATE")
        try:
            yield self
            self.execute("COMMIT")
        except BaseException:
            self.execute("ROLLBACK")
            raise


class SqliteDatabase:
    dialect = "sqlite"

    def __init__(self, path: str, busy_timeout_ms: int):
        self.path, self.busy_timeout_ms = path, busy_timeout_ms
        self._lock = threading.Lock()
        self._scopes = 0  # open `reusing()` scopes; while one is open, idle connections wait in `_idle`
        self._idle: list[SqliteConnection] = []

    @property
    def location(self) -> str:
        return self.path

    def close(self) -> None:
        """Nothing stays open between calls."""

    def exists(self) -> bool:
        return Path(self.path).exists()

    @contextmanager
    def reusing(self) -> Iterator[None]:
        """Connections handed back inside this scope are kept for the next call (by any thread: each is used by
        one at a time), and closed when the last open scope ends."""
        with self._lock:
            self._scopes += 1
        try:
            yield
        finally:
            with self._lock:
                self._scopes -= 1
                idle, self._idle = (self._idle, []) if self._scopes == 0 else ([], self._idle)
            for conn in idle:
                conn.close()

    @contextmanager
    def connect(self) -> Iterator[SqliteConnection]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        kept = False
        try:
            if conn is None:
                conn = self._open()
            yield conn
            with self._lock:
                kept = self._scopes > 0 and not conn.in_transaction
                if kept:
                    self._idle.append(conn)
        except (sqlite3.Error, NewerSchema) as exc:
            raise self.refused(exc) from None
        finally:
            if conn is not None and not kept:
                conn.close()

    def _open(self) -> SqliteConnection:
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None,
                                   factory=SqliteConnection, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise self.refused(exc) from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            self._enter_wal(conn)
            conn.execute("PRAGMA synchronous = FULL")
            conn.row_factory = sqlite3.Row
            database = (self.path, os.stat(self.path).st_ino)  # a recreated file is migrated again
            if database not in _MIGRATED:
                migrate(conn)
                _MIGRATED.add(database)
        except BaseException:
            conn.close()
            raise
        return conn

    def _enter_wal(self, conn: SqliteConnection) -> None:
        """Switching a new file to WAL takes its exclusive lock in one attempt, without the busy timeout: when
        several connections open a file nobody has opened yet (a chunk run's workers, a backfill's first runs), the
        ones that lose retry here, for as long as the busy timeout, instead of failing."""
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)

    def check(self) -> None:
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")  # waits for, or fails on, another writer's lock
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                conn.execute(f"PRAGMA user_version = {int(version)}")  # a write, rolled back: fails if read-only
            finally:
                conn.execute("ROLLBACK")

    def refused(self, exc: BaseException) -> BaseException:
        text = str(exc).lower()
        where = f"the state store {self.path}"
        if isinstance(exc, NewerSchema):
            return newer_schema(where, str(exc))
        if "not a database" in text or "malformed" in text:
            return StateStoreError(f"{where} is not a readable SQLite database ({exc}): restore it from a backup, or "
                                   "move it away to start without state (cursors and checkpoints are then forgotten)")
        if "locked" in text or "busy" in text:
            return locked(where, str(exc), self.busy_timeout_ms)
        if "readonly" in text or "read-only" in text or "unable to open" in text or isinstance(exc, OSError):
            return StateStoreError(f"{where} cannot be opened for writing ({exc}): check the permissions of the "
                                   "file and its folder")
        return exc
