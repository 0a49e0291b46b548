"""Chunked exports: chunk ranges as dynamic partitions, one replaceable file set per chunk, checkpoints; a run
takes a range of chunks and reports each one as soon as it is committed."""
import os
import signal
import subprocess
import time

import dagster as dg
import pyarrow.parquet as pq
import pytest

from rivet_dagster import build_definitions
from rivet_dagster.cli.run import RANGE_END, RANGE_START
from rivet_dagster.config import load_config
from rivet_dagster.modes.chunk_plan import ChunkPlanMismatch, chunk_key, register_plan, reset_plan
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.state.store import StateStore
from rivet_dagster_tests.conftest import (assert_intact, chunk_set, dagster_cli, materialize, materialize_cli, run_sql,
                                          sql_engine, state_in, write_config)

KEYS = [chunk_key(1, 10000), chunk_key(10001, 20000), chunk_key(20001, 25000)]
SOURCES = {"postgres": ("pg_url", "CREATE TABLE items AS SELECT g AS id, 'item ' || g AS label, g % 3 = 0 AS odd "
                                  "FROM generate_series(1, 25000) g"),
           "mysql": ("mariadb_url", "CREATE TABLE items AS SELECT seq AS id, CONCAT('item ', seq) AS label, "
                                    "seq % 3 = 0 AS odd FROM seq_1_to_25000")}


@pytest.fixture(params=["postgres", "mysql"])
def items(request):
    url = request.getfixturevalue(SOURCES[request.param][0])
    run_sql(url, "DROP TABLE IF EXISTS items", SOURCES[request.param][1].replace("%", "%%"))
    return request.param, url


def chunked_config(tmp_path, engine, url, out, **extra):
    export = {"name": "items", "query": "SELECT * FROM items", "mode": "chunked", "chunk_column": "id",
              "chunk_size": 10000, "chunk_checkpoint": True, "parallel": 2, "format": "parquet",
              "destination": {"type": "local", "path": str(out)}, **extra}
    return write_config(tmp_path, {"type": engine, "url": url}, [export])


def planned(config_path, instance) -> tuple[list[str], StateStore]:
    config = load_config(config_path)
    state = state_in(config_path.parent)
    return register_plan(instance, config, config.exports[0], SourceDatabase(config.source, config.base_dir),
                         state), state


def ids_of(paths) -> list[int]:
    return sorted(i for path in paths for i in pq.read_table(path)["id"].to_pylist())


def test_the_planner_adds_missing_chunk_keys_once(items, tmp_path, export_dir):
    engine, url = items
    config = chunked_config(tmp_path, engine, url, export_dir)
    instance = dg.DagsterInstance.ephemeral()
    added, state = planned(config, instance)
    assert added == KEYS and instance.get_dynamic_partitions(chunk_set(config)) == KEYS
    assert planned(config, instance)[0] == []
    assert [t["status"] for t in state.chunk_tasks("items")] == ["pending"] * 3


def test_each_chunk_exports_exactly_its_range_and_checkpoints_it(items, tmp_path, export_dir):
    engine, url = items
    config = chunked_config(tmp_path, engine, url, export_dir)
    instance = dg.DagsterInstance.ephemeral()
    _, state = planned(config, instance)
    for key in KEYS:
        materialize(config, partition_key=key, instance=instance)
    for key, (low, high) in zip(KEYS, [(1, 10000), (10001, 20000), (20001, 25000)]):
        assert ids_of(list(export_dir.glob(f"items_{key}_*.parquet"))) == list(range(low, high + 1))
    tasks = state.chunk_tasks("items")
    assert [(t["status"], t["attempts"], t["rows_written"]) for t in tasks] == [
        ("completed", 1, 10000), ("completed", 1, 10000), ("completed", 1, 5000)]


def test_materializing_a_chunk_again_replaces_its_files(pg_url, tmp_path, export_dir):
    run_sql(pg_url, "DROP TABLE IF EXISTS items", SOURCES["postgres"][1].replace("%", "%%"))
    config = chunked_config(tmp_path, "postgres", pg_url, export_dir, max_file_size="32KB",
                            tuning={"batch_size": 1000})
    instance = dg.DagsterInstance.ephemeral()
    planned(config, instance)
    materialize(config, partition_key=KEYS[0], instance=instance)
    first = sorted(export_dir.glob("*.parquet"))
    assert len(first) > 1                                               # every rotated part is delivered
    materialize(config, partition_key=KEYS[0], instance=instance)
    again = sorted(export_dir.glob("*.parquet"))
    assert len(again) == len(first) and not set(again) & set(first)     # new names; the superseded set is gone
    assert ids_of(again) == list(range(1, 10001))
    stem = again[0].name.rsplit("_part", 1)[0]
    assert [m.name for m in export_dir.glob("_*_manifest.json")] == [f"_{stem}_manifest.json"]  # the old one too


def test_a_changed_plan_is_refused_until_it_is_reset(pg_url, tmp_path, export_dir):
    run_sql(pg_url, "DROP TABLE IF EXISTS items", SOURCES["postgres"][1].replace("%", "%%"))
    config = chunked_config(tmp_path, "postgres", pg_url, export_dir)
    instance = dg.DagsterInstance.ephemeral()
    _, state = planned(config, instance)
    config.write_text(config.read_text().replace("chunk_size: 10000", "chunk_size: 5000"))
    with pytest.raises(ChunkPlanMismatch,
                       match=r"fingerprint mismatch .*rivet-dagster state reset-chunks .*reset_plan"):
        planned(config, instance)
    reset_plan(instance, load_config(config), "items", state)
    assert planned(config, instance)[0] == [chunk_key(s, min(s + 4999, 25000)) for s in range(1, 25001, 5000)]


def test_dense_chunks_cut_row_numbers_in_column_order(pg_url, tmp_path, export_dir):
    run_sql(pg_url, "DROP TABLE IF EXISTS items", SOURCES["postgres"][1].replace("%", "%%"))
    config = chunked_config(tmp_path, "postgres", pg_url, export_dir, chunk_column="label", chunk_dense=True,
                            query="SELECT * FROM items WHERE id <= 300", chunk_size=100)
    instance = dg.DagsterInstance.ephemeral()
    added, _ = planned(config, instance)
    assert added == [chunk_key(1, 100), chunk_key(101, 200), chunk_key(201, 300)]
    for key in added:
        materialize(config, partition_key=key, instance=instance)
    tables = [pq.read_table(*export_dir.glob(f"items_{key}_*.parquet")) for key in added]
    assert all(t.schema.names == ["id", "label", "odd"] for t in tables)   # no row-number column
    with sql_engine(pg_url).connect() as conn:   # the database's own order of the chunk column
        ranked = conn.exec_driver_sql("SELECT label FROM items WHERE id <= 300 ORDER BY label").scalars().all()
    assert [set(t["label"].to_pylist()) for t in tables] == [set(ranked[i:i + 100]) for i in (0, 100, 200)]


def test_each_chunk_is_tried_chunk_max_attempts_times_inside_its_run(pg_url, tmp_path, export_dir):
    """Not by Dagster's retry policy, which would redo the run's committed chunks too."""
    run_sql(pg_url, "DROP TABLE IF EXISTS items", SOURCES["postgres"][1].replace("%", "%%"))
    config = chunked_config(tmp_path, "postgres", pg_url, export_dir, chunk_max_attempts=3,
                            query="SELECT id, 1 / (id - 15000) AS x FROM items", tuning={"retry_backoff_ms": 10})
    assert build_definitions(config).get_assets_def("items").op.retry_policy is None
    instance = dg.DagsterInstance.ephemeral()
    _, state = planned(config, instance)
    result = materialize(config, instance=instance, raise_on_error=False,
                         tags={RANGE_START: KEYS[0], RANGE_END: KEYS[-1]})
    assert not result.success
    tasks = {t["chunk_key"]: (t["status"], t["attempts"]) for t in state.chunk_tasks("items")}
    assert tasks == {KEYS[0]: ("completed", 1), KEYS[1]: ("failed", 3), KEYS[2]: ("completed", 1)}
    assert ids_of(export_dir.glob("*.parquet")) == [*range(1, 10001), *range(20001, 25001)]
    assert instance.get_materialized_partitions(dg.AssetKey("items")) == {KEYS[0], KEYS[2]}


def test_a_failed_chunk_is_checkpointed_as_failed(pg_url, tmp_path, export_dir):
    run_sql(pg_url, "DROP TABLE IF EXISTS items", SOURCES["postgres"][1].replace("%", "%%"))
    config = chunked_config(tmp_path, "postgres", pg_url, export_dir, chunk_max_attempts=1,
                            query="SELECT id, 1 / (id - 5) AS x FROM items")
    instance = dg.DagsterInstance.ephemeral()
    _, state = planned(config, instance)
    assert not materialize(config, partition_key=KEYS[0], instance=instance, raise_on_error=False).success
    [task] = [t for t in state.chunk_tasks("items") if t["chunk_key"] == KEYS[0]]
    assert (task["status"], task["attempts"]) == ("failed", 1) and "division by zero" in task["last_error"]


def test_the_planner_sensor_requests_the_missing_partitions(pg_url, tmp_path, export_dir):
    run_sql(pg_url, "DROP TABLE IF EXISTS items", SOURCES["postgres"][1].replace("%", "%%"))
    config_path = chunked_config(tmp_path, "postgres", pg_url, export_dir)
    defs = build_definitions(config_path)
    sensor = defs.resolve_sensor_def("items_chunk_planner")
    with dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(), resources=defs.resources) as context:
        result = sensor(context)
    [request] = result.dynamic_partitions_requests
    assert (request.partitions_def_name, list(request.partition_keys)) == (chunk_set(config_path), KEYS)


@pytest.mark.parametrize("stage", ["fetch", "staged", "committed", "manifest", "cursor", "metric"])
def test_a_sigkill_in_a_chunk_is_repaired_by_rerunning_it(pg_url, tmp_path, export_dir, stage):
    run_sql(pg_url, "DROP TABLE IF EXISTS items", SOURCES["postgres"][1].replace("%", "%%"))
    config = chunked_config(tmp_path, "postgres", pg_url, export_dir, max_file_size="32KB",
                            tuning={"batch_size": 1000})
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    _, state = planned(config, dg.DagsterInstance.from_config(str(home)))
    select = ("--partition", KEYS[1])
    crashed = materialize_cli(config, home, "items", crash_at=stage, extra=select)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    [task] = [t for t in state.chunk_tasks("items") if t["chunk_key"] == KEYS[1]]
    assert task["status"] == ("completed" if stage in ("cursor", "metric") else "running")
    rerun = materialize_cli(config, home, "items", extra=select)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert ids_of(export_dir.glob("items_*.parquet")) == list(range(10001, 20001))   # once each, none lost
    with state.connect() as conn:
        assert_intact(conn)
        manifest = {r[0] for r in conn.execute("SELECT file_name FROM file_manifest")}
    assert manifest == {p.name for p in export_dir.glob("items_*.parquet")}


# ── a run takes a range of chunks ─────────────────────────────────────────────────────────────────────────────

def test_a_range_of_chunks_is_one_run_that_reports_each_chunk_as_its_partition(items, tmp_path, export_dir):
    """`dagster asset materialize --partition-range`, as a backfill launches it: one process, one run, and each
    partition's materialization carries that chunk's own figures."""
    engine, url = items
    config = chunked_config(tmp_path, engine, url, export_dir)
    home = tmp_path / "home"
    home.mkdir()
    planned(config, dg.DagsterInstance.from_config(str(home)))
    done = materialize_cli(config, home, "items", extra=("--partition-range", f"{KEYS[0]}...{KEYS[-1]}"))
    assert done.returncode == 0, done.stderr[-3000:]
    instance = dg.DagsterInstance.from_config(str(home))
    [run] = instance.get_runs()
    events = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    for key in ("dagster/row_count", "dagster/partition_row_count"):
        rows = {e.event_log_entry.dagster_event.partition:
                e.event_log_entry.asset_materialization.metadata[key].value for e in events}
        assert rows == {KEYS[0]: 10000, KEYS[1]: 10000, KEYS[2]: 5000}
    assert ids_of(export_dir.glob("items_*.parquet")) == list(range(1, 25001))


def test_a_run_killed_mid_range_keeps_its_finished_chunks_and_the_rerun_redoes_only_the_rest(pg_url, tmp_path,
                                                                                             export_dir):
    """`parallel: 1`; chunk 2 stalls on row 10001 (a sleep the test switches on after planning) until the
    test SIGKILLs the run. Chunk 1 is materialized in Dagster and completed in the state store; "failed and
    missing" is chunks 2 and 3, and their rerun leaves chunk 1's files as they were."""
    run_sql(pg_url, "DROP TABLE IF EXISTS items", "DROP TABLE IF EXISTS stall",
            SOURCES["postgres"][1].replace("%", "%%"), "CREATE TABLE stall (seconds int)",
            "INSERT INTO stall VALUES (0)")
    query = ("SELECT * FROM items WHERE (SELECT count(*) FROM pg_sleep(CASE WHEN items.id = 10001 THEN "
             "(SELECT seconds FROM stall) ELSE 0 END)) = 1")
    config = chunked_config(tmp_path, "postgres", pg_url, export_dir, parallel=1, query=query)
    home = tmp_path / "home"
    home.mkdir()
    _, state = planned(config, dg.DagsterInstance.from_config(str(home)))
    run_sql(pg_url, "UPDATE stall SET seconds = 120")
    command, env = dagster_cli(config, home, "items", extra=("--partition-range", f"{KEYS[0]}...{KEYS[-1]}"))
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        deadline = time.monotonic() + 90
        while KEYS[0] not in instance.get_materialized_partitions(dg.AssetKey("items")):
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()[-3000:]
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        # the killed run's query sleeps on in its server session (pg_sleep never looks at the client): end it,
        # or it holds its lock on `items` for two minutes
        run_sql(pg_url, "UPDATE stall SET seconds = 0", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE query LIKE 'COPY%%FROM stall%%' AND pid <> pg_backend_pid()")
    first = sorted(export_dir.glob("items_*.parquet"))
    assert ids_of(first) == list(range(1, 10001))
    assert [t["status"] for t in state.chunk_tasks("items")][0] == "completed"
    status = instance.get_status_by_partition(dg.AssetKey("items"), KEYS, dg.DynamicPartitionsDefinition(
        name=chunk_set(config)))
    rest = [key for key in KEYS if status[key] != dg.AssetPartitionStatus.MATERIALIZED]
    assert rest == KEYS[1:]
    rerun = materialize_cli(config, home, "items", extra=("--partition-range", f"{rest[0]}...{rest[-1]}"))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert ids_of(export_dir.glob("items_*.parquet")) == list(range(1, 25001))     # every id once
    assert set(first) <= set(export_dir.glob("items_*.parquet"))                    # chunk 1 was not redone
    assert [t["status"] for t in state.chunk_tasks("items")] == ["completed"] * 3
