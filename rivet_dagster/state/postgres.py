"""The shared state store: a PostgreSQL database that several processes and hosts use at once.

Writers of one export are serialised by a transaction-level advisory lock on its name, which is what SQLite's
single writer gives the embedded store; other exports' writers go on in parallel. Each thread keeps one
connection (a store call costs a round trip, not a connection), checked before reuse.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from urllib.parse import urlsplit, urlunsplit

import psycopg

from rivet_dagster.state.errors import StateStoreError, locked, newer_schema
from rivet_dagster.state.migrations import NewerSchema, migrate

SCHEMES = ("postgresql", "postgres")
_MIGRATED: set[str] = set()  # databases this process has already brought to the newest version


def libpq_url(url: str) -> str:
    """`postgresql+psycopg2://...` (SQLAlchemy's spelling, as in Dagster's own storage config) as libpq reads it."""
    scheme, rest = url.split("://", 1)
    return f"postgresql://{rest}" if scheme.split("+", 1)[0] in SCHEMES else url


def redacted(url: str) -> str:
    """The URL as it may be shown: the password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.netloc.rsplit('@', 1)[1]}"
    return urlunsplit(parts._replace(netloc=netloc))


class Row(tuple):
    """A row read by position or by column name, as sqlite3.Row is, so both backends' rows read alike."""

    def __new__(cls, values, index: dict[str, int]):
        row = super().__new__(cls, values)
        row.index_of = index
        return row

    def __getitem__(self, key):
        return super().__getitem__(self.index_of[key] if isinstance(key, str) else key)

    def keys(self) -> list[str]:
        return list(self.index_of)


def rows(cursor: psycopg.Cursor):
    """psycopg's row factory for `Row`."""
    index = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: Row(values, index)


class PostgresConnection:
    """A psycopg connection with the interface the store writes against: SQL with `?` parameters (the store's
    SQL holds no other `?` or `%`), `exclusive(key)`, `dialect`, `json_list`, `now_ms`."""

    dialect = "postgres"
    json_list = "(SELECT json_array_elements_text(CAST(? AS json)))"
    now_ms = "CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT)"  # the server's clock, one for all hosts

    def __init__(self, raw: psycopg.Connection):
        self.raw = raw

    def execute(self, sql: str, params=()) -> psycopg.Cursor:
        return self.raw.execute(sql.replace("?", "%s"), params or None)

    def executemany(self, sql: str, params_seq) -> None:
        with self.raw.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), list(params_seq))

    def has_table(self, name: str) -> bool:
        return self.execute("SELECT to_regclass(?) IS NOT NULL AS present", (name,)).fetchone()["present"]

    @contextmanager
    def exclusive(self, key: str) -> Iterator[PostgresConnection]:
        """A transaction holding the advisory lock of `key` until it ends: one writer per key at a time, on
        every host that shares the database."""
        with self.raw.transaction():
            self.raw.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"rivet_dagster:{key}",))
            yield self


class PostgresDatabase:
    dialect = "postgres"

    def __init__(self, url: str, busy_timeout_ms: int):
        self.url, self.busy_timeout_ms = libpq_url(url), busy_timeout_ms
        self._local = threading.local()
        self._opened: list[PostgresConnection] = []  # every thread's, so `close` reaches them all
        self._lock = threading.Lock()

    @property
    def location(self) -> str:
        return redacted(self.url)

    def exists(self) -> bool:
        return True  # a database is made by its administrator; its tables, by the first connection

    @contextmanager
    def connect(self) -> Iterator[PostgresConnection]:
        try:
            yield self._connection()
        except (psycopg.Error, NewerSchema) as exc:
            raise self.refused(exc) from None

    def _connection(self) -> PostgresConnection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid() and not conn.raw.closed:
            try:
                conn.raw.execute("SELECT 1")  # a server restart or a killed session shows here, not mid-commit
                return conn
            except psycopg.OperationalError:
                conn.raw.close()
        raw = psycopg.connect(self.url, autocommit=True, row_factory=rows, connect_timeout=10)
        raw.execute(f"SET lock_timeout = {int(self.busy_timeout_ms)}")
        conn = PostgresConnection(raw)
        if self.url not in _MIGRATED:
            migrate(conn)
            _MIGRATED.add(self.url)
        self._local.conn, self._local.pid = conn, os.getpid()
        with self._lock:
            self._opened = [c for c in self._opened if not c.raw.closed] + [conn]
        return conn

    def reusing(self):
        """Each thread keeps its connection anyway."""
        return nullcontext()

    def close(self) -> None:
        """Close every thread's connection (a thread that comes back opens a new one)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.raw.close()

    def check(self) -> None:
        with self.connect() as conn, conn.exclusive("check"):
            conn.execute("LOCK TABLE schema_version IN ROW EXCLUSIVE MODE")  # fails if the store is read-only

    def refused(self, exc: BaseException) -> BaseException:
        password = urlsplit(self.url).password
        text = str(exc).replace(password, "***") if password else str(exc)
        where = f"the state store {self.location}"
        if isinstance(exc, NewerSchema):
            return newer_schema(where, str(text))
        if isinstance(exc, psycopg.errors.LockNotAvailable):
            return locked(where, str(text), self.busy_timeout_ms)
        if isinstance(exc, (psycopg.errors.ReadOnlySqlTransaction, psycopg.errors.InsufficientPrivilege)):
            return StateStoreError(f"{where} cannot be written ({text}): connect as a user who may create and "
                                   "write its tables, to a primary server")
        if isinstance(exc, psycopg.OperationalError):
            return StateStoreError(f"{where} cannot be reached ({text}): check the URL and that the server runs")
        return exc
