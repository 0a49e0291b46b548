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
from rivet_dagster.state.store import StateStore
from rivet_dagster_tests.conftest import materialize, run_sql, write_config

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
    return StateStore(path=str(config.parent / ".rivet_state.db"))


@pytest.fixture
def exported_copy(exported, tmp_path) -> Path:
    """A private copy of the exported config and its state store, for tests that change the state."""
    directory = tmp_path / "copy"
    shutil.copytree(exported.parent, directory)
    return directory / exported.name
