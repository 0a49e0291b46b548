"""deploy/: the instance config for several hosts, used as a deployment uses it. Hosts (UTS namespaces with
hostnames of their own) share one Dagster instance on PostgreSQL (deploy/dagster.yaml, with the psycopg2 URL it
asks for), one state store on PostgreSQL and one destination folder.
- Two hosts each run `dagster asset materialize` over their own range of a chunked export's chunks at once: every
  row is in the destination once, and the one instance holds both hosts' runs and every chunk materialized.
- One host serves the UI and runs the daemon while two others run the CLI against the same source: a UI backfill
  and the CLI runs keep together to the source's session limit."""
import os
import shutil
import sqlite3
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import yaml

from rivet_dagster.config import load_config
from rivet_dagster.modes.chunk_plan import register_plan
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.state.store import close_connections, store_for
from rivet_dagster_tests.commit.test_claimed_scopes import assert_exactly_once, on_host
from rivet_dagster_tests.commit.test_every_stage import ids, manifests
from rivet_dagster_tests.conftest import run_sql, schema_url, write_config
from rivet_dagster_tests.dagster_services import dagster_services, wait_for
from rivet_dagster_tests.defs.test_source_sessions import SessionSampler
from rivet_dagster_tests.modes.test_chunked_backfill import backfill

ROOT = Path(__file__).parents[1]
ROWS, CHUNK = 20_000, 500


def shared_instance(pg_url: str, config: Path, tmp_path: Path, hosts: list[str]) -> tuple[dict, dict[str, Path]]:
    """deploy/: one Dagster instance on PostgreSQL (a schema of its own, the psycopg2 URL) and one state store
    (`EXPORTS_STATE_URL`, another schema); the environment every host runs with, and each host's $DAGSTER_HOME
    holding deploy/dagster.yaml."""
    dagster_url = schema_url(pg_url, "dagster").replace("postgresql://", "postgresql+psycopg2://", 1)
    env = {**os.environ, "DAGSTER_PG_URL": dagster_url, "EXPORTS_STATE_URL": schema_url(pg_url, "exports"),
           "RIVET_CONFIG": str(config)}
    homes = {}
    for host in hosts:
        homes[host] = tmp_path / f"home_{host}"
        homes[host].mkdir()
        shutil.copy(ROOT / "deploy" / "dagster.yaml", homes[host] / "dagster.yaml")
    return env, homes


def test_two_hosts_share_one_postgres_instance_and_export_each_chunk_once(pg_url, tmp_path, monkeypatch):
    database = tmp_path / "source.db"
    with sqlite3.connect(database) as conn:
        conn.execute(f"CREATE TABLE items AS WITH RECURSIVE n(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM n "
                     f"WHERE id < {ROWS}) SELECT id, 'item ' || id AS label FROM n")
    config = write_config(tmp_path, {"type": "sqlite", "database": str(database)}, [{
        "name": "items", "query": "SELECT id, label FROM items", "mode": "chunked", "chunk_column": "id",
        "chunk_size": CHUNK, "chunk_checkpoint": True, "parallel": 2, "format": "parquet",
        "destination": {"type": "local", "path": "out"}}])
    config.write_text(config.read_text() + yaml.safe_dump({"state": {"url_env": "EXPORTS_STATE_URL"}}))
    env, homes = shared_instance(pg_url, config, tmp_path, ["host-a", "host-b"])

    for name in ("DAGSTER_PG_URL", "EXPORTS_STATE_URL"):
        monkeypatch.setenv(name, env[name])
    try:
        loaded = load_config(config)
        with dg.DagsterInstance.from_config(str(homes["host-a"])) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            keys = register_plan(instance, loaded, loaded.exports[0], SourceDatabase(loaded.source, loaded.base_dir),
                                 store_for(loaded))
        assert len(keys) == ROWS // CHUNK
        half = len(keys) // 2
        dagster = str(Path(sys.executable).with_name("dagster"))
        hosts = [on_host(host, [dagster, "asset", "materialize", "-m", "rivet_dagster.definitions", "--select", "items",
                                "--partition-range", f"{first}...{last}"],
                         {**env, "DAGSTER_HOME": str(homes[host])})
                 for host, (first, last) in [("host-a", (keys[0], keys[half - 1])), ("host-b", (keys[half], keys[-1]))]]
        errors = [host.communicate(timeout=300)[1] for host in hosts]
        assert [host.returncode for host in hosts] == [0, 0], [error[-3000:] for error in errors]

        assert_exactly_once(tmp_path / "out", store_for(loaded), ROWS)
        with dg.DagsterInstance.from_config(str(homes["host-b"])) as instance:  # the other host sees it all
            assert len(instance.get_runs()) == 2
            assert set(instance.get_materialized_partitions(dg.AssetKey("items"))) == set(keys)
    finally:
        close_connections()


def test_a_ui_backfill_and_cli_runs_on_other_hosts_keep_to_the_source_session_limit(pg_url, tmp_path, monkeypatch):
    """Host A serves the UI and runs the daemon on the shared instance. A backfill launched through it (GraphQL,
    the UI's own call) exports the first half of a chunked export's chunks; meanwhile host B runs `dagster asset
    materialize` over the second half and host C `rivet-dagster run` of a full export from the same source. The
    source allows two sessions: pg_stat_activity never shows more, the runs that found none free waited, every
    row is exported once, and the one instance shows every chunk materialized."""
    table, application = f"items_{uuid.uuid4().hex[:8]}", f"rivet_src_{uuid.uuid4().hex[:8]}"
    run_sql(pg_url, f"CREATE TABLE {table} AS SELECT g AS id, 'item ' || g AS label FROM generate_series(1, {ROWS}) g",
            f"ALTER TABLE {table} ADD PRIMARY KEY (id)")
    config = write_config(tmp_path, {"type": "postgres", "url": f"{pg_url}?application_name={application}",
                                     "max_sessions": 2, "tuning": {"batch_size": 500, "throttle_ms": 300}}, [
        {"name": "items", "query": f"SELECT id, label FROM {table}", "mode": "chunked", "chunk_column": "id",
         "chunk_size": 1000, "chunk_checkpoint": True, "parallel": 2, "format": "parquet",
         "destination": {"type": "local", "path": "out"}},
        {"name": "copy", "query": f"SELECT id, label FROM {table} WHERE id <= 5000", "format": "parquet",
         "destination": {"type": "local", "path": "copy"}}])
    config.write_text(config.read_text() + yaml.safe_dump({"state": {"url_env": "EXPORTS_STATE_URL"}}))
    env, homes = shared_instance(pg_url, config, tmp_path, ["host-a", "host-b", "host-c"])
    for name in ("DAGSTER_PG_URL", "EXPORTS_STATE_URL"):
        monkeypatch.setenv(name, env[name])
    sampler = SessionSampler(pg_url, application)
    try:
        loaded = load_config(config)
        with dg.DagsterInstance.from_config(str(homes["host-a"])) as instance:
            keys = register_plan(instance, loaded, loaded.exports[0], SourceDatabase(loaded.source, loaded.base_dir),
                                 store_for(loaded))
        split, bin_dir = len(keys) * 3 // 4, Path(sys.executable).parent
        sampler.start()
        with dagster_services(homes["host-a"], config, tmp_path, host="host-a", env=env) as server, \
                ThreadPoolExecutor(1) as launcher, dg.DagsterInstance.from_config(str(homes["host-b"])) as instance:
            launched = launcher.submit(backfill, server, keys[:split])
            wait_for(lambda: instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])), 120,
                     "the backfill's run to start")  # then the other hosts start, while it reads
            others = [on_host("host-b", [str(bin_dir / "dagster"), "asset", "materialize", "-m",
                                         "rivet_dagster.definitions", "--select", "items", "--partition-range",
                                         f"{keys[split]}...{keys[-1]}"], {**env, "DAGSTER_HOME": str(homes["host-b"])}),
                      on_host("host-c", [str(bin_dir / "rivet-dagster"), "run", "-c", str(config), "-e", "copy"],
                              {**env, "DAGSTER_HOME": str(homes["host-c"])})]
            errors = [host.communicate(timeout=300)[1] for host in others]
            status = launched.result()
        daemon_log = (tmp_path / "dagster-daemon.log").read_text()
        assert status == "COMPLETED_SUCCESS", daemon_log[-3000:]
        assert [host.returncode for host in others] == [0, 0], [error[-3000:] for error in errors]
        with dg.DagsterInstance.from_config(str(homes["host-c"])) as instance:
            assert set(instance.get_materialized_partitions(dg.AssetKey("items"))) == set(keys)
            messages = [entry.user_message for run in instance.get_runs() for entry in instance.all_logs(run.run_id)]
    finally:
        sampler.done.set()
        if sampler.is_alive():
            sampler.join(timeout=10)
        close_connections()
    assert sampler.most == 2, sampler.most
    assert any("waiting for a session of source pool" in message for message in [*messages, *errors])
    assert_exactly_once(tmp_path / "out", store_for(loaded), ROWS)
    assert ids(tmp_path / "copy", {f["name"] for m in manifests(tmp_path / "copy") for f in m["files"]}) == \
        list(range(1, 5001))
