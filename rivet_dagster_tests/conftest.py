"""Shared fixtures: a fresh PostgreSQL database and a fresh MariaDB database per test session, the state store
every test's exports use, and helpers to write a rivet.yaml and materialize it through Dagster.

In CI (`CI` set) a missing server fails the tests that need it; on a developer machine they are skipped.

`RIVET_TEST_STATE=postgres` runs the suite on the shared state store: each test gets a fresh schema of the
session's PostgreSQL database as `$RIVET_STATE_URL`, which every config without `state:` uses, in process and in
the commands the tests start. Tests marked `sqlite_state` are about the SQLite file itself and keep it.
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from rivet_dagster import build_definitions
from rivet_dagster.config import load_config
from rivet_dagster.config.sections import STATE_URL_ENV
from rivet_dagster.modes.chunk_plan import partitions_name
from rivet_dagster.state.store import StateStore, close_connections, default_store

RIVET_DAGSTER = str(Path(sys.executable).with_name("rivet-dagster"))  # the installed console script
PG_ADMIN_URL = os.environ.get("RIVET_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_ADMIN_URL = os.environ.get("RIVET_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
SESSION_DB = f"rivet_test_{uuid.uuid4().hex[:10]}"
STATE_BACKEND = os.environ.get("RIVET_TEST_STATE", "sqlite")
assert STATE_BACKEND in ("sqlite", "postgres"), f"RIVET_TEST_STATE={STATE_BACKEND}: use sqlite or postgres"


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_state: about the SQLite state file itself; runs on the embedded "
                                       "store whatever RIVET_TEST_STATE says")


def _server_missing(name: str, exc: Exception):
    message = f"{name} is not reachable ({type(exc).__name__}: {str(exc).splitlines()[0]})"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _session_database(name: str, admin_url: str, quote: str, drop_suffix: str = "") -> Iterator[str]:
    """Create a database for this test session on the server at `admin_url`, yield its URL, drop it."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {quote}{SESSION_DB}{quote}")
    except sa.exc.OperationalError as exc:
        _server_missing(name, exc)
    url = sa.make_url(admin_url).set(database=SESSION_DB)
    yield url.set(drivername=url.get_backend_name()).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote}{SESSION_DB}{quote}{drop_suffix}")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    yield from _session_database("PostgreSQL", PG_ADMIN_URL, '"', " WITH (FORCE)")


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    yield from _session_database("MariaDB", MARIADB_ADMIN_URL, "`")


def schema_url(pg_url: str, prefix: str) -> str:
    """A fresh schema of the session's PostgreSQL database, as a URL whose connections use it."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    run_sql(pg_url, f"CREATE SCHEMA {schema}")
    return f"{pg_url}?options=-csearch_path%3D{schema}"


@pytest.fixture(autouse=True)
def state_backend(request, monkeypatch) -> Iterator[str]:
    """Which state store a config without `state:` uses in this test (see the module's docstring)."""
    if STATE_BACKEND == "sqlite" or request.node.get_closest_marker("sqlite_state"):
        monkeypatch.delenv(STATE_URL_ENV, raising=False)
        yield "sqlite"
        return
    monkeypatch.setenv(STATE_URL_ENV, schema_url(request.getfixturevalue("pg_url"), "state"))
    yield "postgres"
    close_connections()


def state_in(directory: Path) -> StateStore:
    """The state store of a config in `directory` that has no `state:` block, in this test."""
    return default_store(directory)


def assert_intact(conn) -> None:
    """A state store a killed run wrote to is whole: SQLite's own check passes; PostgreSQL commits or rolls back
    by itself, and must hold no lock of the dead run's session."""
    if conn.dialect == "sqlite":
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    else:
        assert conn.execute("SELECT count(*) AS held FROM pg_locks WHERE locktype = 'advisory' AND database = "
                            "(SELECT oid FROM pg_database WHERE datname = current_database())").fetchone()[0] == 0


def sql_engine(url: str) -> sa.Engine:
    driver = "postgresql+psycopg" if url.startswith("postgresql") else "mysql+pymysql"
    return sa.create_engine(sa.make_url(url).set(drivername=driver), poolclass=sa.pool.NullPool)


def run_sql(url: str, *statements: str) -> None:
    with sql_engine(url).begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


def chunk_set(config_path: str | Path, export: str | None = None) -> str:
    """The name of a chunked export's partition set (it carries the plan's fingerprint)."""
    config = load_config(config_path)
    return partitions_name(config, config.export(export) if export else config.exports[0])


def write_config(directory: Path, source: dict, exports: list[dict]) -> Path:
    path = directory / "rivet.yaml"
    path.write_text(yaml.safe_dump({"source": source, "exports": exports}, sort_keys=False))
    return path


def materialize(config_path: Path, *names: str, raise_on_error: bool = True, instance=None,
                **kwargs) -> dg.ExecuteInProcessResult:
    """Materialize a config's exports, with their asset checks, in process (`partition_key=`, range `tags=`
    and `selection=` pass through)."""
    defs = build_definitions(config_path)
    kwargs.setdefault("selection", list(names) or None)
    return dg.materialize([*defs.assets, *defs.asset_checks], resources=defs.resources,
                          instance=instance or dg.DagsterInstance.ephemeral(), raise_on_error=raise_on_error,
                          **kwargs)


def dagster_cli(config: Path, home: Path, select: str, crash_at: str | None = None,
                extra: tuple[str, ...] = ()) -> tuple[list[str], dict[str, str]]:
    """The `dagster asset materialize` command line and environment for a config (optionally SIGKILLed at a
    crash-matrix stage), for a subprocess of the test."""
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "RIVET_CONFIG": str(config), "DAGSTER_HOME": str(home)}
    env.pop("RIVET_CRASH_AT", None)
    if crash_at:
        env["RIVET_CRASH_AT"] = crash_at
    command = [str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-m",
               "rivet_dagster.definitions", "--select", select, *extra]
    return command, env


def rivet_dagster_cli(*argv, crash_at: str | None = None) -> subprocess.CompletedProcess:
    """The `rivet-dagster` console script's code path in a subprocess that imports this checkout (optionally
    SIGKILLed at a crash-matrix stage)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    env.pop("RIVET_CRASH_AT", None)
    if crash_at:
        env["RIVET_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, "-m", "rivet_dagster.cli.main", *map(str, argv)], env=env,
                          capture_output=True, text=True, timeout=120)


def materialize_cli(config: Path, home: Path, select: str, crash_at: str | None = None,
                    extra: tuple[str, ...] = (), **run) -> subprocess.CompletedProcess:
    """`dagster asset materialize` in a subprocess (extra `subprocess.run` arguments pass through)."""
    command, env = dagster_cli(config, home, select, crash_at, extra)
    return subprocess.run(command, env=env, capture_output=True, text=run.pop("text", True), timeout=180, **run)


def run_cli(config: Path, home: Path) -> subprocess.CompletedProcess:
    """`rivet-dagster run -c <config>` (every export, every chunk) in a subprocess, with `dagster_cli`'s
    environment."""
    _, env = dagster_cli(config, home, "*")
    return subprocess.run([RIVET_DAGSTER, "run", "-c", str(config)], env=env, capture_output=True, text=True,
                          timeout=180)


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    return out
