"""The translator turns an export into its AssetSpec and step policies from the config alone: no database is
reached (the source URL points at nothing) and no Dagster instance exists."""
import dagster as dg
import pytest

from rivet_dagster import mode_of, spec_for
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
    assert spec.description == f"```sql\nSELECT * FROM {name}\n```"
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


def test_quality_is_a_blocking_check_only_where_configured_and_chunks_declare_their_commit_checks(config):
    quality, validate, reconcile = check_specs_for(config.export("items"))   # chunked: judged in its step
    assert quality.name == "quality" and quality.blocking
    assert (validate.name, reconcile.name) == ("validate", "reconcile") and not validate.blocking
    assert check_specs_for(config.export("orders")) == []


def test_every_mode_answers_for_itself(config):
    assert [mode_of(e).name for e in config.exports] == ["full", "incremental", "chunked", "time_window"]
    assert [mode_of(e).range_column(e) for e in config.exports] == [None, "id", "id", "at"]
    assert [mode_of(e).has_chunks for e in config.exports] == [False, False, True, False]
