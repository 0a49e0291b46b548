"""`quality:` gates are an asset check judged on the staged data: a failing gate fails the materialization
with nothing committed (no file, no manifest, no cursor move) and says which column and by how much."""
import pytest

from rivet_dagster_tests.conftest import materialize, run_sql, state_in, write_config

TABLES = {
    "postgres": ("pg_url", "CREATE TABLE people AS SELECT g AS id, CASE WHEN g % 4 = 0 THEN NULL ELSE 'p' || g END "
                           "AS email, g % 50 AS team FROM generate_series(1, 1000) g"),
    "mysql": ("mariadb_url", "CREATE TABLE people AS SELECT seq AS id, CASE WHEN seq % 4 = 0 THEN NULL ELSE "
                             "CONCAT('p', seq) END AS email, seq % 50 AS team FROM seq_1_to_1000"),
}


@pytest.fixture(params=list(TABLES))
def people(request):
    url = request.getfixturevalue(TABLES[request.param][0])
    run_sql(url, "DROP TABLE IF EXISTS people", TABLES[request.param][1].replace("%", "%%"))
    return request.param, url


def people_config(tmp_path, people, out, quality, query="SELECT * FROM people", **export):
    engine, url = people
    return write_config(tmp_path, {"type": engine, "url": url}, [{
        "name": "people", "query": query, "format": "parquet", "mode": "incremental", "cursor_column": "id",
        "destination": {"type": "local", "path": str(out)}, "quality": quality, **export}])


def quality_check(result):
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "quality"]
    return evaluation


def assert_nothing_committed(tmp_path, out):
    state = state_in(tmp_path)
    assert list(out.glob("*people*")) == []                            # no file, no manifest
    assert state.files("people") == [] and state.cursor("people") is None
    assert state.metrics("people")[0]["status"] == "failed"


def test_passing_gates_pass_the_check_with_their_figures(people, tmp_path, export_dir):
    config = people_config(tmp_path, people, export_dir, {
        "row_count_min": 1000, "row_count_max": 1000, "null_ratio_max": {"email": 0.25}, "unique_columns": ["id"]})
    result = materialize(config)
    check = quality_check(result)
    assert check.passed
    assert {k: v.value for k, v in check.metadata.items()} == {
        "row_count": 1000, "null_ratio.email": 0.25, "duplicated_values.id": 0}
    assert len(list(export_dir.glob("people_*.parquet"))) == 1


@pytest.mark.parametrize("quality, failure", [
    ({"null_ratio_max": {"email": 0.1}}, "null ratio of 'email' is 0.2500 (250 of 1000 rows), above 0.1 by 0.1500"),
    ({"unique_columns": ["id", "team"]}, "'team' is not unique: 50 value(s) occur more than once"),
    ({"row_count_max": 999}, "row_count 1000 exceeds maximum 999"),
])
def test_a_failing_gate_fails_the_run_before_anything_is_committed(people, tmp_path, export_dir, quality, failure):
    config = people_config(tmp_path, people, export_dir, quality)
    result = materialize(config, raise_on_error=False)
    assert not result.success
    check = quality_check(result)
    assert not check.passed and failure in check.metadata["failures"].value[0]
    assert failure in result.get_step_failure_events()[0].event_specific_data.error.message
    assert_nothing_committed(tmp_path, export_dir)
    assert not (export_dir / ".rivet-staging").exists()              # the rejected parts are discarded


def test_row_count_gates_apply_to_an_empty_result(people, tmp_path, export_dir):
    config = people_config(tmp_path, people, export_dir, {"row_count_min": 1},
                           query="SELECT * FROM people WHERE id < 0")
    result = materialize(config, raise_on_error=False)
    assert not quality_check(result).passed
    assert "row_count 0 below minimum 1" in quality_check(result).metadata["failures"].value[0]
    assert_nothing_committed(tmp_path, export_dir)


def test_a_gate_on_a_column_the_query_does_not_return_names_the_key(people, tmp_path, export_dir):
    config = people_config(tmp_path, people, export_dir, {"unique_columns": ["nope"]})
    result = materialize(config, raise_on_error=False)
    message = result.get_step_failure_events()[0].event_specific_data.error.to_string()
    assert "quality.unique_columns: column(s) nope not in the query's result" in message
    assert_nothing_committed(tmp_path, export_dir)
