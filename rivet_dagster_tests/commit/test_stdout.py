"""`type: stdout`: the file's bytes on standard output and every log line on standard error, so an export
pipes into another program."""
import io
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.csv as pv
import pyarrow.parquet as pq
import pytest

from rivet_dagster import ConfigError, load_config
from rivet_dagster_tests.conftest import materialize_cli, run_sql, state_in, write_config


@pytest.fixture(scope="module")
def small_src(pg_url):
    run_sql(pg_url, "DROP TABLE IF EXISTS small_src",
            "CREATE TABLE small_src AS SELECT g AS id, 'row ' || g AS label FROM generate_series(1, 5000) g")
    return pg_url


@pytest.mark.parametrize("fmt, read", [("csv", pv.read_csv), ("parquet", pq.read_table)])
def test_the_export_is_the_only_thing_on_standard_output(small_src, tmp_path, fmt, read):
    config = write_config(tmp_path, {"type": "postgres", "url": small_src},
                          [{"name": "piped", "query": "SELECT * FROM small_src ORDER BY id", "format": fmt,
                            "mode": "incremental", "cursor_column": "id", "destination": {"type": "stdout"}}])
    result = materialize_cli(config, tmp_path / "home", "piped", text=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert read(io.BytesIO(result.stdout))["id"].to_pylist() == list(range(1, 5001))
    assert b"RUN_SUCCESS" in result.stderr                           # the logs went to standard error
    state = state_in(tmp_path)
    assert state.cursor("piped") == 5000 and state.files("piped")[0]["uri"].startswith("stdout:")


def test_rivet_dagster_run_keeps_its_summary_off_standard_output(small_src, tmp_path):
    config = write_config(tmp_path, {"type": "postgres", "url": small_src},
                          [{"name": "piped", "query": "SELECT * FROM small_src ORDER BY id", "format": "parquet",
                            "destination": {"type": "stdout"}}])
    result = subprocess.run([str(Path(sys.executable).with_name("rivet-dagster")), "run", "-c", str(config)],
                            capture_output=True, timeout=120, env={**os.environ, "DAGSTER_HOME": ""})
    assert result.returncode == 0, result.stderr[-2000:]
    assert pq.read_table(io.BytesIO(result.stdout))["id"].to_pylist() == list(range(1, 5001))
    assert b"Export: piped" in result.stderr and b"rows:      5,000" in result.stderr


@pytest.mark.parametrize("extra", [{"mode": "chunked", "chunk_column": "id"}, {"max_file_size": "1MB"},
                                   {"mode": "time_window", "time_column": "at", "partitioning": {"start": "2024-01-01"}}])
def test_stdout_is_refused_where_there_is_no_commit_boundary(tmp_path, extra):
    config = write_config(tmp_path, {"type": "postgres", "url": "postgresql://h/db"},
                          [{"name": "piped", "query": "SELECT 1", "format": "csv",
                            "destination": {"type": "stdout"}, **extra}])
    with pytest.raises(ConfigError, match=r"rivet.yaml:\d+: exports\[0\]\.destination\.type: stdout has no commit"):
        load_config(config)
