"""Every crash-matrix stage, in every mode: `dagster asset materialize` is SIGKILLed at the stage (iterating
`Stage`, so a new stage is covered without touching this test), the same command is rerun, and the destination
then holds every source row exactly once, in files its manifests list, with no partial or hidden file left.

The killed run is the export's second materialization, so a rerun also supersedes (chunk and window partitions),
repairs a pending window (incremental) or prunes (full, `keep_last: 1`). An SQLite source keeps the matrix quick;
the engines are covered elsewhere. The state store alternates along the matrix: every stage is killed on the SQLite file in two modes and
on a shared PostgreSQL store in the other two (all of them on PostgreSQL with RIVET_TEST_STATE=postgres).
"""
import json
import os
import signal
import sqlite3
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from rivet_dagster.config import load_config
from rivet_dagster.config.sections import STATE_URL_ENV
from rivet_dagster.modes.chunk_plan import chunk_key, missing_keys, partitions_name
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.stages import Stage
from rivet_dagster.state.store import close_connections
from rivet_dagster_tests.conftest import materialize, materialize_cli, schema_url, state_in, write_config

FIRST, ALL = 2_000, 3_000       # rows before the first run, and before the killed one (a chunk: all from the start)
MODES = {
    "full": ({"keep_last": 1}, ()),   # the rerun also prunes (a kill at `expired`: mid-prune)
    "incremental": ({"cursor_column": "id"}, ()),
    "chunked": ({"chunk_column": "id", "chunk_size": 5_000, "chunk_checkpoint": True, "chunk_max_attempts": 1},
                ("--partition", chunk_key(1, 3_000))),
    "time_window": ({"time_column": "ts", "partitioning": {"granularity": "daily", "start": "2024-01-01"}},
                    ("--partition", "2024-01-01")),
}


def add_rows(database: Path, first: int, last: int) -> None:
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, ts TEXT, label TEXT)")
        conn.executemany("INSERT INTO items VALUES (?, ?, ?)",
                         [(i, f"2024-01-01 {i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}", f"item {i}")
                          for i in range(first, last + 1)])


def visible_files(out: Path) -> set[str]:
    return {p.name for p in out.iterdir() if p.is_file() and not p.name.startswith((".", "_"))}


def manifests(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("_*_manifest.json"))]


def ids(out: Path, names) -> list[int]:
    return sorted(i for name in names for i in pq.read_table(out / name, columns=["id"]).column("id").to_pylist())


CELLS = [pytest.param(mode, stage, store, id=f"{mode}-{stage.value}-{store}")
         for m, mode in enumerate(MODES) for s, stage in enumerate(Stage)
         for store in ["postgres" if (m + s) % 2 else "sqlite"]]


@pytest.fixture
def store(request, monkeypatch):
    """A `postgres` cell's exports keep their state in a fresh schema of the session's PostgreSQL database."""
    if request.param == "postgres" and not os.environ.get(STATE_URL_ENV):
        monkeypatch.setenv(STATE_URL_ENV, schema_url(request.getfixturevalue("pg_url"), "stage"))
    yield request.param
    close_connections()


@pytest.mark.parametrize("mode, stage, store", CELLS, indirect=["store"])
def test_a_kill_at_any_stage_then_a_rerun_delivers_every_row_exactly_once(tmp_path, export_dir, mode, stage, store):
    database = tmp_path / "source.db"
    add_rows(database, 1, ALL if mode == "chunked" else FIRST)
    keys, select = MODES[mode]
    config = write_config(tmp_path, {"type": "sqlite", "database": str(database)},
                          [{"name": "items", "query": "SELECT id, ts, label FROM items", "mode": mode, **keys,
                            "format": "parquet", "destination": {"type": "local", "path": str(export_dir)}}])
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    instance = dg.DagsterInstance.from_config(str(home))
    if mode == "chunked":  # the plan without sizing the pool: under `dagster asset materialize` a killed run's slot
        loaded = load_config(config)  # is freed only by the crashed-runs sensor or `rivet-dagster run`
        missing, _ = missing_keys(instance, loaded, loaded.exports[0], SourceDatabase(loaded.source, loaded.base_dir),
                                  state_in(tmp_path))
        instance.add_dynamic_partitions(partitions_name(loaded, loaded.exports[0]), missing)

    # the state before the crash, in process (the killed run and the rerun are the commands a user runs)
    materialize(config, "items", instance=instance, partition_key=select[1] if select else None)
    if mode != "chunked":
        add_rows(database, FIRST + 1, ALL)
    killed = materialize_cli(config, home, "items", crash_at=stage.value, extra=select)
    assert killed.returncode == -signal.SIGKILL, f"{stage} was not reached in {mode}: {killed.stderr[-2000:]}"
    rerun = materialize_cli(config, home, "items", extra=select)
    assert rerun.returncode == 0, rerun.stderr[-2000:]

    files = visible_files(export_dir)
    listed = [{f["name"] for f in m["files"]} for m in manifests(export_dir)]
    assert files == set().union(*listed)                              # no file outside a manifest, none missing
    assert not [p for p in export_dir.iterdir() if p.name.endswith(".pending")]
    state = state_in(tmp_path)
    with state.connect() as conn:
        assert {row[0] for row in conn.execute("SELECT file_name FROM file_manifest")} == files   # recorded as such
        assert conn.execute("SELECT COUNT(*) FROM pending_commit").fetchone()[0] == 0
    assert state.pending_window("items") is None
    assert {task["status"] for task in state.chunk_tasks("items")} <= {"completed"}
    if mode == "full":   # keep_last 1: the rerun's whole copy, and nothing of the first run's or the killed one's
        assert [ids(export_dir, names) for names in listed] == [list(range(1, ALL + 1))]
    else:
        assert ids(export_dir, files) == list(range(1, ALL + 1))
