"""deploy/: the instance config for several hosts, used as a deployment uses it. Two hosts (UTS namespaces with
hostnames of their own) share one Dagster instance on PostgreSQL (deploy/dagster.yaml, with the psycopg2 URL it
asks for), one state store on PostgreSQL and one destination folder. Each host runs `dagster asset materialize`
over its own range of a chunked export's chunks, at the same time. Every row is then in the destination once, and
the one instance holds both hosts' runs and every chunk materialized."""
import os
import shutil
import sqlite3
import sys
from pathlib import Path

import dagster as dg
import yaml

from rivet_dagster.config import load_config
from rivet_dagster.modes.chunk_plan import register_plan
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.state.store import close_connections, store_for
from rivet_dagster_tests.commit.test_claimed_scopes import assert_exactly_once, on_host
from rivet_dagster_tests.conftest import schema_url, write_config

ROOT = Path(__file__).parents[1]
ROWS, CHUNK = 20_000, 500


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
    dagster_url = schema_url(pg_url, "dagster").replace("postgresql://", "postgresql+psycopg2://", 1)
    env = {**os.environ, "DAGSTER_PG_URL": dagster_url, "EXPORTS_STATE_URL": schema_url(pg_url, "exports"),
           "RIVET_CONFIG": str(config)}
    homes = {}
    for host in ("host-a", "host-b"):  # each host its own $DAGSTER_HOME, holding the same instance config
        homes[host] = tmp_path / f"home_{host}"
        homes[host].mkdir()
        shutil.copy(ROOT / "deploy" / "dagster.yaml", homes[host] / "dagster.yaml")

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
