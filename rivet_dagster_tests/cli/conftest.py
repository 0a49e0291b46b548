"""A config whose state store was filled by real materializations against PostgreSQL, for the CLI to read."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from rivet_dagster.cli.main import main
from rivet_dagster.config import load_config
from rivet_dagster.modes.chunk_plan import register_plan
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.state.store import StateStore, store_for
from rivet_dagster_tests.conftest import STATE_BACKEND, materialize, run_sql, schema_url, sql_engine, write_config

EVENTS = ("CREATE TABLE cli_events AS SELECT g AS id, timestamp '2024-01-01' + g * interval '1 minute' AS updated_at "
          "FROM generate_series(1, 300) g")
ITEMS = "CREATE TABLE cli_items AS SELECT g AS id, 'item ' || g AS label FROM generate_series(1, 2500) g"
NEWEST_EVENT = "2024-01-01T05:00:00.000000"
RIVET_DAGSTER = str(Path(sys.executable).with_name("rivet-dagster"))  # the installed console script


def console(*argv, cwd: Path | None = None, stdin: str | None = None,
            timeout: int = 120) -> subprocess.CompletedProcess:
    """`rivet-dagster argv...` as a user runs it: the console script in a subprocess, with this process's
    environment (DAGSTER_HOME as the test set it), `cwd` as its working directory and `stdin` piped in (else
    none)."""
    stdin_kwargs = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
    return subprocess.run([RIVET_DAGSTER, *map(str, argv)], cwd=cwd, capture_output=True, text=True, check=False,
                          timeout=timeout, **stdin_kwargs)


@pytest.fixture
def dagster_home(tmp_path, monkeypatch) -> Path:
    """A fresh $DAGSTER_HOME with telemetry off, set in this process's environment (so in the CLI's too)."""
    path = tmp_path / "dagster_home"
    path.mkdir()
    (path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(path))
    return path


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run `rivet-dagster argv...` in process: exit code, stdout, stderr."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def exported(pg_url, tmp_path_factory) -> Path:
    """rivet.yaml with four exports, run once each: cli_events (incremental, cursor at the newest row),
    cli_notes (full, validated), cli_items (chunked, 2 of 3 chunks done) and cli_broken (its query fails)."""
    run_sql(pg_url, "DROP TABLE IF EXISTS cli_events", EVENTS, "DROP TABLE IF EXISTS cli_items", ITEMS)
    directory = tmp_path_factory.mktemp("exported")
    out = {"type": "local", "path": str(directory / "out")}
    config = write_config(directory, {"type": "postgres", "url": pg_url}, [
        {"name": "cli_events", "query": "SELECT * FROM cli_events", "mode": "incremental",
         "cursor_column": "updated_at", "format": "parquet", "destination": out},
        {"name": "cli_notes", "query": "SELECT id, label FROM cli_items WHERE id <= 10", "format": "csv",
         "validate": True, "destination": out},
        {"name": "cli_items", "query": "SELECT * FROM cli_items", "mode": "chunked", "chunk_column": "id",
         "chunk_size": 1000, "chunk_checkpoint": True, "format": "parquet", "destination": out},
        {"name": "cli_broken", "query": "SELECT * FROM cli_no_such_table", "format": "parquet", "destination": out},
    ])
    if STATE_BACKEND == "postgres":  # the module's tests share this state, whatever each test's $RIVET_STATE_URL
        config.write_text(config.read_text() + f"state: {schema_url(pg_url, 'exported')}\n")
    materialize(config, "cli_events")
    materialize(config, "cli_notes")
    assert not materialize(config, "cli_broken", raise_on_error=False).success
    instance = dg.DagsterInstance.ephemeral()
    loaded = load_config(config)
    keys = register_plan(instance, loaded, loaded.export("cli_items"), SourceDatabase(loaded.source, loaded.base_dir),
                         state_of(config))
    for key in keys[:2]:
        materialize(config, "cli_items", partition_key=key, instance=instance)
    return config


def state_of(config: Path) -> StateStore:
    return store_for(load_config(config))


@pytest.fixture
def exported_copy(exported, tmp_path, pg_url) -> Path:
    """A private copy of the exported config and its state store, for tests that change the state."""
    directory = tmp_path / "copy"
    shutil.copytree(exported.parent, directory)
    config = directory / exported.name
    if STATE_BACKEND == "postgres":
        shared = exported.read_text().rsplit("state: ", 1)[1].strip()
        config.write_text(exported.read_text().replace(shared, copied_schema(pg_url, shared)))
    return config


def copied_schema(pg_url: str, url: str) -> str:
    """A copy of the state store at `url` (a schema of the session's database), as its URL."""
    source, copy = url.rsplit("%3D", 1)[1], schema_url(pg_url, "copy")
    target = copy.rsplit("%3D", 1)[1]
    with sql_engine(pg_url).begin() as conn:
        tables = conn.exec_driver_sql("SELECT table_name, EXISTS (SELECT 1 FROM information_schema.columns c WHERE "
                                      "c.table_schema = t.table_schema AND c.table_name = t.table_name AND "
                                      "c.column_name = 'id') FROM information_schema.tables t WHERE table_schema = "
                                      "%(s)s", {"s": source}).all()
        for table, has_id in tables:
            conn.exec_driver_sql(f"CREATE TABLE {target}.{table} (LIKE {source}.{table} INCLUDING ALL)")
            conn.exec_driver_sql(f"INSERT INTO {target}.{table} OVERRIDING SYSTEM VALUE "
                                 f"SELECT * FROM {source}.{table}")
            if has_id:
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{target}.{table}', 'id'), "
                                     f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {target}.{table}), false)")
    return copy
