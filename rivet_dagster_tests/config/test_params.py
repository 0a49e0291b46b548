"""`${KEY}` in queries and query files takes the run's params (run config, `--param`), then the params given to
build_definitions, then the environment; a missing key fails before any query runs; the values used are in
the materialization's metadata, secrets excepted."""
import re

import pyarrow.parquet as pq
import pytest

from rivet_dagster_tests.conftest import materialize, run_sql, write_config


@pytest.fixture
def numbers(pg_url):
    run_sql(pg_url, "DROP TABLE IF EXISTS numbers", "CREATE TABLE numbers AS SELECT g AS id FROM generate_series(1, 50) g")
    return pg_url


def params_run(**params) -> dict:
    return {"ops": {"numbers": {"config": {"params": params}}}}


def ids_in(out) -> list[int]:
    return sorted(i for p in out.glob("numbers_*.parquet") for i in pq.read_table(p)["id"].to_pylist())


def test_run_params_fill_an_inline_query_and_are_recorded(numbers, tmp_path, export_dir):
    config = write_config(tmp_path, {"type": "postgres", "url": numbers}, [{
        "name": "numbers", "query": "SELECT id FROM numbers WHERE id <= ${MAX_ID} AND '${DB_PASSWORD}' <> ''",
        "format": "parquet", "destination": {"type": "local", "path": str(export_dir)}}])
    result = materialize(config, run_config=params_run(MAX_ID="10", DB_PASSWORD="hunter2"))
    assert ids_in(export_dir) == list(range(1, 11))
    recorded = result.asset_materializations_for_node("numbers")[0].metadata["rivet/params"].value
    assert recorded == {"MAX_ID": "10", "DB_PASSWORD": "***"}


def test_a_query_file_takes_params_and_the_environment(numbers, tmp_path, export_dir, monkeypatch):
    (tmp_path / "numbers.sql").write_text("SELECT id FROM numbers WHERE id BETWEEN ${LOW} AND ${HIGH}\n")
    monkeypatch.setenv("HIGH", "7")
    config = write_config(tmp_path, {"type": "postgres", "url": numbers}, [{
        "name": "numbers", "query_file": "numbers.sql", "format": "parquet",
        "destination": {"type": "local", "path": str(export_dir)}}])
    materialize(config, run_config=params_run(LOW="5", HIGH="6"))           # the run's value wins
    assert ids_in(export_dir) == [5, 6]
    for path in export_dir.glob("numbers_*.parquet"):
        path.unlink()
    materialize(config, run_config=params_run(LOW="5"))                       # then the environment
    assert ids_in(export_dir) == [5, 6, 7]


def test_a_missing_param_fails_before_any_query_naming_the_key(numbers, tmp_path, export_dir):
    config = write_config(tmp_path, {"type": "postgres", "url": numbers}, [{
        "name": "numbers", "query": "SELECT id FROM numbers WHERE id <= ${MAX_ID}", "format": "parquet",
        "destination": {"type": "local", "path": str(export_dir)}}])
    result = materialize(config, raise_on_error=False)
    message = result.get_step_failure_events()[0].event_specific_data.error.to_string()
    assert re.search(r"rivet\.yaml:\d+: exports\[0\]\.query: variable '\$\{MAX_ID\}' is not set", message)
    assert list(export_dir.iterdir()) == []
