"""RivetExports: a rivet.yaml as a dg Component, used the way a dg user uses it (`dg scaffold defs`, `dg check
defs`, `dg list defs`, `dg launch`) in a dg project of its own. Two configs are two component instances in one
code location, each with its own translation, downstream of the source table their queries read; `rivet-dagster
run` on one of the configs writes to the same instance under the same keys."""
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import yaml

from rivet_dagster.config import load_config

BIN = Path(sys.executable).parent
PYPROJECT = """\
[project]
name = "shop"
version = "0.1"

[tool.dg]
directory_type = "project"

[tool.dg.project]
root_module = "shop"
"""
DEFINITIONS = """\
from pathlib import Path

import dagster as dg


@dg.definitions
def defs():
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
"""


def dg_project(tmp_path: Path) -> Path:
    """What `create-dagster project shop` lays out, minus its virtual environment (this one is used)."""
    project = tmp_path / "shop"
    (project / "shop" / "defs").mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "shop" / "__init__.py").write_text("")
    (project / "shop" / "defs" / "__init__.py").write_text("")
    (project / "shop" / "definitions.py").write_text(DEFINITIONS)
    (project / "home").mkdir()
    (project / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return project


def run(project: Path, *command: str) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("RIVET_", "DAGSTER_"))},
           "PYTHONPATH": str(project), "DAGSTER_HOME": str(project / "home")}
    result = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=project, env=env, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


def test_dg_scaffold_defs_gives_a_starting_point_that_loads(tmp_path):
    project = dg_project(tmp_path)
    run(project, "dg", "scaffold", "defs", "rivet_dagster.RivetExports", "exports")
    folder = project / "shop" / "defs" / "exports"
    assert yaml.safe_load((folder / "defs.yaml").read_text()) == {
        "type": "rivet_dagster.RivetExports", "attributes": {"config_path": "rivet.yaml"}}
    starter = load_config(folder / "rivet.yaml")          # a valid config with Rivet's keys, no secret in it
    assert starter.source.url_env == "DATABASE_URL" and [e.name for e in starter.exports] == ["orders"]

    # an existing config elsewhere: named as it is, and nothing written beside the new defs.yaml
    existing = (folder / "rivet.yaml").read_text().replace("name: orders", "name: invoices")
    (project / "billing.yaml").write_text(existing)
    run(project, "dg", "scaffold", "defs", "rivet_dagster.RivetExports", "billing", "--config-path",
        "../../../billing.yaml")
    billing = project / "shop" / "defs" / "billing"
    assert yaml.safe_load((billing / "defs.yaml").read_text())["attributes"] == {"config_path": "../../../billing.yaml"}
    assert sorted(p.name for p in billing.iterdir()) == ["defs.yaml"]
    assert (project / "billing.yaml").read_text() == existing
    assert "All definitions loaded successfully" in run(project, "dg", "check", "defs").stdout


def seed(database: Path) -> None:
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, amount REAL, placed_at TEXT)")
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?)",
                         [(i, i * 1.5, f"2024-01-0{1 + i % 3} 12:00:00") for i in range(1, 601)])


def test_two_configs_are_two_components_each_with_its_translation_and_both_launch(tmp_path):
    project = dg_project(tmp_path)
    seed(project / "shop.db")
    sales = project / "shop" / "defs" / "sales"
    sales.mkdir()
    (sales / "defs.yaml").write_text("type: rivet_dagster.RivetExports\nattributes:\n  config_path: rivet.yaml\n")
    (sales / "rivet.yaml").write_text(yaml.safe_dump({
        "source": {"type": "sqlite", "database": "../../../shop.db"},
        "exports": [
            {"name": "orders", "query": "SELECT id, amount FROM orders", "format": "parquet",
             "destination": {"type": "local", "path": "../../../out/sales"}},
            {"name": "days", "query": "SELECT id, placed_at FROM orders", "mode": "time_window",
             "time_column": "placed_at", "partitioning": {"granularity": "daily", "start": "2024-01-01"},
             "format": "parquet", "destination": {"type": "local", "path": "../../../out/days"}}]}))
    # the second config sits outside the defs folder (as Rivet users keep it) and sets its own key prefix
    (project / "billing.yaml").write_text(yaml.safe_dump({
        "source": {"type": "sqlite", "database": "shop.db"}, "dagster": {"key_prefix": "billing"},
        "exports": [
            {"name": "orders", "query": "SELECT id, amount FROM orders WHERE id <= 300", "format": "csv",
             "validate": True, "destination": {"type": "local", "path": "out/billing"}},
            {"name": "items", "query": "SELECT id, amount FROM orders", "mode": "chunked", "chunk_column": "id",
             "chunk_size": 250, "format": "parquet", "destination": {"type": "local", "path": "out/items"}}]}))
    billing = project / "shop" / "defs" / "billing"
    billing.mkdir()
    (billing / "defs.yaml").write_text("""\
type: rivet_dagster.RivetExports
attributes:
  config_path: ../../../billing.yaml
  translation:
    group_name: billing
    owners: [team:billing]
    tags: {tier: gold}
    automation_condition: "{{ dg.AutomationCondition.on_cron('0 6 * * *') }}"
""")
    run(project, "dg", "check", "defs")
    listed = {a["asset_key"]: a for a in json.loads(run(project, "dg", "list", "defs", "--json").stdout)["assets"]}
    # lineage: both configs' exports read the same table, one external asset upstream of all four
    assert set(listed) == {"orders", "days", "billing/orders", "billing/items", "sqlite_shop/main/orders"}
    assert {key: listed[key]["dependency_keys"] for key in ("orders", "days", "billing/orders", "billing/items")} == \
        dict.fromkeys(("orders", "days", "billing/orders", "billing/items"), ["sqlite_shop/main/orders"])
    assert listed["billing/orders"]["group_name"] == "billing"
    assert listed["billing/orders"]["owners"] == [{"team": "billing"}]
    assert listed["orders"]["group_name"] == "sqlite_shop" and listed["orders"]["owners"] == []
    sys.path.insert(0, str(project))
    try:
        specs = {spec.key: spec for spec in dg.load_from_defs_folder(project_root=project).resolve_all_asset_specs()}
    finally:
        sys.path.remove(str(project))
    # the component's template, resolved by dg; the source table is ignored by its wait for updated deps
    table = dg.AssetSelection.assets(dg.AssetKey(["sqlite_shop", "main", "orders"]))
    assert specs[dg.AssetKey(["billing", "items"])].automation_condition == \
        dg.AutomationCondition.on_cron("0 6 * * *").ignore(table)
    assert specs[dg.AssetKey("orders")].automation_condition is None

    run(project, "dg", "launch", "--assets", "billing/orders")
    run(project, "dg", "launch", "--assets", "days", "--partition", "2024-01-02")
    run(project, "rivet-dagster", "run", "-c", "billing.yaml", "-e", "items")   # the same keys from the CLI
    assert sum(1 for _ in (project / "out" / "billing").glob("orders_*.csv")) == 1
    [day] = (project / "out" / "days").glob("days_*.parquet")
    assert pq.read_table(day).num_rows == 200            # ids whose day is 2024-01-02
    assert sum(pq.read_table(p).num_rows for p in (project / "out" / "items").glob("items_*.parquet")) == 600
    with dg.DagsterInstance.from_config(str(project / "home")) as instance:
        assert instance.get_latest_materialization_event(dg.AssetKey(["billing", "orders"])) is not None
        assert len(instance.get_materialized_partitions(dg.AssetKey(["billing", "items"]))) == 3
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey(["billing", "orders"]), "validate")])
        assert [record.status.value for record in check.values()] == ["SUCCEEDED"]
