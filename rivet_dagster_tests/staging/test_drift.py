"""Schema drift against the last committed schema: added, removed and retyped columns are reported in the
metadata; `on_schema_drift: fail` stops the run before anything is committed."""
import pytest

from rivet_dagster.staging.drift import schema_drift
from rivet_dagster_tests.conftest import materialize, run_sql, state_in, write_config


def test_drift_lists_added_removed_and_retyped_columns_ignoring_order():
    before = [{"name": "id", "type": "int32"}, {"name": "name", "type": "string"}, {"name": "gone", "type": "bool"}]
    after = [{"name": "name", "type": "large_string"}, {"name": "id", "type": "int32"}, {"name": "new", "type": "date32"}]
    assert schema_drift(before, after) == {"added": ["new (date32)"], "removed": ["gone (bool)"],
                                           "retyped": ["name: string -> large_string"]}
    assert schema_drift(before, list(reversed(before))) is None
    assert schema_drift(None, after) is None                            # the first run has nothing to drift from


@pytest.fixture
def shapes(pg_url):
    run_sql(pg_url, "DROP TABLE IF EXISTS shapes",
            "CREATE TABLE shapes AS SELECT g AS id, 'shape ' || g AS name FROM generate_series(1, 100) g")
    return pg_url


def shapes_config(tmp_path, url, out, query, on_schema_drift):
    return write_config(tmp_path, {"type": "postgres", "url": url}, [{
        "name": "shapes", "query": query, "format": "parquet", "on_schema_drift": on_schema_drift,
        "destination": {"type": "local", "path": str(out)}}])


@pytest.mark.parametrize("query, drift", [
    ("SELECT id, name, 1.5::float8 AS area FROM shapes", {"added": ["area (double)"], "removed": [], "retyped": []}),
    ("SELECT id FROM shapes", {"added": [], "removed": ["name (string)"], "retyped": []}),
    ("SELECT id::int8 AS id, name FROM shapes", {"added": [], "removed": [], "retyped": ["id: int32 -> int64"]}),
])
def test_warn_reports_the_drift_and_commits(shapes, tmp_path, export_dir, query, drift):
    materialize(shapes_config(tmp_path, shapes, export_dir, "SELECT * FROM shapes", "warn"))
    result = materialize(shapes_config(tmp_path, shapes, export_dir, query, "warn"))
    assert result.asset_materializations_for_node("shapes")[0].metadata["rivet/schema_drift"].value == drift
    assert len(list(export_dir.glob("shapes_*.parquet"))) == 2


def test_fail_stops_the_run_before_the_commit(shapes, tmp_path, export_dir):
    materialize(shapes_config(tmp_path, shapes, export_dir, "SELECT * FROM shapes", "fail"))
    result = materialize(shapes_config(tmp_path, shapes, export_dir, "SELECT id FROM shapes", "fail"),
                         raise_on_error=False)
    assert not result.success
    message = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "the schema changed since the last committed run (removed: name (string))" in message
    assert len(list(export_dir.glob("shapes_*.parquet"))) == 1          # only the first run's file
    state = state_in(tmp_path)
    assert [m["status"] for m in state.metrics("shapes")] == ["failed", "success"]
    assert [c["name"] for c in state.last_schema("shapes")] == ["id", "name"]  # the committed schema stands


def test_a_reordered_select_is_not_a_schema_change(shapes, tmp_path, export_dir):
    materialize(shapes_config(tmp_path, shapes, export_dir, "SELECT id, name FROM shapes", "fail"))
    result = materialize(shapes_config(tmp_path, shapes, export_dir, "SELECT name, id FROM shapes", "fail"))
    assert "rivet/schema_drift" not in result.asset_materializations_for_node("shapes")[0].metadata
    assert [m["schema_changed"] for m in state_in(tmp_path).metrics("shapes")] == [
        0, 0]                                                           # as Rivet: column order is ignored
