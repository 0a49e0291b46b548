"""The benchmark scripts the README shows, run as it shows them on few rows against the test servers."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


@pytest.mark.parametrize("instance", ["sqlite", "postgres"])
def test_the_dagster_floor_benchmark_times_both_commands_and_a_run_of_partition_events(pg_url, instance):
    result = subprocess.run([sys.executable, str(BENCHMARKS / "bench_dagster_floor.py"), "--repeats", "1",
                             "--events", "20", "--instance", instance], env={**os.environ, "BENCH_PG_URL": pg_url},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Dagster's storage: {instance}\n" in result.stdout
    for row in ("Dagster, an asset that does nothing", "rivet-dagster, one row exported"):
        assert re.search(rf"^  {row} +\d+\.\d\d +\d+\.\d\d +\d+$", result.stdout, re.M), result.stdout
    assert re.search(r"^  its step +\d+\.\d\d s  \( *\d+\.\d ms a materialization\)$", result.stdout, re.M)
    assert "one run over 20 partitions" in result.stdout


def test_the_export_benchmark_seeds_and_times_every_mode_on_both_engines(pg_url, mariadb_url):
    """`bench_export.py --seed`, then the modes side by side (all but chunked1000, 1,000 Dagster partitions), on
    fixtures of 2,000 and 400 rows in the test databases: every command succeeds and exports every row."""
    env = {**os.environ, "BENCH_PG_URL": pg_url, "BENCH_MY_URL": mariadb_url}
    bench = [sys.executable, str(BENCHMARKS / "bench_export.py"), "--rows", "2000"]
    seeded = subprocess.run([*bench, "--seed"], env=env, capture_output=True, text=True, timeout=300)
    assert seeded.returncode == 0, seeded.stderr[-3000:]
    modes = ["full", "chunked", "incremental", "row_hash", "row_hash_v2"]
    result = subprocess.run([*bench, "--modes", ",".join(modes), "--repeats", "1"], env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    for engine in ("pg", "mysql"):
        for table, rows in (("narrow", 2000), ("wide", 400)):
            for mode in modes:
                exported = rows - 1 if mode == "incremental" else rows
                assert re.search(rf"^{engine} +{table} +{mode} +{exported:,} ", result.stdout, re.M), result.stdout
