"""Crash matrix stages 6 and 7 against real object stores, through real `dagster asset materialize` processes.

Stage 7: the store goes down in the middle of a multi-part upload. The run fails cleanly with a failed metric,
no object without a manifest is taken as complete, the cursor stays; after the store is back, a rerun delivers
every row exactly once and removes what the failed run left.
Stage 6: the staging disk fills (RLIMIT_FSIZE). Nothing reaches the destination; a rerun is clean.
"""
import io
import json
import resource

import pyarrow.csv as pv
import pytest

from rivet_dagster_tests.conftest import materialize, materialize_cli, run_sql, state_in, write_config

ROWS = 800_000  # about 40 MB of CSV: parts of about 20 MB, each a multi-part upload


@pytest.fixture(scope="module")
def big_src(pg_url):
    run_sql(pg_url, "DROP TABLE IF EXISTS big_src",
            f"CREATE TABLE big_src AS SELECT g AS id, md5(g::text) AS a, md5((-g)::text) AS b "
            f"FROM generate_series(1, {ROWS}) g")
    return pg_url


def big_config(tmp_path, url, destination, **export):
    return write_config(tmp_path, {"type": "postgres", "url": url, "tuning": {"profile": "fast"}}, [{
        "name": "big", "query": "SELECT * FROM big_src", "mode": "incremental", "cursor_column": "id",
        "format": "csv", "destination": destination, "tuning": {"max_retries": 1, "retry_backoff_ms": 200},
        **export}])


def manifested(store) -> tuple[list[str], list[str]]:
    """(data objects, data objects listed by a manifest)."""
    keys = store.keys()
    manifests = [json.loads(store.read(k)) for k in keys if k.endswith("_manifest.json")]
    listed = [f["uri"].split(f"{store.bucket}/", 1)[1] for m in manifests for f in m["files"]]
    return [k for k in keys if not k.endswith("_manifest.json")], listed


def exported_ids(store, keys) -> list[int]:
    return sorted(i for k in keys for i in pv.read_csv(io.BytesIO(store.read(k)))["id"].to_pylist())


def test_the_store_going_down_mid_upload_fails_cleanly_and_a_rerun_delivers_everything_once(
        big_src, proxied_store, tmp_path):
    store, proxy, destination = proxied_store
    config = big_config(tmp_path, big_src, destination, max_file_size="20MB")
    state = state_in(tmp_path)

    proxy.cut_after = 30 * 1024 * 1024  # the first part is up, the second is mid-way
    failed = materialize_cli(config, tmp_path / "home", "big")
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert f"on {store.kind.upper()}({store.bucket}) failed" in failed.stderr
    objects, listed = manifested(store)
    assert listed == [] and len(objects) <= 1          # at most the first part, and no manifest: not complete
    assert not store.marked_complete()                 # and no _SUCCESS for readers that look for one
    assert state.cursor("big") is None                 # the cursor did not move
    if store.kind == "s3":
        assert store.unfinished_uploads()              # the cut multi-part upload could not even be aborted
    metric = state.metrics("big")[0]
    assert metric["status"] == "failed" and metric["retries"] == 1 and "failed" in metric["error_message"]

    proxy.restore()
    rerun = materialize_cli(config, tmp_path / "home", "big")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    objects, listed = manifested(store)
    assert sorted(objects) == sorted(listed) and len(objects) >= 2   # nothing unlisted is left behind
    assert store.marked_complete()
    assert exported_ids(store, objects) == list(range(1, ROWS + 1))  # every row, exactly once
    assert state.cursor("big") == ROWS and state.pending_commits("big") == []
    if store.kind == "s3":
        assert store.unfinished_uploads() == []                      # the cut multi-part upload was aborted


def test_a_brief_outage_is_retried_with_backoff_and_the_retry_is_counted(big_src, proxied_store, tmp_path):
    store, proxy, destination = proxied_store
    config = big_config(tmp_path, big_src, destination)
    config.write_text(config.read_text().replace("retry_backoff_ms: 200", "retry_backoff_ms: 1500"))
    proxy.cut_after, proxy.restore_after = 10 * 1024 * 1024, 0.3   # back well before the first retry

    result = materialize(config)
    assert result.success
    assert result.asset_materializations_for_node("big")[0].metadata["rivet/destination_retries"].value == 1
    objects, listed = manifested(store)
    assert objects == listed and exported_ids(store, objects) == list(range(1, ROWS + 1))
    assert state_in(tmp_path).metrics("big")[0]["retries"] == 1
    if store.kind == "s3":
        assert store.unfinished_uploads() == []     # the attempt cut short was aborted once the retry went through


def _limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (8 * 1024 * 1024, 8 * 1024 * 1024))


def test_a_full_staging_disk_fails_cleanly_with_nothing_at_the_destination(big_src, store, tmp_path):
    config = big_config(tmp_path, big_src, store.destination())
    state = state_in(tmp_path)

    full = materialize_cli(config, tmp_path / "home", "big", preexec_fn=_limit_file_size)
    assert full.returncode == 1 and "File too large" in full.stderr, full.stderr[-3000:]
    assert store.keys() == [] and state.cursor("big") is None
    assert state.metrics("big")[0]["status"] == "failed"

    rerun = materialize_cli(config, tmp_path / "home", "big")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    objects, listed = manifested(store)
    assert objects == listed and exported_ids(store, objects) == list(range(1, ROWS + 1))
