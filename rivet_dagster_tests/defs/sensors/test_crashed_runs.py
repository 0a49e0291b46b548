"""A killed run leaves no Dagster state stuck: its run is marked failed (by the export's next run, or by the
`rivet_<config>_crashed_runs` sensor when nothing runs the export again), so it holds no pool slot, and reruns
complete in bounded time with every row exactly once. On the shipped dagster.yaml (pools of 2, run granularity)."""
from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from rivet_dagster import build_definitions
from rivet_dagster.config import load_config
from rivet_dagster.defs.names import DefinitionNames
from rivet_dagster.modes.chunk_plan import chunk_key, register_plan
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.state.store import StateStore
from rivet_dagster_tests.conftest import dagster_cli, run_sql, schema_url, state_in, write_config
from rivet_dagster_tests.dagster_services import ROOT

ROWS, CHUNK = 10_000, 2_000
KEYS = [chunk_key(start, start + CHUNK - 1) for start in range(1, ROWS + 1, CHUNK)]
STAGES = ["fetch", "committed", "manifest", "published", "recorded"]   # five kills in a row, one per stage


@pytest.fixture
def project(pg_url, tmp_path):
    run_sql(pg_url, "DROP TABLE IF EXISTS kill_src",
            f"CREATE TABLE kill_src AS SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, {ROWS}) g")
    out = {"type": "local", "path": "out"}
    config = write_config(tmp_path, {"type": "postgres", "url": pg_url}, [
        {"name": "kill_chunks", "query": "SELECT * FROM kill_src", "mode": "chunked", "chunk_column": "id",
         "chunk_size": CHUNK, "parallel": 2, "chunk_checkpoint": True, "format": "parquet", "destination": out},
        {"name": "kill_full", "query": "SELECT * FROM kill_src", "format": "parquet", "destination": out}])
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    loaded = load_config(config)
    register_plan(dg.DagsterInstance.from_config(str(home)), loaded, loaded.exports[0],
                  SourceDatabase(loaded.source, loaded.base_dir), state_in(tmp_path))
    return config, home


def materialize(config: Path, home: Path, export: str, *extra: str, crash_at: str | None = None):
    env = {**os.environ, "RIVET_CONFIG": str(config), "DAGSTER_HOME": str(home)}
    env.pop("RIVET_CRASH_AT", None)
    if crash_at:
        env["RIVET_CRASH_AT"] = crash_at
    return subprocess.run([str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-m",
                           "rivet_dagster.definitions", "--select", export, *extra], env=env, capture_output=True,
                          text=True, timeout=120)   # a rerun that waited for a slot would time out here


def committed_ids(config: Path, export: str) -> list[int]:
    """The ids in the files the state store records as committed (what readers take)."""
    with state_in(config.parent).connect() as conn:
        names = [r[0] for r in conn.execute("SELECT file_name FROM file_manifest WHERE export_name = ?", (export,))]
    return sorted(i for name in names for i in pq.read_table(config.parent / "out" / name)["id"].to_pylist())


def test_five_sigkills_in_a_row_leave_no_run_started_and_every_row_exactly_once(project):
    config, home = project
    for key, stage in zip(KEYS, STAGES):
        for export, extra in (("kill_chunks", ("--partition", key)), ("kill_full", ())):
            crashed = materialize(config, home, export, *extra, crash_at=stage)
            assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
            rerun = materialize(config, home, export, *extra)
            assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert committed_ids(config, "kill_chunks") == list(range(1, ROWS + 1))      # each chunk once, none lost
    full = state_in(config.parent)
    last_full = full.metrics("kill_full", last=1)[0]["run_id"]
    assert sorted(i for f in full.files_of_run("kill_full", last_full)
                  for i in pq.read_table(config.parent / "out" / f["file_name"])["id"].to_pylist()) == list(
        range(1, ROWS + 1))
    on_disk = {p.name for p in (config.parent / "out").glob("kill_*.parquet")}
    with full.connect() as conn:
        recorded = {r[0] for r in conn.execute("SELECT file_name FROM file_manifest")}
    assert on_disk == recorded and not list((config.parent / "out").glob(".*.pending"))  # nothing unaccounted
    runs = dg.DagsterInstance.from_config(str(home)).get_runs()
    statuses = sorted(run.status.value for run in runs)
    assert statuses.count("FAILURE") == 2 * len(STAGES) and statuses.count("SUCCESS") == 2 * len(STAGES)
    assert "STARTED" not in statuses                                   # nothing holds a pool slot


def test_the_sensor_marks_a_killed_run_failed_when_no_run_of_the_export_comes(project):
    config, home = project
    crashed = materialize(config, home, "kill_chunks", "--partition", KEYS[0], crash_at="fetch")
    assert crashed.returncode == -signal.SIGKILL
    instance = dg.DagsterInstance.from_config(str(home))
    [killed] = instance.get_runs()
    assert killed.status == dg.DagsterRunStatus.STARTED                # Dagster alone never learns it died
    defs = build_definitions(config)
    sensor = defs.resolve_sensor_def(DefinitionNames.of(load_config(config)).crashed_runs_sensor)
    with dg.build_sensor_context(instance=instance) as context:
        result = sensor(context)
    assert "1 run(s) left files" in result.skip_message
    assert instance.get_run_by_id(killed.run_id).status == dg.DagsterRunStatus.FAILURE
    assert materialize(config, home, "kill_chunks", "--partition", KEYS[0]).returncode == 0


def test_a_host_never_cleans_up_after_a_run_of_another_host_it_cannot_see_end(pg_url, tmp_path, monkeypatch):
    """Two deployments (each its own Dagster instance) share a PostgreSQL state store and a destination folder.
    Host B is killed with a part at the destination and its commit unfinished; host A's export runs, leaves B's
    commit and files alone (it cannot know B's process died) and commits its own; B's next run repairs its
    own crash. Hosts are separate UTS namespaces (`unshare -u`) with hostnames of their own."""
    monkeypatch.setenv("RIVET_STATE_URL", schema_url(pg_url, "hosts"))
    database = tmp_path / "src.db"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE items AS WITH RECURSIVE n(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM n "
                     "WHERE id < 5000) SELECT id, 'item ' || id AS label FROM n")
    config = write_config(tmp_path, {"type": "sqlite", "database": str(database)}, [
        {"name": "items", "query": "SELECT id, label FROM items", "format": "parquet",
         "destination": {"type": "local", "path": "out"}}])
    out = tmp_path / "out"

    def on_host(host: str, crash_at: str | None = None) -> subprocess.CompletedProcess:
        command, env = dagster_cli(config, tmp_path / f"home_{host}", "items", crash_at)
        return subprocess.run(["unshare", "-u", "sh", "-c", f'hostname {host} && exec "$@"', "sh", *command],
                              env=env, capture_output=True, text=True, timeout=180)

    killed = on_host("host-b", crash_at="committed")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    state = StateStore(url_env="RIVET_STATE_URL")
    [left] = state.pending_commits("items")
    assert left["owner"].startswith("host-b:")
    left_on_disk = sorted(p.name for p in out.rglob("*") if p.is_file())

    assert on_host("host-a").returncode == 0
    assert state.pending_commits("items") == [left]                     # B's commit untouched by A
    assert set(left_on_disk) <= {p.name for p in out.rglob("*") if p.is_file()}   # and its part and staging
    [a_run] = {m["run_id"] for m in state.metrics("items")}
    assert sorted(i for f in state.files_of_run("items", a_run)
                  for i in pq.read_table(out / f["file_name"])["id"].to_pylist()) == list(range(1, 5001))

    assert on_host("host-b").returncode == 0                            # B sees its own process is gone
    assert state.pending_commits("items") == []
    assert not list(out.glob(".rivet-staging/*/items/*")) and not list(out.glob(".*.pending"))
    assert {p.name for p in out.glob("*.parquet")} == {f["file_name"] for f in state.files("items")}
