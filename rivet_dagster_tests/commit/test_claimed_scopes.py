"""Claims across deployments (each its own Dagster instance; one state store and one destination).

A run that stalls mid-commit for longer than its claim's lease, in every mode that claims its scope: another
deployment's run takes the scope over, repairs what the stalled run left and commits the scope; the stalled run,
resumed, fails saying it lost its claim and touches nothing the other run committed. Two deployments on two hosts
racing through the same chunked export: each chunk is exported by whichever holds its claim, the other says so.
Either way the destination then holds every source row exactly once, in files its manifests list.

Stalls are real: the run's process stops itself at a crash-matrix stage (RIVET_STOP_AT, SIGSTOP) and is continued
once the other run finished. Hosts are UTS namespaces (`unshare -u`) with hostnames of their own. Half the stall
cells keep their state on the SQLite file, half on a PostgreSQL schema; the hosts share a PostgreSQL one.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import psutil
import pytest
import yaml

from rivet_dagster.config import load_config
from rivet_dagster.modes.chunk_plan import missing_keys, partitions_name
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.stages import Stage
from rivet_dagster.state.store import StateStore, close_connections, store_for
from rivet_dagster_tests.commit.test_every_stage import ALL, FIRST, MODES, add_rows, ids, manifests, visible_files
from rivet_dagster_tests.conftest import dagster_cli, materialize_cli, schema_url, write_config
from rivet_dagster_tests.dagster_services import as_host

LEASE_S = 2
CELLS = [pytest.param(mode, stage, store, id=f"{mode}-{stage.value}-{store}") for mode, stage, store in [
    ("chunked", Stage.COMMITTED, "postgres"), ("chunked", Stage.MANIFEST, "sqlite"),
    ("time_window", Stage.COMMITTED, "sqlite"), ("time_window", Stage.MANIFEST, "postgres"),
    ("incremental", Stage.MANIFEST, "sqlite")]]


def stopped_process(pid: int, seconds: float = 60) -> psutil.Process:
    """The process of the command `pid` (itself or the step's child) once it has stopped itself."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        command = psutil.Process(pid)
        for process in [command, *command.children(recursive=True)]:
            if process.status() == psutil.STATUS_STOPPED:
                return process
        time.sleep(0.1)
    raise AssertionError(f"no process of {pid} stopped within {seconds}s")


@pytest.mark.parametrize("mode, stage, store", CELLS)
def test_a_run_stalled_past_its_lease_loses_its_scope_to_another_run_and_no_row_is_doubled(
        tmp_path, export_dir, request, mode, stage, store):
    database = tmp_path / "source.db"
    add_rows(database, 1, ALL if mode == "chunked" else FIRST)
    keys, select = MODES[mode]
    state = {"lease_seconds": LEASE_S}
    if store == "postgres":
        state["url"] = schema_url(request.getfixturevalue("pg_url"), "stall")
    config = write_config(tmp_path, {"type": "sqlite", "database": str(database)},
                          [{"name": "items", "query": "SELECT id, ts, label FROM items", "mode": mode, **keys,
                            "format": "parquet", "destination": {"type": "local", "path": str(export_dir)}}])
    config.write_text(config.read_text() + yaml.safe_dump({"state": state}))
    homes = [tmp_path / "deployment-a", tmp_path / "deployment-b"]
    if mode == "chunked":
        loaded = load_config(config)
        for home in homes:
            home.mkdir()
            instance = dg.DagsterInstance.from_config(str(home))
            missing, _ = missing_keys(instance, loaded, loaded.exports[0],
                                      SourceDatabase(loaded.source, loaded.base_dir), store_for(loaded))
            instance.add_dynamic_partitions(partitions_name(loaded, loaded.exports[0]), missing)

    first = materialize_cli(config, homes[0], "items", extra=select)
    assert first.returncode == 0, first.stderr[-2000:]
    if mode != "chunked":
        add_rows(database, FIRST + 1, ALL)
    command, env = dagster_cli(config, homes[0], "items", extra=select)
    stalled = subprocess.Popen(command, env={**env, "RIVET_STOP_AT": stage.value}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        stopped_process(stalled.pid)
        time.sleep(LEASE_S + 0.5)                                    # its lease runs out, nothing renews it
        taker = materialize_cli(config, homes[1], "items", extra=select)
    finally:
        stalled_err = resume(stalled)
    assert taker.returncode == 0, taker.stderr[-3000:]
    assert stalled.returncode != 0
    assert "this run lost its claim on" in stalled_err, stalled_err[-6000:]
    assert "took it over after its lease expired" in stalled_err

    assert_exactly_once(export_dir, store_for(load_config(config)), ALL)


def assert_exactly_once(export_dir: Path, state: StateStore, rows: int) -> None:
    """Every id from 1 to `rows` once, in the files the manifests list and the state store records for `items`; nothing
    pending, hidden or half-done."""
    files = visible_files(export_dir)
    listed = [{f["name"] for f in m["files"]} for m in manifests(export_dir)]
    assert files == set().union(*listed)                              # no file outside a manifest, none missing
    assert not [p for p in export_dir.iterdir() if p.name.endswith(".pending")]
    assert ids(export_dir, files) == list(range(1, rows + 1))        # every row once
    with state.connect() as conn:
        assert {row[0] for row in conn.execute("SELECT file_name FROM file_manifest WHERE export_name = 'items'")
                } == files
        assert conn.execute("SELECT COUNT(*) FROM pending_commit").fetchone()[0] == 0
    assert state.pending_window("items") is None
    assert {task["status"] for task in state.chunk_tasks("items")} <= {"completed"}


def resume(command: subprocess.Popen, timeout: float = 180) -> str:
    """Continue a command's stopped processes and wait for it to end (killed if it does not); its stderr."""
    processes = [psutil.Process(command.pid), *psutil.Process(command.pid).children(recursive=True)]
    for process in processes:
        process.send_signal(signal.SIGCONT)
    try:
        return command.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        for process in processes:
            process.kill()
        raise
    finally:
        close_connections()


def on_host(host: str, command: list[str], env: dict, **popen) -> subprocess.Popen:
    """`command` on a simulated host named `host`, its output captured."""
    return subprocess.Popen(as_host(host, command), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **popen)


def test_two_deployments_racing_through_one_chunked_export_export_each_chunk_once(tmp_path, pg_url):
    """Host A's `rivet-dagster run` stops (a real stall) once it has staged a chunk; a run claims all of its
    chunks when it starts, so `state chunks` shows them held by A. Host B's run of the same config meanwhile
    leaves each of them to A, saying so, and fails for those; A, continued, exports them all."""
    database, rows = tmp_path / "source.db", 12_000
    add_rows(database, 1, rows)
    config = write_config(tmp_path, {"type": "sqlite", "database": str(database)}, [{
        "name": "items", "query": "SELECT id, ts, label FROM items", "mode": "chunked", "chunk_column": "id",
        "chunk_size": 1_000, "chunk_checkpoint": True, "parallel": 2, "format": "parquet",
        "destination": {"type": "local", "path": "out"}}])
    config.write_text(config.read_text() + yaml.safe_dump({"state": {"url": schema_url(pg_url, "race")}}))
    command = [str(Path(sys.executable).with_name("rivet-dagster")), "run", "-c", str(config)]

    def env(host: str) -> dict:
        home = tmp_path / f"home_{host}"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        return {**os.environ, "DAGSTER_HOME": str(home)}

    a = on_host("host-a", command, {**env("host-a"), "RIVET_STOP_AT": Stage.STAGED.value})
    try:
        stopped_process(a.pid)
        chunks = subprocess.run([command[0], "state", "chunks", "-c", str(config), "--export", "items", "--json"],
                                capture_output=True, text=True, timeout=60)
        held_by_a = [t["chunk_key"] for t in json.loads(chunks.stdout) if t["held_by"]]
        assert held_by_a and all(t["held_by"].endswith(" on host-a") for t in json.loads(chunks.stdout)
                                 if t["held_by"])                    # an operator sees who exports what
        b = on_host("host-b", command, env("host-b"))
        _, b_err = b.communicate(timeout=180)
    finally:
        a_err = resume(a)
    assert a.returncode == 0, a_err[-3000:]
    held = re.findall(r"items: partition (\S+) is being exported by run \S+ \(host-a:", b_err)
    assert sorted(set(held)) == held_by_a and b.returncode == 1, b_err[-3000:]  # B left A's chunks to A, saying so
    assert f"{len(held_by_a)} of 12 chunk(s) failed" in b_err
    assert_exactly_once(tmp_path / "out", store_for(load_config(config)), rows)
