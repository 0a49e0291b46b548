"""The way the UI drives chunked exports: dagster-webserver + dagster-daemon on the project's workspace, a
partition backfill launched through GraphQL in which one chunk fails, then "failed and missing".

(A chunk cannot be made "missing" by deleting it: SQLite instance storage refuses to wipe one partition,
UnsupportedOperationError; a failed chunk is what resume meets in practice.)"""
import shutil

import dagster as dg
import pyarrow.parquet as pq

from rivet_dagster import build_definitions
from rivet_dagster.config import load_config
from rivet_dagster.modes.chunk_plan import chunk_key, register_plan
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster_tests.conftest import run_sql, state_in, write_config
from rivet_dagster_tests.dagster_services import ROOT, dagster_services, wait_for

KEYS = [chunk_key(1, 4000), chunk_key(4001, 8000), chunk_key(8001, 10000)]
LAUNCH = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  __typename ... on PartitionBackfill { status } ... on PythonError { message } } }"""


def backfill(server, keys: list[str]) -> str:
    data = server.graphql(LAUNCH, {"params": {"partitionNames": keys, "assetSelection": [{"path": ["items"]}]}})
    launched = data["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    def finished():
        status = server.graphql(STATUS, {"id": backfill_id})["partitionBackfillOrError"]["status"]
        return status if status in ("COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED") else None

    return wait_for(finished, 240, f"backfill {backfill_id}")


def test_a_ui_backfill_then_failed_and_missing_exports_only_the_failed_chunk(pg_url, tmp_path, export_dir):
    run_sql(pg_url, "DROP TABLE IF EXISTS items", "DROP TABLE IF EXISTS poison",
            "CREATE TABLE items AS SELECT g AS id, 'item ' || g AS label FROM generate_series(1, 10000) g",
            "ALTER TABLE items ADD PRIMARY KEY (id)",   # each chunk is an index range scan of its own rows
            "CREATE TABLE poison (broken bool)", "INSERT INTO poison VALUES (false)")
    query = ("SELECT i.id, i.label FROM items i WHERE 1 / (CASE WHEN i.id = 5000 AND (SELECT broken FROM poison) "
             "THEN 0 ELSE 1 END) = 1")
    config_path = write_config(tmp_path, {"type": "postgres", "url": pg_url},
                               [{"name": "items", "query": query, "mode": "chunked", "chunk_column": "id",
                                 "chunk_size": 4000, "chunk_checkpoint": True, "chunk_max_attempts": 1,
                                 "parallel": 2, "format": "parquet",
                                 "destination": {"type": "local", "path": str(export_dir)}}])
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")   # the shipped instance config: queued runs
    config = load_config(config_path)
    state = state_in(tmp_path)
    register_plan(dg.DagsterInstance.from_config(str(home)), config, config.exports[0],
                  SourceDatabase(config.source, config.base_dir), state)
    run_sql(pg_url, "UPDATE poison SET broken = true")     # row 5000 now fails its chunk

    with dagster_services(home, config_path, tmp_path) as server:
        assert backfill(server, KEYS) == "COMPLETED_FAILED", (tmp_path / "dagster-daemon.log").read_text()[-3000:]
        def chunk_files():
            return {key: list(export_dir.glob(f"items_{key}_*.parquet")) for key in KEYS}

        failed = KEYS[1]
        first = chunk_files()
        assert first[failed] == [] and len(first[KEYS[0]]) == len(first[KEYS[2]]) == 1
        assert [t["status"] for t in state.chunk_tasks("items")] == ["completed", "failed", "completed"]

        run_sql(pg_url, "UPDATE poison SET broken = false")
        instance = dg.DagsterInstance.from_config(str(home))
        assets_def = dg.Definitions.merge(build_definitions(config_path)).get_assets_def("items")
        status = instance.get_status_by_partition(dg.AssetKey("items"), KEYS, assets_def.partitions_def)
        failed_and_missing = [k for k in KEYS if status[k] != dg.AssetPartitionStatus.MATERIALIZED]
        assert failed_and_missing == [failed]                       # what the UI's "failed and missing" selects

        assert backfill(server, failed_and_missing) == "COMPLETED_SUCCESS"
        files = chunk_files()
        assert pq.read_table(files[failed][0])["id"].to_pylist() == list(range(4001, 8001))
        assert {key: files[key] for key in KEYS if key != failed} == {                # the others were not redone
            key: first[key] for key in KEYS if key != failed}
        assert sorted(i for [f] in files.values() for i in pq.read_table(f)["id"].to_pylist()) == list(range(1, 10001))
        assert [t["status"] for t in state.chunk_tasks("items")] == ["completed"] * 3
