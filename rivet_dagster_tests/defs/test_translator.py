"""The translator turns an export into its AssetSpec and step policies from the config alone: no database is
reached (the source URL points at nothing) and no Dagster instance exists."""
import datetime as dt

import dagster as dg
import pytest

from rivet_dagster import build_definitions, mode_of, spec_for
from rivet_dagster.config import parse_config
from rivet_dagster.defs.names import DefinitionNames
from rivet_dagster.defs.translator import check_specs_for, policies_for

CONFIG = """
source: {type: postgres, url: "postgresql://nobody:hunter2-secret@127.0.0.1:1/warehouse"}
exports:
  - {name: orders, query: "SELECT * FROM orders", format: parquet, destination: {type: local, path: ./out}}
  - {name: events, query: "SELECT * FROM events", mode: incremental, cursor_column: id, format: csv,
     destination: {type: s3, bucket: lake}}
  - name: items
    query: SELECT * FROM items
    mode: chunked
    chunk_column: id
    chunk_max_attempts: 4
    parallel: 3
    format: parquet
    quality: {row_count_min: 1}
    validate: true
    reconcile: true
    destination: {type: gcs, bucket: lake}
  - name: ticks
    query: SELECT * FROM ticks
    mode: time_window
    time_column: at
    partitioning: {granularity: hourly, start: "2024-01-01-00:00"}
    format: parquet
    destination: {type: local, path: ./out}
"""


@pytest.fixture(scope="module")
def config():
    return parse_config(CONFIG, file="warehouse.yaml")


@pytest.mark.parametrize("name, kinds, partitions, io_manager", [
    ("orders", {"postgres", "parquet"}, type(None), "rivet_warehouse_local_io"),
    ("events", {"postgres", "csv"}, type(None), "rivet_warehouse_s3_io"),
    ("items", {"postgres", "parquet"}, dg.DynamicPartitionsDefinition, "rivet_warehouse_gcs_io"),
    ("ticks", {"postgres", "parquet"}, dg.HourlyPartitionsDefinition, "rivet_warehouse_local_io"),
])
def test_each_export_is_one_spec(config, name, kinds, partitions, io_manager):
    export = config.export(name)
    spec = spec_for(config, export, DefinitionNames.of(config))
    assert spec.key == dg.AssetKey(name)
    assert spec.group_name == "postgres_warehouse" and spec.kinds == kinds
    assert spec.tags["rivet/source"] == "postgres_warehouse"
    assert spec.description.endswith(f".\n\n    SELECT * FROM {name}") and "```" not in spec.description
    assert isinstance(spec.partitions_def, partitions)
    assert spec.metadata["rivet/mode"] == export.mode and spec.metadata["dagster/io_manager_key"] == io_manager
    assert "hunter2-secret" not in repr(spec)   # the source's credentials are not in the spec
    assert spec_for(config, export, DefinitionNames.of(config)).code_version == spec.code_version


def test_policies_are_the_modes(config):
    names = DefinitionNames.of(config)
    chunked = policies_for(config, config.export("items"), names)
    assert chunked.pool == "rivet_postgres_warehouse"          # one slot per run, whatever its chunk workers
    assert chunked.backfill_policy == dg.BackfillPolicy.single_run()
    windows = policies_for(config, config.export("ticks"), names)
    assert windows.pool == "rivet_postgres_warehouse"
    assert windows.backfill_policy == dg.BackfillPolicy.single_run()
    assert policies_for(config, config.export("orders"), names).backfill_policy is None


def test_checks_exist_where_configured_quality_blocks_and_chunks_declare_their_commit_checks(config):
    quality, validate, reconcile = check_specs_for(config, config.export("items"))   # chunked: judged in its step
    assert quality.name == "quality" and quality.blocking
    assert (validate.name, reconcile.name) == ("validate", "reconcile") and not validate.blocking
    assert check_specs_for(config, config.export("orders")) == []


def test_every_mode_answers_for_itself(config):
    assert [mode_of(e).name for e in config.exports] == ["full", "incremental", "chunked", "time_window"]
    assert [mode_of(e).range_column(e) for e in config.exports] == [None, "id", "id", "at"]
    assert [mode_of(e).has_chunks for e in config.exports] == [False, False, True, False]


SETTINGS = """
dagster:
  key_prefix: warehouse
  group_name: exports
  owners: [team:data]
  tags: {tier: gold, domain: sales}
  automation_condition: {on_cron: "0 6 * * *"}
"""
EXPORT_SETTINGS = """
    dagster:
      key_prefix: [lake, raw]
      owners: [ana@example.com]
      tags: {tier: silver}
      kinds: [sqlite, parquet, duckdb]
      automation_condition: eager
      freshness_policy: {deadline_cron: "0 7 * * *", lower_bound_delta: 2h, timezone: Europe/Berlin}
      deps: [lake/landing/items, postgres_warehouse/public/items]
"""


def test_the_dagster_block_sets_dagsters_attributes_for_every_export_and_an_export_overrides_them():
    config = parse_config(SETTINGS + CONFIG.replace("    parallel: 3\n", "    parallel: 3" + EXPORT_SETTINGS),
                          file="warehouse.yaml")
    names = DefinitionNames.of(config)
    orders, items = (spec_for(config, config.export(name), names) for name in ("orders", "items"))
    assert orders.key == dg.AssetKey(["warehouse", "orders"]) and orders.group_name == "exports"
    assert orders.owners == ["team:data"] and orders.kinds == {"postgres", "parquet"}
    assert {"tier": "gold", "domain": "sales", "rivet/source": "postgres_warehouse"}.items() <= orders.tags.items()
    # a condition waits for updated deps, but not for the source's tables: Dagster never sees them updated
    assert orders.automation_condition == dg.AutomationCondition.on_cron("0 6 * * *").ignore(
        dg.AssetSelection.assets(dg.AssetKey(["postgres_warehouse", "public", "orders"])))
    assert orders.freshness_policy is None
    # the export's own block replaces each attribute it sets (tags merge), as a dg component's translation does
    assert items.key == dg.AssetKey(["lake", "raw", "items"]) and items.group_name == "exports"
    assert items.owners == ["ana@example.com"] and items.kinds == {"sqlite", "parquet", "duckdb"}
    assert items.tags["tier"] == "silver" and items.tags["domain"] == "sales"
    assert items.automation_condition == dg.AutomationCondition.eager().ignore(      # lake/landing/items: an asset
        dg.AssetSelection.assets(dg.AssetKey(["postgres_warehouse", "public", "items"])))
    assert items.freshness_policy == dg.FreshnessPolicy.cron(deadline_cron="0 7 * * *", timezone="Europe/Berlin",
                                                             lower_bound_delta=dt.timedelta(hours=2))
    # lineage: the table the query reads, unless the config names the deps
    assert [dep.asset_key for dep in orders.deps] == [dg.AssetKey(["postgres_warehouse", "public", "orders"])]
    assert [dep.asset_key for dep in items.deps] == [dg.AssetKey(["lake", "landing", "items"]),
                                                     dg.AssetKey(["postgres_warehouse", "public", "items"])]
    # who owns an export does not change what it writes
    assert orders.code_version == spec_for(parse_config(CONFIG, file="warehouse.yaml"), config.export("orders"),
                                           names).code_version


def test_every_definition_refers_to_the_export_by_its_prefixed_key():
    text = SETTINGS.replace('  automation_condition: {on_cron: "0 6 * * *"}\n', "") + CONFIG.replace(
        "destination: {type: local, path: ./out}}",
        "destination: {type: local, path: ./out}, schedule: '0 3 * * *', validate: true}", 1)
    defs = build_definitions(parse_config(text, file="warehouse.yaml"))
    prefixed = {name: dg.AssetKey(["warehouse", name]) for name in ("orders", "events", "items", "ticks")}
    tables = {dg.AssetKey(["postgres_warehouse", "public", name]) for name in prefixed}   # the source's, unprefixed
    assert {spec.key for spec in defs.resolve_all_asset_specs()} == set(prefixed.values()) | tables
    assert {check.asset_key for check in defs.resolve_asset_graph().asset_check_keys} == {
        prefixed["orders"], prefixed["items"]}

    def targeted(job_name: str) -> set:
        return set(defs.resolve_job_def(job_name).asset_layer.executable_asset_keys)
    assert targeted("rivet_warehouse_exports") == {prefixed["orders"], prefixed["events"]}
    assert targeted(defs.resolve_sensor_def("warehouse__events_new_rows").targets[0].job_name) == {prefixed["events"]}
    # `schedule:` and the time windows: automation conditions, which the config's sensor evaluates (on by
    # default, its runs tagged with the source)
    automation = defs.resolve_sensor_def("rivet_warehouse_automation")
    assert automation.asset_selection.resolve(defs.resolve_asset_graph()) == {prefixed["orders"], prefixed["ticks"]}
    assert automation.default_status == dg.DefaultSensorStatus.RUNNING
    assert automation.run_tags == {"rivet/source": "postgres_warehouse"}
