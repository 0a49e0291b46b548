"""A run loads the drivers and client libraries of its own source and destination only: a PostgreSQL export to
local disk never imports the MySQL driver, connectorx, boto3 or google-cloud-storage, and a run on an
Arrow-native reader (PostgreSQL, MySQL/MariaDB) never imports pandas, nor pyarrow.dataset, which imports it (each
costs start-up time and memory in every run process; SQLite's rows are Python values, and pyarrow imports pandas
to convert any). Observed on `dagster asset materialize` itself, with `python -X importtime`."""
import re
import sqlite3
import subprocess
import sys

import pytest

from rivet_dagster_tests.conftest import dagster_cli, run_sql, write_config

SOURCE_LIBRARIES = {"postgres": {"adbc_driver_postgresql"}, "mysql": {"pymysql", "connectorx"}, "sqlite": set()}
DESTINATION_LIBRARIES = {"local": set(), "s3": {"boto3"}, "gcs": {"google.cloud.storage"}}
NATIVE_READS_NEVER = {"pandas", "pyarrow.dataset"}
CELLS = [("postgres", "local"), ("mysql", "local"), ("sqlite", "local"), ("postgres", "s3"), ("postgres", "gcs")]
IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", re.M)


def source_for(engine: str, request, tmp_path) -> dict:
    """A three-row table `libs` on the engine's test server (a file for SQLite)."""
    if engine == "sqlite":
        with sqlite3.connect(tmp_path / "libs.db") as conn:
            conn.execute("CREATE TABLE libs AS SELECT 1 AS id UNION ALL SELECT 2 UNION ALL SELECT 3")
        return {"type": "sqlite", "database": str(tmp_path / "libs.db")}
    url = request.getfixturevalue("pg_url" if engine == "postgres" else "mariadb_url")
    run_sql(url, "DROP TABLE IF EXISTS libs", "CREATE TABLE libs AS SELECT 1 AS id UNION ALL SELECT 2 "
            "UNION ALL SELECT 3")
    return {"type": engine, "url": url}


def destination_for(kind: str, request, tmp_path) -> dict:
    if kind == "local":
        return {"type": "local", "path": str(tmp_path / "out")}
    return request.getfixturevalue(kind).destination()


@pytest.mark.parametrize("engine, destination", CELLS, ids=[f"{e}-{d}" for e, d in CELLS])
def test_a_run_imports_only_its_own_source_and_destination_libraries(engine, destination, request, tmp_path):
    config = write_config(tmp_path, source_for(engine, request, tmp_path), [
        {"name": "libs", "query": "SELECT * FROM libs", "format": "parquet",
         "destination": destination_for(destination, request, tmp_path)}])
    command, env = dagster_cli(config, tmp_path / "home", "libs")
    result = subprocess.run([sys.executable, "-X", "importtime", *command], env=env, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    imported = set(IMPORTED.findall(result.stderr))
    needed = SOURCE_LIBRARIES[engine] | DESTINATION_LIBRARIES[destination]
    others = set().union(*SOURCE_LIBRARIES.values(), *DESTINATION_LIBRARIES.values(),
                         NATIVE_READS_NEVER if engine != "sqlite" else set()) - needed
    assert needed <= imported, f"the run did not use {sorted(needed - imported)}: is this test still observing?"
    assert not others & imported, f"{engine} -> {destination} imported {sorted(others & imported)}"
