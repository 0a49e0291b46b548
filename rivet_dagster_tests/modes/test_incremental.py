"""Incremental exports: a stored cursor, bound into the query; exactly-once across crashes; the new-rows sensor."""
import signal

import dagster as dg
import pyarrow.parquet as pq
import pytest

from rivet_dagster import build_definitions
from rivet_dagster.state import claims
from rivet_dagster_tests.conftest import assert_intact, materialize, materialize_cli, run_sql, state_in, write_config

ENGINES = {
    "postgres": ("pg_url", "CREATE TABLE events (id int8 PRIMARY KEY, note text, "
                           "updated_at timestamptz NOT NULL)",
                 "INSERT INTO events SELECT g, 'n' || g, timestamptz '2024-01-01' + g * interval '1 second' "
                 "FROM generate_series({lo}, {hi}) g"),
    "mysql": ("mariadb_url", "CREATE TABLE events (id bigint PRIMARY KEY, note text, updated_at datetime(6) NOT NULL)",
              "INSERT INTO events SELECT seq, CONCAT('n', seq), TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND "
              "FROM seq_{lo}_to_{hi}"),
}


def setup_events(url: str, engine: str, rows: int) -> None:
    _, create, insert = ENGINES[engine]
    run_sql(url, "DROP TABLE IF EXISTS events", create, insert.format(lo=1, hi=rows))


def add_events(url: str, engine: str, lo: int, hi: int) -> None:
    run_sql(url, ENGINES[engine][2].format(lo=lo, hi=hi))


def incremental_config(tmp_path, url, engine, out, cursor="updated_at", **extra):
    return write_config(tmp_path, {"type": engine, "url": url},
                        [{"name": "events", "query": "SELECT * FROM events WHERE note LIKE 'n%'",
                          "mode": "incremental", "cursor_column": cursor, "format": "parquet",
                          "destination": {"type": "local", "path": str(out)}, **extra}])


def exported_ids(out) -> list[int]:
    return sorted(i for path in out.glob("events_*.parquet") for i in pq.read_table(path)["id"].to_pylist())


@pytest.mark.parametrize("engine", ["postgres", "mysql"])
@pytest.mark.parametrize("cursor", ["updated_at", "id"])
def test_each_run_exports_only_rows_after_the_cursor(engine, cursor, request, tmp_path, export_dir):
    url = request.getfixturevalue(ENGINES[engine][0])
    setup_events(url, engine, 1000)
    config = incremental_config(tmp_path, url, engine, export_dir, cursor=cursor)
    state = state_in(tmp_path)

    materialize(config)
    assert exported_ids(export_dir) == list(range(1, 1001))
    first_cursor = state.cursor("events")

    quiet = materialize(config)  # nothing new: no file, status skipped, cursor untouched
    assert len(list(export_dir.glob("*.parquet"))) == 1 and state.cursor("events") == first_cursor
    assert state.metrics("events")[0]["status"] == "skipped"
    assert quiet.get_asset_materialization_events() == []        # a skip, not an empty materialization
    [skip] = [e.event_specific_data.asset_observation for e in quiet.all_events if e.is_asset_observation]
    assert skip.metadata["rivet/status"].value == "skipped"

    add_events(url, engine, 1001, 1500)
    materialize(config)
    assert exported_ids(export_dir) == list(range(1, 1501))       # every row once, across the two files
    assert state.cursor("events") > first_cursor
    assert state.pending_window("events") is None


def test_sqlite_incremental_binds_the_cursor(tmp_path, export_dir):
    import sqlite3
    with sqlite3.connect(tmp_path / "src.db") as db:
        db.executescript("CREATE TABLE events (id INTEGER, note TEXT); "
                         "INSERT INTO events VALUES (1, 'n1'), (2, 'n2');")
    config = write_config(tmp_path, {"type": "sqlite", "database": "src.db"},
                          [{"name": "events", "query": "SELECT * FROM events", "mode": "incremental",
                            "cursor_column": "id", "format": "parquet",
                            "destination": {"type": "local", "path": str(export_dir)}}])
    materialize(config)
    with sqlite3.connect(tmp_path / "src.db") as db:
        db.execute("INSERT INTO events VALUES (3, 'n3')")
    materialize(config)
    assert exported_ids(export_dir) == [1, 2, 3]


def test_a_cursor_column_missing_from_the_query_is_a_clear_error(pg_url, tmp_path, export_dir):
    setup_events(pg_url, "postgres", 10)
    config = incremental_config(tmp_path, pg_url, "postgres", export_dir, cursor="changed_at")
    result = materialize(config, raise_on_error=False)
    error = str(result.get_step_failure_events()[0].event_specific_data.error)
    assert "cursor_column 'changed_at' is not a column of the query (columns: id, note, updated_at)" in error


@pytest.mark.parametrize("stage", ["fetch", "staged", "committed", "manifest", "cursor", "metric"])
def test_a_sigkill_at_any_stage_never_loses_or_duplicates_rows(pg_url, tmp_path, export_dir, stage):
    setup_events(pg_url, "postgres", 20_000)
    config = incremental_config(tmp_path, pg_url, "postgres", export_dir, max_file_size="64KB",
                                tuning={"batch_size": 2000})
    state = state_in(tmp_path)
    assert materialize_cli(config, tmp_path / "home", "events").returncode == 0
    add_events(pg_url, "postgres", 20_001, 30_000)

    crashed = materialize_cli(config, tmp_path / "home", "events", crash_at=stage)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    cursor_after_crash = state.cursor("events")
    committed = exported_ids(export_dir)
    assert max(committed) >= 20_000 and cursor_after_crash.timestamp() <= 1704067200 + max(committed)  # never ahead

    add_events(pg_url, "postgres", 30_001, 31_000)              # rows arriving between crash and rerun
    for _ in range(2):                                           # repair the window, then the new rows
        rerun = materialize_cli(config, tmp_path / "home", "events")
        assert rerun.returncode == 0, rerun.stderr[-2000:]
    ids = exported_ids(export_dir)
    assert ids == list(range(1, 31_001))                          # every row, exactly once
    assert state.pending_window("events") is None
    with state.connect() as conn:
        assert_intact(conn)
        manifest = {r[0] for r in conn.execute("SELECT file_name FROM file_manifest")}
    assert manifest == {p.name for p in export_dir.glob("events_*.parquet")}   # the manifest matches the files


def test_the_new_rows_sensor_requests_one_run_per_batch_of_new_rows(pg_url, tmp_path, export_dir):
    setup_events(pg_url, "postgres", 100)
    config = incremental_config(tmp_path, pg_url, "postgres", export_dir, sensor={"interval_seconds": 30})
    defs = build_definitions(config)
    sensor = defs.resolve_sensor_def("events_new_rows")
    assert sensor.minimum_interval_seconds == 30 and sensor.default_status == dg.DefaultSensorStatus.RUNNING
    instance = dg.DagsterInstance.ephemeral()

    def tick(cursor=None):
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=defs.resources) as context:
            return sensor(context)

    first = tick()
    assert [r.run_key for r in first.run_requests] == [f"events:{first.cursor}"]
    assert isinstance(tick(first.cursor), dg.SkipReason)          # same rows: no second request

    materialize(config)
    assert "no rows with updated_at after" in tick(first.cursor).skip_message
    add_events(pg_url, "postgres", 101, 105)
    running = claims.take_one(state_in(tmp_path), "events", None, "run-in-flight", lambda run, owner: True)
    assert tick(first.cursor).skip_message == "run run-in-flight is exporting the cursor window"  # waits for it
    claims.release([running])
    again = tick(first.cursor)
    assert len(again.run_requests) == 1 and again.cursor != first.cursor


def test_the_sensor_shows_a_source_error_as_a_failed_tick(tmp_path, export_dir):
    config = incremental_config(tmp_path, "postgresql://nobody@127.0.0.1:1/none", "postgres", export_dir)
    defs = build_definitions(config)
    sensor = defs.resolve_sensor_def("events_new_rows")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED   # off unless `sensor:` is configured
    with dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(), resources=defs.resources) as context:
        with pytest.raises(Exception, match="cannot connect to postgresql"):
            sensor(context)
