"""S3 and GCS destinations: every mode round-trips through each store, the manifest is written last and lists
exactly the files, `prefix` is a folder, and downstream assets read what was committed."""
import io
import json
import socket

import dagster as dg
import pyarrow.csv as pv
import pyarrow.parquet as pq
import pytest

from rivet_dagster import ExportedFiles, build_definitions
from rivet_dagster.commit.destinations import open_destination
from rivet_dagster.config import load_config
from rivet_dagster.modes.chunk_plan import register_plan
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster_tests.commit.conftest import S3_SECRET_KEY, CuttableProxy
from rivet_dagster_tests.conftest import materialize, run_sql, state_in, write_config

ROWS = 9000
MODES = {
    "full": {"mode": "full"},
    "incremental": {"mode": "incremental", "cursor_column": "id"},
    "chunked": {"mode": "chunked", "chunk_column": "id", "chunk_size": 4000, "chunk_checkpoint": True},
    "time_window": {"mode": "time_window", "time_column": "at",
                    "partitioning": {"granularity": "daily", "start": "2024-01-01", "end_offset": 0}},
}


@pytest.fixture(scope="module")
def cloud_src(pg_url):
    """9000 rows, one every 30 seconds from 2024-01-01 00:00 UTC (just over three days)."""
    run_sql(pg_url, "DROP TABLE IF EXISTS cloud_src",
            "CREATE TABLE cloud_src AS SELECT g AS id, timestamptz '2024-01-01 00:00+00' + (g - 1) * interval "
            "'30 seconds' AS at, 'label ' || g AS label FROM generate_series(1, 9000) g")
    return pg_url


def cloud_config(tmp_path, url, destination, **export):
    export = {"name": "cloud", "query": "SELECT * FROM cloud_src", "format": "parquet",
              "destination": destination, **export}
    return write_config(tmp_path, {"type": "postgres", "url": url}, [export])


def materialize_all(config_path, instance) -> None:
    """Every partition of the export (chunks are planned first, as the planner sensor would)."""
    config = load_config(config_path)
    export = config.exports[0]
    state = state_in(config_path.parent)
    if export.mode == "chunked":
        keys = register_plan(instance, config, export, SourceDatabase(config.source, config.base_dir), state)
    elif export.mode == "time_window":
        keys = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]  # the days that hold rows
    else:
        keys = [None]
    for key in keys:
        materialize(config_path, instance=instance, partition_key=key)


def step_error(result) -> str:
    """The failed step's error with its causes, as the UI shows it."""
    return result.get_step_failure_events()[0].event_specific_data.error.to_string()


def manifests_in(store, keys) -> list[dict]:
    return [json.loads(store.read(key)) for key in keys if key.endswith("_manifest.json")]


def ids_from_objects(store, keys, fmt="parquet") -> list[int]:
    reader = (lambda b: pq.read_table(io.BytesIO(b))) if fmt == "parquet" else (lambda b: pv.read_csv(io.BytesIO(b)))
    return sorted(i for key in keys if key.endswith(f".{fmt}") for i in reader(store.read(key))["id"].to_pylist())


@pytest.mark.parametrize("mode", list(MODES))
def test_every_mode_round_trips_through_the_store_with_a_manifest_per_materialization(
        cloud_src, store, tmp_path, mode):
    config = cloud_config(tmp_path, cloud_src, store.destination(), **MODES[mode])
    instance = dg.DagsterInstance.ephemeral()
    materialize_all(config, instance)

    keys = store.keys()
    assert keys and all(key.startswith("exports/") and "//" not in key for key in keys)
    manifests = manifests_in(store, keys)
    listed = sorted(f["uri"] for m in manifests for f in m["files"])
    data_keys = [key for key in keys if not key.endswith("_manifest.json")]
    assert listed == sorted(f"{store.scheme}://{store.bucket}/{key}" for key in data_keys)  # no unlisted object
    assert ids_from_objects(store, keys) == list(range(1, ROWS + 1))
    assert store.marked_complete()                                    # _SUCCESS: the last commit finished
    assert sum(m["rows"] for m in manifests) == ROWS
    assert all(m["export"] == "cloud" and m["schema"][0] == {"name": "id", "type": "int32"} for m in manifests)
    assert all(m["run_id"] and f["rows"] > 0 and f["bytes"] > 0 and len(f["sha256"]) == 64
               for m in manifests for f in m["files"])
    uri = instance.get_latest_materialization_event(dg.AssetKey("cloud")).asset_materialization.metadata["dagster/uri"]
    assert uri.value in {f"{store.scheme}://{store.bucket}/{key}" for key in keys if key.endswith("_manifest.json")}
    partitions = sorted(m["partition"] for m in manifests if m["partition"] is not None)
    assert len(partitions) == {"full": 0, "incremental": 0, "chunked": 3, "time_window": 4}[mode]
    if mode == "time_window":
        [day] = [m for m in manifests if m["partition"] == "2024-01-02"]
        assert day["time_window"] == {"start": "2024-01-02T00:00:00+00:00", "end": "2024-01-03T00:00:00+00:00"}
    if mode == "incremental":
        assert manifests[0]["cursor_window"] == {"column": "id", "after": None, "up_to": str(ROWS), "typed": {
            "after": None, "up_to": {"type": "int", "value": str(ROWS)}}}
        assert state_in(tmp_path).cursor("cloud") == ROWS


def test_a_downstream_asset_reads_the_committed_files_as_a_dataset(cloud_src, store, tmp_path):
    config = cloud_config(tmp_path, cloud_src, store.destination(prefix="nested/exports"), **MODES["chunked"])
    instance = dg.DagsterInstance.ephemeral()
    materialize_all(config, instance)

    @dg.asset(ins={"cloud": dg.AssetIn()})
    def cloud_rows(cloud: ExportedFiles) -> int:
        assert all(uri.startswith(f"{store.scheme}://{store.bucket}/nested/exports/cloud_") for uri in cloud.uris)
        table = cloud.dataset().to_table(columns=["id"])
        assert sorted(table["id"].to_pylist()) == list(range(1, ROWS + 1))
        return table.num_rows

    defs = build_definitions(config)
    result = dg.materialize([*defs.assets, cloud_rows], resources=defs.resources, selection=["cloud_rows"],
                            instance=instance)
    assert result.output_for_node("cloud_rows") == ROWS


def test_gcs_uploads_are_create_only(cloud_src, gcs, tmp_path):
    """The emulator does not enforce preconditions, so what is checked is that every upload asks for one."""
    proxy = CuttableProxy(gcs.port)
    proxy.record = True
    config = cloud_config(tmp_path, cloud_src, {**gcs.destination(), "endpoint": proxy.endpoint})
    materialize(config)
    proxy.cut()
    uploads = [line for line in bytes(proxy.recorded).split(b"\r\n") if line.startswith(b"POST /upload/")]
    assert len(uploads) == 3                                   # the file, its manifest, then _SUCCESS
    assert all(b"ifGenerationMatch=0" in line for line in uploads)  # the marker was withdrawn at the start


def test_a_partitioned_downstream_asset_reads_its_partitions_latest_files(cloud_src, store, tmp_path):
    config = cloud_config(tmp_path, cloud_src, store.destination(), **MODES["time_window"])
    instance = dg.DagsterInstance.ephemeral()
    materialize_all(config, instance)
    materialize(config, instance=instance, partition_key="2024-01-02")          # superseded by a new file set
    defs = build_definitions(config)

    @dg.asset(ins={"cloud": dg.AssetIn()}, partitions_def=defs.assets[0].partitions_def)
    def day_rows(cloud: ExportedFiles) -> int:
        assert len(cloud.manifests) == 1 and cloud.manifests[0]["partition"] == "2024-01-02"
        return cloud.dataset().count_rows()

    result = dg.materialize([*defs.assets, day_rows], resources=defs.resources, selection=["day_rows"],
                            instance=instance, partition_key="2024-01-02")
    assert result.output_for_node("day_rows") == 2880                  # one day at one row every 30 seconds


@pytest.mark.parametrize("prefix", ["exports", "exports/", "/exports//"])
def test_prefix_is_a_folder_whether_or_not_it_ends_in_a_slash(cloud_src, s3, tmp_path, prefix):
    config = cloud_config(tmp_path, cloud_src, s3.destination(prefix=prefix), query="SELECT * FROM cloud_src "
                          "WHERE id <= 10")
    materialize(config)
    keys = s3.keys()
    assert len(keys) == 2 and all(key.startswith("exports/cloud_") or key.startswith("exports/_cloud_")
                                  for key in keys)


def test_a_missing_bucket_fails_at_once_naming_the_bucket(cloud_src, store, tmp_path):
    config = cloud_config(tmp_path, cloud_src, store.destination(bucket="rivet-no-such-bucket"),
                          tuning={"max_retries": 3, "retry_backoff_ms": 5000})
    result = materialize(config, raise_on_error=False)
    assert not result.success
    message = step_error(result)
    assert "rivet-no-such-bucket" in message and "does not exist" in message
    metric = state_in(tmp_path).metrics("cloud")[0]
    assert metric["status"] == "failed" and metric["retries"] == 0        # permanent: no retry, no backoff
    assert metric["duration_ms"] < 5000


def test_gcs_honours_storage_emulator_host(cloud_src, gcs, tmp_path, monkeypatch):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.endpoint)
    destination = {key: value for key, value in gcs.destination().items() if key != "endpoint"}
    config = cloud_config(tmp_path, cloud_src, destination)
    materialize(config)
    assert ids_from_objects(gcs, gcs.keys()) == list(range(1, ROWS + 1))
    exported = ExportedFiles.read("cloud", open_destination(load_config(config).exports[0].destination),
                                  state_in(tmp_path).manifest_uris("cloud"))
    assert exported.dataset().count_rows() == ROWS                       # pyarrow's GCS filesystem too


def test_staged_files_stay_after_a_failed_commit_until_the_next_run(cloud_src, proxied_store, tmp_path):
    store, proxy, destination = proxied_store
    staging = tmp_path / "staging"
    config = cloud_config(tmp_path, cloud_src, destination, tuning={"max_retries": 1, "retry_backoff_ms": 100})
    config.write_text(config.read_text() + f"staging_dir: {staging}\n")
    instance = dg.DagsterInstance.ephemeral()
    proxy.cut_after = 4096          # the preflight gets through, the upload does not: the store goes down
    failed = materialize(config, raise_on_error=False, instance=instance)
    assert not failed.success
    kept = list((staging / socket.gethostname() / "cloud" / failed.run_id).glob("*.parquet"))
    assert len(kept) == 1 and pq.read_metadata(kept[0]).num_rows == ROWS     # left for diagnosis

    proxy.restore()
    rerun = materialize(config, instance=instance)
    assert rerun.success and not staging.exists()             # the leftover swept, this run's folder removed
    assert ids_from_objects(store, store.keys()) == list(range(1, ROWS + 1))


def test_a_missing_bucket_fails_before_the_source_is_read(cloud_src, store, tmp_path):
    staging = tmp_path / "staging"
    config = cloud_config(tmp_path, cloud_src, store.destination(bucket="rivet-not-there"))
    config.write_text(config.read_text() + f"staging_dir: {staging}\n")
    result = materialize(config, raise_on_error=False)
    assert "preflight on" in step_error(result) and "does not exist" in step_error(result)
    assert not staging.exists() and state_in(tmp_path).pending_commits("cloud") == []


def test_missing_credential_variables_fail_without_leaking_anything(cloud_src, s3, tmp_path, monkeypatch):
    monkeypatch.delenv("RIVET_TEST_S3_SECRET")
    config = cloud_config(tmp_path, cloud_src, s3.destination())
    result = materialize(config, raise_on_error=False)
    message = step_error(result)
    assert "RIVET_TEST_S3_SECRET" in message and "not set" in message
    assert "AKIARIVETTEST" not in message and S3_SECRET_KEY not in message and s3.keys() == []
    assert state_in(tmp_path).metrics("cloud")[0]["total_rows"] == 0
