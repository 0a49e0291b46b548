"""Source errors are classified from the real servers' codes: a transient one (the backend terminated or the
connection killed mid-fetch) is retried with a fresh connection and every row arrives once; a permanent one
(wrong password, missing table) fails at once with the database's message and a hint."""
import multiprocessing
import time

import dagster as dg
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from rivet_dagster.config import load_config
from rivet_dagster.modes.chunk_plan import register_plan
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.source.errors import PERMANENT, classify
from rivet_dagster_tests.conftest import materialize, sql_engine, state_in, write_config

ROWS = {"postgres": 3000, "mysql": 20000}
SLOW = {  # rows that take the server a few seconds to produce, so there is time to cut them off (pg_sleep waits
    # at least a millisecond a row)
    "postgres": ("pg_url", "SELECT g AS id, pg_sleep(0.0001)::text AS s FROM generate_series(1, 3000) g",
                 "SELECT pid FROM pg_stat_activity WHERE query LIKE '%%pg_sleep(0.0001)%%' AND state = 'active' "
                 "AND query NOT LIKE '%%LIMIT 0%%' AND pid <> pg_backend_pid()", "SELECT pg_terminate_backend({})"),
    "mysql": ("mariadb_url", "SELECT seq AS id, SLEEP(0.0003) AS s FROM seq_1_to_20000",
              "SELECT id FROM information_schema.processlist WHERE info LIKE '%%SLEEP(0.0003)%%' "
              "AND command IN ('Query', 'Execute') AND info NOT LIKE '%%LIMIT 0%%' AND id <> CONNECTION_ID()",
              "KILL CONNECTION {}"),
}


def _cut_off(url: str, find: str, kill: str, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    with sql_engine(url).execution_options(isolation_level="AUTOCOMMIT").connect() as conn:  # fresh stats
        while time.monotonic() < deadline:
            found = conn.execute(sa.text(find)).scalar()
            if found is not None:
                time.sleep(0.2)
                conn.execute(sa.text(kill.format(found)))
                return
            time.sleep(0.05)


def cut_off_once(url: str, find: str, kill: str, deadline_s: float = 30) -> multiprocessing.Process:
    """Kill the export's server connection once its read (not the LIMIT 0 describe) has run for a moment. A
    process of its own: connectorx holds the GIL while it waits on the network, which would starve a thread."""
    killer = multiprocessing.get_context("fork").Process(target=_cut_off, args=(url, find, kill, deadline_s),
                                                         daemon=True)
    killer.start()
    return killer


MODES = {  # every read path: a full read, a chunk's bound range, an incremental read after a bound cursor
    "full": {},
    "chunked": {"mode": "chunked", "chunk_column": "id", "chunk_size": 100_000},
    "incremental": {"mode": "incremental", "cursor_column": "id"},
}


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("engine", list(SLOW))
def test_a_connection_killed_mid_fetch_is_retried_and_every_row_arrives_once(engine, mode, request, tmp_path,
                                                                              export_dir):
    fixture, query, find, kill = SLOW[engine]
    url = request.getfixturevalue(fixture)
    config = write_config(tmp_path, {"type": engine, "url": url}, [{
        "name": "slow", "query": query, "format": "parquet", "tuning": {"max_retries": 2, "retry_backoff_ms": 200},
        "destination": {"type": "local", "path": str(export_dir)}, **MODES[mode]}])
    instance, run = dg.DagsterInstance.ephemeral(), {}
    if mode == "chunked":
        loaded = load_config(config)
        [run["partition_key"]] = register_plan(instance, loaded, loaded.exports[0],
                                               SourceDatabase(loaded.source, loaded.base_dir),
                                               state_in(tmp_path))
    if mode == "incremental":  # a stored cursor, so the read that is cut binds it
        state_in(tmp_path).close_window("slow", 0)
    killer = cut_off_once(url, find, kill)
    result = materialize(config, instance=instance, **run)
    killer.join(timeout=5)
    assert result.asset_materializations_for_node("slow")[0].metadata["rivet/source_retries"].value == 1
    [path] = list(export_dir.glob("slow_*.parquet"))
    assert sorted(pq.read_table(path)["id"].to_pylist()) == list(range(1, ROWS[engine] + 1))
    assert state_in(tmp_path).metrics("slow")[0]["retries"] == 1


def permanent_failure(config):
    started = time.monotonic()
    result = materialize(config, raise_on_error=False)
    message = result.get_step_failure_events()[0].event_specific_data.error.to_string()
    return message, time.monotonic() - started


def test_a_wrong_password_fails_at_once_with_a_hint_and_no_password(mariadb_url, tmp_path, export_dir):
    url = sa.make_url(mariadb_url).set(password="not-the-password").render_as_string(hide_password=False)
    config = write_config(tmp_path, {"type": "mysql", "url": url}, [{
        "name": "denied", "query": "SELECT 1 AS x", "format": "csv",
        "tuning": {"max_retries": 3, "retry_backoff_ms": 5000}, "destination": {"type": "local", "path": str(export_dir)}}])
    message, seconds = permanent_failure(config)
    assert "check the user and password" in message and "not retried" in message
    assert "not-the-password" not in message and seconds < 5             # no backoff was spent


@pytest.mark.parametrize("engine, fixture", [("postgres", "pg_url"), ("mysql", "mariadb_url")])
def test_a_missing_table_fails_at_once(engine, fixture, request, tmp_path, export_dir):
    config = write_config(tmp_path, {"type": engine, "url": request.getfixturevalue(fixture)}, [{
        "name": "missing", "query": "SELECT * FROM no_such_table", "format": "csv",
        "tuning": {"max_retries": 3, "retry_backoff_ms": 5000}, "destination": {"type": "local", "path": str(export_dir)}}])
    message, seconds = permanent_failure(config)
    assert "no_such_table" in message and "the table does not exist; not retried" in message and seconds < 5
    assert state_in(tmp_path).metrics("missing")[0]["retries"] == 0


@pytest.mark.parametrize("engine, fixture, statement, transient", [
    ("postgres", "pg_url", "SELECT * FROM no_such_table", False),
    ("postgres", "pg_url", "SELEC 1", False),
    ("postgres", "pg_url", "SET statement_timeout = 1; SELECT pg_sleep(1)", False),
    ("mysql", "mariadb_url", "SELECT no_such_column FROM (SELECT 1 AS x) t", False),
    ("mysql", "mariadb_url", "SET STATEMENT max_statement_time = 0.001 FOR SELECT SLEEP(1) FROM seq_1_to_10", False),
])
def test_real_server_errors_are_classified_by_their_codes(engine, fixture, request, statement, transient):
    with pytest.raises(sa.exc.DBAPIError) as raised, sql_engine(request.getfixturevalue(fixture)).connect() as conn:
        for part in statement.split("; "):
            conn.exec_driver_sql(part)
    verdict = classify(raised.value)
    assert verdict.transient is transient and verdict.reason != PERMANENT
