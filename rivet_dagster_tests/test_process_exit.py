"""A process that loaded rivet_dagster ends without sweeping every object it holds with the cyclic collector (a
third of Dagster's fixed cost per command), and still ends as before: its export complete, its exit handlers
run. Checked in the two commands users run, from an exit handler registered before anything else is imported."""
import os
import sqlite3
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rivet_dagster_tests.conftest import RIVET_DAGSTER, dagster_cli, write_config

REPORTER = '''import atexit
import gc
import sys


def report() -> None:
    print(f"objects frozen at exit: {gc.get_freeze_count()}", file=sys.stderr)


atexit.register(report)  # first registered: runs last, after rivet_dagster's handler
'''


@pytest.mark.parametrize("command", ["dagster asset materialize", "rivet-dagster run"])
def test_a_process_exits_without_a_last_sweep_of_its_objects(tmp_path, command):
    with sqlite3.connect(tmp_path / "shop.db") as db:
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT)")
        db.executemany("INSERT INTO items VALUES (?, ?)", [(i, f"item {i}") for i in range(1, 1001)])
    out = tmp_path / "out"
    config = write_config(tmp_path, {"type": "sqlite", "database": "shop.db"},
                          [{"name": "items", "query": "SELECT * FROM items", "format": "parquet",
                            "destination": {"type": "local", "path": str(out)}}])
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(REPORTER)
    argv, env = dagster_cli(config, tmp_path / "home", "items")
    if command == "rivet-dagster run":
        argv = [RIVET_DAGSTER, "run", "-c", str(config)]
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "site"), str(Path(__file__).parents[1])])
    result = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    frozen = int(result.stderr.rsplit("objects frozen at exit: ", 1)[1].split()[0])
    assert frozen > 50_000  # Dagster's modules alone hold more than that
    assert sorted(pq.read_table(out).column("id").to_pylist()) == list(range(1, 1001))
