"""Crash matrix on local disk: `dagster asset materialize` is SIGKILLed at a stage boundary, then rerun.

After any crash no final path holds a partial file, and a reader that lists the folder as Spark, Hive, DuckDB and
pyarrow do sees no part of an unfinished commit (parts wait under hidden names until their manifest is written),
nor a `_SUCCESS` marker. The rerun delivers every source row: parts a crash left without their manifest are
removed; a commit whose manifest was written is complete, and is published and kept.
"""
import signal
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from rivet_dagster_tests.conftest import assert_intact, materialize_cli, run_sql, state_in, write_config

ROWS = 200_000


@pytest.fixture(scope="module")
def crash_table(pg_url):
    run_sql(pg_url, "DROP TABLE IF EXISTS crash_src",
            "CREATE TABLE crash_src AS SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, 200000) g")
    return pg_url


def final_files(out: Path) -> list[Path]:
    return sorted(out.glob("crash_*.parquet"))


def hidden_parts(out: Path) -> list[Path]:
    return sorted(out.glob(".crash_*.pending"))


def state_rows(config: Path, sql: str) -> list[tuple]:
    with state_in(config.parent).connect() as conn:
        assert_intact(conn)
        return [tuple(row) for row in conn.execute(sql).fetchall()]


@pytest.mark.parametrize("stage, visible_before_rerun, kept_after_rerun", [
    ("fetch", False, False), ("staged", False, False), ("committed", False, False), ("manifest", False, True),
    ("published", True, True), ("recorded", True, True), ("metric", True, True)])
def test_a_sigkill_at_any_stage_leaves_no_partial_file_and_a_rerun_delivers_everything(
        crash_table, tmp_path, export_dir, stage, visible_before_rerun, kept_after_rerun):
    config = write_config(tmp_path, {"type": "postgres", "url": crash_table, "tuning": {"profile": "fast"}},
                          [{"name": "crash", "query": "SELECT * FROM crash_src", "format": "parquet",
                            "max_file_size": "1MB", "tuning": {"batch_size": 20_000},
                            "destination": {"type": "local", "path": str(export_dir)}}])

    crashed = materialize_cli(config, tmp_path / "home", "crash", crash_at=stage)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    for path in final_files(export_dir):  # whatever reached a final path is a complete, readable file
        assert pq.ParquetFile(path).metadata.num_rows > 0
    assert bool(final_files(export_dir)) == visible_before_rerun
    listed = ds.dataset(export_dir, format="parquet").files     # what a reader listing the folder takes
    assert sum(pq.ParquetFile(f).metadata.num_rows for f in listed) == (ROWS if visible_before_rerun else 0)
    [(globbed,)] = duckdb.sql(f"SELECT count(*) FROM glob('{export_dir}/*.parquet')").fetchall()   # DuckDB's glob
    assert bool(globbed) == visible_before_rerun
    assert (export_dir / "_SUCCESS").exists() == (stage == "metric")  # only a finished commit marks the folder
    before = {p.name for p in final_files(export_dir)} | ({p.name for p in hidden_parts(export_dir)}
                                                          if kept_after_rerun else set())

    rerun = materialize_cli(config, tmp_path / "home", "crash")
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    run_files = state_rows(config, "SELECT file_name, row_count FROM file_manifest WHERE run_id = "
                                   "(SELECT run_id FROM export_metrics WHERE status = 'success' ORDER BY id DESC LIMIT 1)")
    ids = [i for name, _ in run_files for i in pq.read_table(export_dir / name)["id"].to_pylist()]
    assert sorted(ids) == list(range(1, ROWS + 1))                    # the rerun lost nothing
    assert sum(rows for _, rows in run_files) == ROWS
    assert not (export_dir / ".rivet-staging").exists()              # leftovers of the crash are cleaned
    after = {p.name for p in final_files(export_dir)}
    assert hidden_parts(export_dir) == [] and (export_dir / "_SUCCESS").exists()
    if kept_after_rerun:
        before = {name.removeprefix(".").removesuffix(".pending") for name in before}
        assert before and before <= after                             # a complete file set stays (at-least-once)
    else:
        assert not before & after                                     # parts without a manifest are gone
    recorded = {name for (name,) in state_rows(config, "SELECT file_name FROM file_manifest")}
    assert after == recorded                                          # no file at the destination is unaccounted
    manifests = sorted(export_dir.glob("_crash_*_manifest.json"))
    assert len(manifests) == 1 + kept_after_rerun                    # every file set that is there has its manifest
