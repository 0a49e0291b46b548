"""On Linux, a process that loads rivet_dagster allocates Arrow memory with jemalloc and gives glibc's malloc two
arenas (lower peak RSS than pyarrow's mimalloc, whose heaps grow with an export's threads, and than glibc's arena
per thread), unless the user chose otherwise: checked in `dagster asset materialize`, the command users run, whose
code location reports the allocators its export ran with."""
import os
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rivet_dagster.allocators import ARENAS
from rivet_dagster_tests.conftest import dagster_cli, run_sql, write_config

PROBE = '''from rivet_dagster.definitions import defs  # what `dagster -m rivet_dagster.definitions` loads, first

import atexit
import ctypes
import sys
import tempfile
import threading

import pyarrow


def report() -> None:
    """After the export: sixteen threads allocate at once (glibc gives each live thread an arena while it may
    make more), then the arenas glibc's own report lists."""
    all_allocated = threading.Barrier(16)

    def allocate():
        kept = [bytearray(1000) for _ in range(100)]
        all_allocated.wait(timeout=60)  # none ends, freeing its arena for the next, before all have one
        del kept
    threads = [threading.Thread(target=allocate) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    with tempfile.NamedTemporaryFile("r") as info:
        stream = ctypes.c_void_p(libc.fopen(info.name.encode(), b"w"))
        libc.malloc_info(0, stream)
        libc.fclose(stream)
        arenas = info.read().count("<heap nr=")
    print(f"arrow allocator: {pyarrow.default_memory_pool().backend_name}, malloc arenas: {arenas}", file=sys.stderr)


atexit.register(report)
'''


PYARROW_FIRST = "import pyarrow  # a code location whose other modules import pyarrow before rivet_dagster\n"


@pytest.mark.parametrize("chosen, first, allocator, arenas", [
    ({}, "", "jemalloc", ARENAS),
    ({}, PYARROW_FIRST, "jemalloc", ARENAS),
    ({"ARROW_DEFAULT_MEMORY_POOL": "system", "MALLOC_ARENA_MAX": "8"}, "", "system", 8),
    ({"ARROW_DEFAULT_MEMORY_POOL": "mimalloc"}, PYARROW_FIRST, "mimalloc", ARENAS)],
    ids=["default", "pyarrow-imported-first", "system-8", "mimalloc"])
def test_an_export_process_uses_jemalloc_and_two_malloc_arenas_unless_the_user_chose(pg_url, tmp_path, chosen,
                                                                                      first, allocator, arenas):
    run_sql(pg_url, "DROP TABLE IF EXISTS allocator_src",
            "CREATE TABLE allocator_src AS SELECT g AS id, md5(g::text) AS label FROM generate_series(1, 20000) g")
    out = tmp_path / "out"
    config = write_config(tmp_path, {"type": "postgres", "url": pg_url},
                          [{"name": "items", "query": "SELECT * FROM allocator_src", "format": "parquet",
                            "destination": {"type": "local", "path": str(out)}}])
    (tmp_path / "probe_defs.py").write_text(first + PROBE)
    command, env = dagster_cli(config, tmp_path / "home", "items")
    command[command.index("rivet_dagster.definitions")] = "probe_defs"
    for name in ("ARROW_DEFAULT_MEMORY_POOL", "MALLOC_ARENA_MAX"):  # this test process set the first on import
        env.pop(name, None)
    env.update(chosen)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(Path(__file__).parents[1])])
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"arrow allocator: {allocator}, malloc arenas: {arenas}\n" in result.stderr
    assert sum(pq.read_table(p).num_rows for p in out.glob("*.parquet")) == 20_000
