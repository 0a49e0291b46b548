"""Where the source database is and how to open a session on it.

Connection URLs carry credentials, so they are built only when a connection is opened and rendered for
humans only through `SourceDatabase.display_url` (password hidden).
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from urllib.parse import quote, quote_plus

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from rivet_dagster.config.query import UserQuery
from rivet_dagster.config.sections import SourceConfig
from rivet_dagster.config.tuning import EffectiveTuning
from rivet_dagster.source.errors import SourceError, driver_message, error_code

DRIVERS = {"postgres": "postgresql+psycopg", "mysql": "mysql+pymysql", "sqlite": "sqlite"}
DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306}
READ_ONLY_OPTION = "-c default_transaction_read_only=on"


def close_quietly(resource) -> None:
    """Close a connection or cursor in a `finally`: on a connection the server cut, closing raises too, and that
    error must never replace the one being raised (the lost connection, which is retried)."""
    try:
        resource.close()
    except Exception:
        pass


class SourceDatabase:
    """The export source: one database per rivet.yaml, opened per use (no long-lived connections)."""

    def __init__(self, config: SourceConfig, base_dir: str | os.PathLike = "."):
        self.config = config
        self.base_dir = Path(base_dir)
        self._param_types: dict[str, dict[str, str]] = {}

    @property
    def kind(self) -> str:
        return self.config.type

    @cached_property
    def url(self) -> URL:
        """The SQLAlchemy URL with its password; never log it, use `display_url`. A PostgreSQL session starts
        every transaction read-only (libpq `options`), whichever driver opens it: exports only read."""
        url = self._given_url()
        if self.kind != "postgres":
            return url
        options = " ".join(filter(None, [url.query.get("options"), READ_ONLY_OPTION]))
        return url.update_query_dict({"options": options})

    def _given_url(self) -> URL:
        cfg = self.config
        if cfg.url is not None:
            raw = cfg.url
        elif cfg.url_env is not None:
            raw = os.environ.get(cfg.url_env)
            if not raw:
                raise SourceError(f"source: env var '{cfg.url_env}' not set (url_env)")
        elif cfg.url_file is not None:
            try:
                raw = (self.base_dir / cfg.url_file).read_text().strip()
            except OSError as exc:
                raise SourceError(f"source: cannot read url_file '{cfg.url_file}': {exc.strerror}") from None
        else:
            return self._structured_url()
        try:
            url = make_url(raw)
        except Exception:
            raise SourceError(f"source: the {'url' if cfg.url else 'connection URL'} is not a valid database URL") \
                from None
        url = url.set(drivername=DRIVERS[cfg.type])
        if cfg.type == "sqlite" and url.database and url.database != ":memory:":
            url = url.set(database=str(self.base_dir / url.database))
        return url

    def _structured_url(self) -> URL:
        cfg = self.config
        if cfg.type == "sqlite":
            return URL.create("sqlite", database=str(self.base_dir / cfg.database))
        password = cfg.password
        if cfg.password_env is not None:
            password = os.environ.get(cfg.password_env)
            if password is None:
                raise SourceError(f"source: env var '{cfg.password_env}' not set (password_env)")
        return URL.create(DRIVERS[cfg.type], username=cfg.user, password=password or None, host=cfg.host,
                          port=cfg.port or DEFAULT_PORTS[cfg.type], database=cfg.database)

    @property
    def display_url(self) -> str:
        return self._given_url().render_as_string(hide_password=True)

    def error(self, message: str, code: str | None = None, hide: Iterable[str] = ()) -> SourceError:
        """A SourceError whose text cannot carry the password (as written or percent-encoded) nor the values in
        `hide`, whatever a driver put in its message; the source's own URL in it is left readable."""
        secrets = [str(s) for s in (self.url.password, *hide) if s]
        forms = sorted({form for s in secrets for form in (s, quote(s, safe=""), quote_plus(s))}, key=len, reverse=True)

        def redact(text: str) -> str:
            for form in forms:
                text = text.replace(form, "***")
            return text
        return SourceError(self.display_url.join(redact(part) for part in message.split(self.display_url)), code)

    def failure(self, what: str, exc: BaseException | None, hide: Iterable[str] = ()) -> SourceError:
        """`<what> <url without password>: <the driver's first line>`, e.g. what = "cannot connect to"."""
        return self.error(f"{what} {self.display_url}: {driver_message(exc)}", error_code(exc), hide)

    def native_url(self, scheme: str) -> str:
        """The URL for a native driver (libpq for ADBC, connectorx), password included: pass it, never print it.
        Its query is percent-encoded (libpq reads `+` literally)."""
        url = self.url.set(drivername=scheme)
        base = url.set(query={}).render_as_string(hide_password=False)
        query = "&".join(f"{quote(key, safe='')}={quote(str(value), safe='')}" for key, value in url.query.items())
        return f"{base}?{query}" if query else base

    @cached_property
    def engine(self) -> sa.Engine:
        connect_args = {"connect_timeout": 10} if self.kind != "sqlite" else {}
        return sa.create_engine(self.url, poolclass=NullPool, connect_args=connect_args)

    @cached_property
    def is_mariadb(self) -> bool:
        if self.kind != "mysql":
            return False
        with self.engine.connect() as conn:
            return "mariadb" in str(conn.exec_driver_sql("SELECT VERSION()").scalar()).lower()

    @contextmanager
    def session(self, tuning: EffectiveTuning) -> Iterator[sa.Connection]:
        """A connection with the export's statement and lock timeouts applied to every statement it runs."""
        try:
            conn = self.engine.connect()
        except sa.exc.DBAPIError as exc:
            raise self.failure("cannot connect to", exc.orig) from None
        try:
            for statement in self.session_settings(tuning):
                conn.exec_driver_sql(statement)
            yield conn
        finally:
            close_quietly(conn)

    def session_settings(self, tuning: EffectiveTuning) -> list[str]:
        """Rivet's per-session limits; MariaDB names its statement timeout differently from MySQL."""
        out = []
        if self.kind == "postgres":
            if tuning.statement_timeout_s:
                out.append(f"SET statement_timeout = '{int(tuning.statement_timeout_s)}s'")
            if tuning.lock_timeout_s:
                out.append(f"SET lock_timeout = '{int(tuning.lock_timeout_s)}s'")
        elif self.kind == "mysql":
            out.append("SET SESSION TRANSACTION READ ONLY")  # exports only read
            out.append("SET time_zone = '+00:00'")  # TIMESTAMP values and bound timestamps are UTC instants
        if self.kind == "mysql" and tuning.statement_timeout_s:
            if self.is_mariadb:
                out.append(f"SET SESSION max_statement_time = {int(tuning.statement_timeout_s)}")
            else:
                out.append(f"SET SESSION max_execution_time = {int(tuning.statement_timeout_s) * 1000}")
        if self.kind == "sqlite":
            out.append("PRAGMA query_only = ON")  # exports only read
            if tuning.lock_timeout_s:
                out.append(f"PRAGMA busy_timeout = {int(tuning.lock_timeout_s) * 1000}")
        return out

    def param_types(self, query: UserQuery) -> dict[str, str]:
        """The PostgreSQL type of each `${KEY}` parameter, as the server infers it from where it stands (the COPY
        stream reads them back with that type); asked once per query. Other engines need no types."""
        if self.kind != "postgres" or not query.params:
            return {}
        if query.sql not in self._param_types:
            numbered = query.sql.format(**{name: f"${i}" for i, name in enumerate(query.params, start=1)})
            with self.engine.connect() as conn:
                cursor = conn.connection.dbapi_connection.cursor()
                try:
                    cursor.execute(f"PREPARE rivet_types AS SELECT * FROM ({numbered}) AS _rivet LIMIT 0",
                                   prepare=True)   # one statement, whatever the query holds
                    cursor.execute("SELECT parameter_types::text[] FROM pg_prepared_statements "
                                   "WHERE name = 'rivet_types'", prepare=True)
                    types = cursor.fetchone()[0]
                except conn.dialect.loaded_dbapi.Error as exc:
                    keys = ", ".join(f"${{{key}}}" for key in query.keys.values())
                    raise self.failure(f"the export query with its parameters ({keys}) failed on", exc) from None
                finally:
                    close_quietly(cursor)
            self._param_types[query.sql] = dict(zip(query.params, types))
        return self._param_types[query.sql]

    def quote(self, identifier: str) -> str:
        return self.engine.dialect.identifier_preparer.quote_identifier(identifier)
