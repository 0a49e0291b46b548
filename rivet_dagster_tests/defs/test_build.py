"""Any mix of exports loads, in the Dagster CLI and the UI, and runs; several configs merge into one code location;
runs launched from an asset's page wait for their source's pool like every other run."""
from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
import yaml

from rivet_dagster import ConfigError, build_definitions
from rivet_dagster.config import load_config
from rivet_dagster.defs.names import DefinitionNames, source_group
from rivet_dagster_tests.conftest import dagster_cli, run_sql, state_in, write_config
from rivet_dagster_tests.dagster_services import ROOT, dagster_services, wait_for

BIN = Path(sys.executable).parent
ROWS = 300
NOW = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
SLOW = "SELECT a.id, a.updated_at FROM activity a, (SELECT pg_sleep(3)) AS s"


@pytest.fixture(scope="module")
def activity(pg_url):
    """300 rows, one every 15 minutes back from now (created_at, naive UTC), updated a minute apart."""
    run_sql(pg_url, "DROP TABLE IF EXISTS activity",
            "CREATE TABLE activity (id int8 PRIMARY KEY, updated_at timestamptz NOT NULL, created_at timestamp NOT NULL,"
            " note text)",
            f"INSERT INTO activity SELECT g, now() - ({ROWS} - g) * interval '1 minute', "
            "(now() AT TIME ZONE 'UTC') - g * interval '15 minutes', 'row ' || g FROM generate_series(1, 300) g")
    return pg_url


def every_mode_twice(directory: Path, url: str) -> Path:
    """Two full, two incremental, two chunked, an hourly and a daily window, and Rivet's trailing window."""
    local = {"type": "local", "path": "out"}
    start = NOW - dt.timedelta(days=3)
    exports = [
        {"name": "full_a", "query": SLOW, "format": "parquet"},
        {"name": "full_b", "query": SLOW, "format": "csv"},
        {"name": "incr_a", "query": "SELECT * FROM activity", "mode": "incremental", "cursor_column": "updated_at",
         "format": "parquet"},
        {"name": "incr_b", "query": "SELECT * FROM activity", "mode": "incremental", "cursor_column": "id",
         "format": "csv"},
        {"name": "chunks_a", "query": "SELECT * FROM activity", "mode": "chunked", "chunk_column": "id",
         "chunk_size": 100, "format": "parquet"},
        {"name": "chunks_b", "query": "SELECT * FROM activity", "mode": "chunked", "chunk_column": "id",
         "chunk_size": 120, "chunk_dense": True, "chunk_checkpoint": True, "parallel": 2, "format": "parquet"},
        {"name": "hourly", "query": "SELECT * FROM activity", "mode": "time_window", "time_column": "created_at",
         "partitioning": {"granularity": "hourly", "start": start.strftime("%Y-%m-%d-%H:00")}, "format": "parquet"},
        {"name": "daily", "query": "SELECT * FROM activity", "mode": "time_window", "time_column": "created_at",
         "partitioning": {"granularity": "daily", "start": start.strftime("%Y-%m-%d")}, "format": "csv"},
        {"name": "trailing", "query": "SELECT * FROM activity", "mode": "time_window", "time_column": "created_at",
         "days_window": 2, "format": "parquet"},
    ]
    directory.mkdir(parents=True, exist_ok=True)
    return write_config(directory, {"type": "postgres", "url": url}, [{**e, "destination": local} for e in exports])


def dagster_home(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "dagster.yaml", path / "dagster.yaml")   # the shipped instance config: queued runs, pools
    return path


def dagster(home: Path, config: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DAGSTER_HOME": str(home), "RIVET_CONFIG": str(config)}
    return subprocess.run([str(BIN / "dagster"), *args], env=env, capture_output=True, text=True, timeout=180)


ASSETS = "{ assetNodes { assetKey { path } } }"
LOCATIONS = """{ workspaceOrError { ... on Workspace { locationEntries { name locationOrLoadError {
  __typename ... on PythonError { message } } } } } }"""
LAUNCH = """mutation($params: ExecutionParams!) { launchPipelineExecution(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
RUN = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"


def launch_from_asset_page(server, export: str) -> str:
    """What the asset page's Materialize button sends: the implicit asset job, this asset, no tags."""
    params = {"selector": {"repositoryLocationName": "rivet_dagster", "repositoryName": "__repository__",
                           "pipelineName": "__ASSET_JOB", "assetSelection": [{"path": [export]}],
                           "assetCheckSelection": []},
              "mode": "default", "executionMetadata": {"tags": []}, "runConfigData": "{}"}
    launched = server.graphql(LAUNCH, {"params": params})["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def test_a_config_with_every_mode_twice_loads_in_the_cli_and_the_ui_and_asset_page_runs_wait_for_the_pool(
        activity, tmp_path):
    config = every_mode_twice(tmp_path / "mixed", activity)
    home = dagster_home(tmp_path / "home")
    validated = dagster(home, config, "definitions", "validate", "-m", "rivet_dagster.definitions")
    assert validated.returncode == 0, validated.stderr[-3000:]
    names = [e["name"] for e in yaml.safe_load(config.read_text())["exports"]]

    pool = f"rivet_{source_group(load_config(config))}"
    assert dagster(home, config, "instance", "concurrency", "set", pool, "1").returncode == 0
    with dagster_services(home, config, tmp_path) as server:
        [location] = server.graphql(LOCATIONS)["workspaceOrError"]["locationEntries"]
        assert location["locationOrLoadError"]["__typename"] == "RepositoryLocation", location
        group = source_group(load_config(config))      # and the table they all read, upstream of them
        assert sorted("/".join(n["assetKey"]["path"]) for n in server.graphql(ASSETS)["assetNodes"]) == sorted(
            [*names, f"{group}/public/activity"])

        first, second = launch_from_asset_page(server, "full_a"), launch_from_asset_page(server, "full_b")

        def status(run_id):
            return server.graphql(RUN, {"id": run_id})["runOrError"]["status"]

        wait_for(lambda: status(first) == "STARTED", 90, "the first run to start")
        assert status(second) == "QUEUED"                      # one slot in the source's pool, and it is taken
        wait_for(lambda: {status(first), status(second)} == {"SUCCESS"}, 120, "both runs to finish")
    instance = dg.DagsterInstance.from_config(str(home))
    assert instance.get_run_stats(second).start_time >= instance.get_run_stats(first).end_time


def test_every_export_of_a_mixed_config_materializes_and_reconciles(activity, tmp_path):
    config = every_mode_twice(tmp_path / "mixed", activity)
    home = dagster_home(tmp_path / "home")
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    result = subprocess.run([str(BIN / "rivet-dagster"), "run", "-c", str(config), "--reconcile"], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stderr.count("MATCH") == 9 and "MISMATCH" not in result.stderr, result.stderr
    out = config.parent / "out"
    for name in ("full_a", "incr_a", "chunks_a", "chunks_b"):
        assert sum(pq.read_table(p).num_rows for p in out.glob(f"{name}_*.parquet")) == ROWS, name
    statuses = {m["export_name"]: m["status"] for m in state_in(config.parent)
                .metrics(last=1000)}
    assert set(statuses) == {e.name for e in load_config(config).exports}
    assert set(statuses.values()) == {"success"}


def test_what_init_writes_for_a_database_with_two_integer_keyed_tables_loads(activity, tmp_path):
    run_sql(activity, "DROP TABLE IF EXISTS accounts", "CREATE TABLE accounts (id int PRIMARY KEY, name text)",
            "INSERT INTO accounts VALUES (1, 'a'), (2, 'b')")
    env = {**os.environ, "RIVET_INIT_URL": activity, "DAGSTER_HOME": str(dagster_home(tmp_path / "home"))}
    written = subprocess.run([str(BIN / "rivet-dagster"), "init", "--source-env", "RIVET_INIT_URL", "--table",
                              "activity", "--table", "accounts", "-o", str(tmp_path / "rivet.yaml")], env=env,
                             capture_output=True, text=True, timeout=120)
    assert written.returncode == 0, written.stderr
    modes = [e["mode"] for e in yaml.safe_load((tmp_path / "rivet.yaml").read_text())["exports"]]
    assert modes == ["chunked", "chunked"]
    validated = dagster(tmp_path / "home", tmp_path / "rivet.yaml", "definitions", "validate", "-m",
                        "rivet_dagster.definitions")
    assert validated.returncode == 0, validated.stderr[-3000:]


MERGED = """import dagster as dg
from rivet_dagster import ConfigError, build_definitions

defs = dg.Definitions.merge(build_definitions("{a}"), build_definitions("{b}"))
"""


@pytest.mark.sqlite_state  # each config's state file beside it is what it checks
def test_two_configs_with_overlapping_modes_merge_into_one_code_location(activity, tmp_path):
    def config(name: str) -> Path:
        return write_config(tmp_path / name, {"type": "postgres", "url": activity}, [
            {"name": f"{name}_full", "query": "SELECT * FROM activity", "format": "parquet",
             "destination": {"type": "local", "path": "out"}},
            {"name": f"{name}_chunks", "query": "SELECT * FROM activity", "mode": "chunked", "chunk_column": "id",
             "chunk_size": 1000, "format": "parquet", "destination": {"type": "local", "path": "out"}},
            {"name": f"{name}_events", "query": "SELECT * FROM activity", "mode": "incremental",
             "cursor_column": "updated_at", "format": "parquet", "destination": {"type": "local", "path": "out"}}])

    (tmp_path / "sales").mkdir()
    (tmp_path / "billing").mkdir()
    a, b = config("sales"), config("billing")
    code = tmp_path / "defs.py"
    code.write_text(MERGED.format(a=a, b=b))          # the README's recipe, loaded by the Dagster CLI
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home(tmp_path / "home"))}
    validated = subprocess.run([str(BIN / "dagster"), "definitions", "validate", "-f", str(code)], env=env,
                               capture_output=True, text=True, timeout=180)
    assert validated.returncode == 0, validated.stderr[-3000:]

    merged = dg.Definitions.merge(build_definitions(a), build_definitions(b))
    # the table both read is one external asset (the first config defines it), upstream of all six exports
    [table] = [spec for spec in merged.resolve_all_asset_specs() if spec.key.path[-1] == "activity"]
    assert not table.metadata.get("dagster/auto_created_stub_asset") and table.kinds == {"postgres"}
    assert table.group_name == DefinitionNames.of(load_config(a)).group
    assert {dep.asset_key for spec in merged.resolve_all_asset_specs() for dep in spec.deps} == {table.key}
    assert {DefinitionNames.of(load_config(a)).source, DefinitionNames.of(load_config(b)).source} <= set(
        merged.resources)
    jobs = {job.name for job in merged.resolve_all_job_defs()}
    assert {"rivet_sales_exports", "rivet_billing_exports"} <= jobs
    result = dg.materialize([*merged.assets, *merged.asset_checks], resources=merged.resources,
                            selection=["sales_full", "billing_events"], instance=dg.DagsterInstance.ephemeral())
    assert result.success
    assert sum(pq.read_table(p).num_rows for p in (tmp_path / "sales" / "out").glob("sales_full_*.parquet")) == ROWS
    assert state_in(tmp_path / "billing").cursor("billing_events") is not None
    assert not (tmp_path / "sales" / ".rivet_state.db").exists() or \
        state_in(tmp_path / "sales").cursor("billing_events") is None


def test_configs_that_share_a_state_store_cannot_share_an_export_name_whatever_their_key_prefixes(tmp_path):
    """A state store keys cursors by export name: two configs in one folder keep their state in one file, so the
    second `orders` would share the first one's cursor. It is refused at its line; a store of its own is fine."""
    def config(name: str, **extra) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({
            "source": {"type": "sqlite", "database": "shop.db"}, "dagster": {"key_prefix": name}, **extra,
            "exports": [{"name": "orders", "query": "SELECT * FROM orders", "mode": "incremental",
                         "cursor_column": "id", "format": "parquet", "destination": {"type": "local", "path": name}}]}))
        return path

    first = build_definitions(config("sales"))
    with pytest.raises(ConfigError, match=r"billing\.yaml:\d+: exports\[0\]\.name: export 'orders' is also "
                                          r"exported by .*sales\.yaml, and both keep their state in the same store"):
        build_definitions(config("billing"))
    apart = build_definitions(config("billing", state={"path": "billing_state.db"}))
    merged = dg.Definitions.merge(first, apart)
    assert {spec.key for spec in merged.resolve_all_asset_specs()} == {
        dg.AssetKey(["sales", "orders"]), dg.AssetKey(["billing", "orders"]), dg.AssetKey(["sqlite_shop", "main",
                                                                                           "orders"])}


def test_a_config_is_built_once_per_process_until_its_files_or_environment_change(tmp_path, monkeypatch):
    """Dagster loads a code location several times in one command: the same file, query files and environment
    give the same Definitions; a change to any of them, or another name, builds anew."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "orders.sql").write_text("SELECT * FROM orders")
    path = write_config(tmp_path, {"type": "sqlite", "database": "shop.db"}, [
        {"name": "orders", "query_file": "orders.sql", "format": "parquet",
         "destination": {"type": "local", "path": "out"}}])
    first = build_definitions(path)
    assert build_definitions(path) is first and build_definitions(str(path)) is first

    (tmp_path / "orders.sql").write_text("SELECT id FROM orders")
    edited = build_definitions(path)
    assert edited is not first and build_definitions(path) is edited
    monkeypatch.setenv("RIVET_TEST_SETTING", "on")
    assert build_definitions(path) is not edited
    assert build_definitions(path, name="other") is not build_definitions(path)


COUNT_BUILDS = """import atexit, sys
import rivet_dagster.defs.build as build
built, calls = build._built, []
def counted(*args, **kwargs):
    calls.append(args)
    return built(*args, **kwargs)
build._built = counted
atexit.register(lambda: print(f"configs built: {len(calls)}", file=sys.stderr))
"""


def test_dagster_asset_materialize_builds_its_config_once(tmp_path):
    """The real command, counted from a sitecustomize: it loads the code location several times and builds the
    config on the first load only, then exports."""
    with sqlite3.connect(tmp_path / "shop.db") as db:
        db.executescript("CREATE TABLE orders (id INTEGER PRIMARY KEY); INSERT INTO orders VALUES (1), (2);")
    config = write_config(tmp_path, {"type": "sqlite", "database": "shop.db"}, [
        {"name": "orders", "query": "SELECT * FROM orders", "format": "parquet",
         "destination": {"type": "local", "path": "out"}}])
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(COUNT_BUILDS)
    command, env = dagster_cli(config, tmp_path / "home", "orders")
    env["PYTHONPATH"] = os.pathsep.join([str(hook), str(ROOT), env.get("PYTHONPATH", "")])
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "configs built: 1" in result.stderr, result.stderr[-3000:]
    [part] = (tmp_path / "out").glob("*.parquet")
    assert pq.read_table(part)["id"].to_pylist() == [1, 2]
