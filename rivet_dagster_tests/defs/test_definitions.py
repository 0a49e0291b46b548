"""rivet.yaml -> Definitions: one asset per export with the expected spec, loadable by the Dagster CLI."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from rivet_dagster import build_definitions
from rivet_dagster.config import load_config
from rivet_dagster.demo.seed import seed
from rivet_dagster_tests.demo.test_demo import EXPORTS, TABLES

DEMO = Path(__file__).parents[2] / "rivet_dagster" / "demo"


@pytest.fixture
def demo_config(tmp_path) -> Path:
    folder = tmp_path / "demo_data"   # its exports go to ../output
    folder.mkdir()
    for name in ("rivet.yaml", "orders.sql"):
        shutil.copy(DEMO / name, folder / name)
    return folder / "rivet.yaml"


def test_each_export_becomes_one_asset_with_its_spec(demo_config):
    defs = build_definitions(demo_config)
    dg.Definitions.validate_loadable(defs)
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    assert sorted(specs) == sorted(EXPORTS + TABLES)     # the exports, and the tables they read upstream
    orders = specs["orders"]
    assert (orders.group_name, orders.kinds) == ("sqlite_demo", {"sqlite", "parquet"})
    assert "FROM orders AS o" in orders.description and orders.code_version
    assert specs["events_csv"].kinds == {"sqlite", "csv"}


@pytest.mark.parametrize("old, new, changes_data", [
    ("compression_level: 6", "compression_level: 7", True),
    ("keep_last: 3", "keep_last: 5", False),          # how many older copies stay is not what one holds
    ("validate: true", "validate: false", False),
])
def test_the_code_version_follows_what_the_export_writes(demo_config, old, new, changes_data):
    before = build_definitions(demo_config).resolve_all_asset_specs()
    demo_config.write_text(demo_config.read_text().replace(old, new, 1))
    after = build_definitions(demo_config).resolve_all_asset_specs()
    versions = [{s.key.to_user_string(): s.code_version for s in specs} for specs in (before, after)]
    assert (versions[0]["orders"] != versions[1]["orders"]) == changes_data
    assert versions[0]["customers"] == versions[1]["customers"]


def test_the_dagster_cli_loads_the_code_location_from_rivet_config(demo_config, tmp_path):
    seed(demo_config.parent / "demo.db", customers=10, orders=10, events=10)
    env = {**os.environ, "RIVET_CONFIG": str(demo_config), "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dagster = str(Path(sys.executable).with_name("dagster"))
    result = subprocess.run([dagster, "definitions", "validate", "-m", "rivet_dagster.definitions"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    listed = subprocess.run([dagster, "asset", "list", "-m", "rivet_dagster.definitions"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.stdout.split() == EXPORTS           # the assets it defines (the tables are only deps)


def test_the_demo_database_is_realistic_and_about_100k_rows(tmp_path):
    import sqlite3
    with sqlite3.connect(seed(tmp_path / "demo.db")) as db:
        counts = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("customers", "orders", "events")}
        assert sum(counts.values()) == 100_000
        assert db.execute("SELECT COUNT(*) FROM orders WHERE note = ''").fetchone()[0] > 0      # '' is not NULL
        assert db.execute("SELECT COUNT(*) FROM orders WHERE note IS NULL").fetchone()[0] > 0
        assert db.execute("SELECT COUNT(*) FROM customers WHERE full_name LIKE '%ü%' OR full_name LIKE '%李%'"
                          ).fetchone()[0] > 0
    assert load_config(DEMO / "rivet.yaml")   # its query_file is beside it


def test_the_shipped_instance_config_is_valid(tmp_path, monkeypatch):
    shutil.copy(Path(__file__).parents[2] / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    instance = dg.DagsterInstance.get()
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert instance.get_settings("telemetry") == {"enabled": False}
    pools = instance.get_concurrency_config().pool_config
    assert (pools.default_pool_limit, pools.pool_granularity.value) == (2, "run")  # limits hold however launched
