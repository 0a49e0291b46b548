"""On Linux, Arrow allocates with jemalloc in a process that loads rivet_dagster (lower peak RSS than pyarrow's
mimalloc, whose heaps grow with an export's threads), unless the user chose otherwise: checked in `dagster asset
materialize`, the command users run, whose code location reports the allocator its export ran with."""
import os
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rivet_dagster_tests.conftest import dagster_cli, run_sql, write_config

PROBE = '''from rivet_dagster.definitions import defs  # what `dagster -m rivet_dagster.definitions` loads, first

import sys
import pyarrow

print(f"arrow allocator: {pyarrow.default_memory_pool().backend_name}", file=sys.stderr)
'''


@pytest.mark.parametrize("chosen, expected", [(None, "jemalloc"), ("system", "system"), ("mimalloc", "mimalloc")])
def test_an_export_process_allocates_with_jemalloc_unless_the_user_chose(pg_url, tmp_path, chosen, expected):
    run_sql(pg_url, "DROP TABLE IF EXISTS allocator_src",
            "CREATE TABLE allocator_src AS SELECT g AS id, md5(g::text) AS label FROM generate_series(1, 20000) g")
    out = tmp_path / "out"
    config = write_config(tmp_path, {"type": "postgres", "url": pg_url},
                          [{"name": "items", "query": "SELECT * FROM allocator_src", "format": "parquet",
                            "destination": {"type": "local", "path": str(out)}}])
    (tmp_path / "probe_defs.py").write_text(PROBE)
    command, env = dagster_cli(config, tmp_path / "home", "items")
    command[command.index("rivet_dagster.definitions")] = "probe_defs"
    env.pop("ARROW_DEFAULT_MEMORY_POOL", None)  # this test process set it when it imported rivet_dagster
    if chosen:
        env["ARROW_DEFAULT_MEMORY_POOL"] = chosen
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(Path(__file__).parents[1])])
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"arrow allocator: {expected}" in result.stderr
    assert sum(pq.read_table(p).num_rows for p in out.glob("*.parquet")) == 20_000
