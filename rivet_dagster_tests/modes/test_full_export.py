"""A full-mode export materialized through Dagster: files, manifest, metrics and materialization metadata."""
import json

import dagster as dg
import pyarrow.parquet as pq
import pytest

from rivet_dagster import build_definitions
from rivet_dagster.state.store import StateStore
from rivet_dagster_tests.conftest import materialize, materialize_cli, run_sql, state_in, write_config

SECRET = "s3cr3t-Pa55"


@pytest.fixture(scope="module")
def pg_orders(pg_url):
    run_sql(pg_url, "DROP TABLE IF EXISTS orders",
            "CREATE TABLE orders (id int8 PRIMARY KEY, amount numeric(12,2), status varchar(16), "
            "created_at timestamptz)",
            "INSERT INTO orders SELECT g, g * 1.25, CASE WHEN mod(g, 7) = 0 THEN NULL ELSE 'paid' END, "
            "timestamptz '2024-01-01' + g * interval '1 minute' FROM generate_series(1, 30000) g")
    return pg_url


@pytest.fixture(scope="module")
def mariadb_orders(mariadb_url):
    run_sql(mariadb_url, "DROP TABLE IF EXISTS orders",
            "CREATE TABLE orders (id bigint PRIMARY KEY, amount decimal(12,2), status varchar(16))",
            "INSERT INTO orders SELECT seq, seq * 1.25, IF(mod(seq, 7) = 0, NULL, 'paid') FROM seq_1_to_30000")
    return mariadb_url


def local(out, **extra) -> dict:
    return {"type": "local", "path": str(out), **extra}


def state_of(config) -> StateStore:
    return state_in(config.parent)


@pytest.mark.parametrize("engine", ["postgres", "mysql"])
def test_a_full_export_commits_every_row_and_records_it(engine, pg_orders, mariadb_orders, tmp_path, export_dir):
    url = pg_orders if engine == "postgres" else mariadb_orders
    config = write_config(tmp_path, {"type": engine, "url": url},
                          [{"name": "orders", "query": "SELECT * FROM orders", "format": "parquet",
                            "destination": local(export_dir)}])
    result = materialize(config)

    [path] = export_dir.glob("orders_*.parquet")
    table = pq.read_table(path)
    assert sorted(table["id"].to_pylist()) == list(range(1, 30001))
    assert path.name.startswith("orders_") and result.run_id[:8] in path.name
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["dagster/row_count"].value == 30000
    assert [c.name for c in metadata["dagster/column_schema"].value.columns][:3] == ["id", "amount", "status"]
    assert metadata["rivet/uris"].value == [path.as_uri()]
    # Dagster's standard keys: where the data is (its manifest), what table it is, on what storage
    [manifest] = export_dir.glob("_orders_*_manifest.json")
    assert metadata["dagster/uri"].value == manifest.as_uri()
    assert (metadata["dagster/table_name"].value, metadata["dagster/storage_kind"].value) == ("orders", "local")
    assert "dagster/partition_row_count" not in metadata                    # not a partitioned export
    # our own figures, numbers the UI plots over time
    figures = ("bytes", "extract_seconds", "duration_seconds", "rows_per_second", "peak_rss_mb", "files")
    assert all(isinstance(metadata[f"rivet/{name}"].value, (int, float)) for name in figures)
    assert all(key.startswith(("dagster/", "rivet/")) for key in metadata)

    state = state_of(config)
    [file] = state.files("orders")
    assert (file["run_id"], file["row_count"], file["bytes"], file["format"], file["compression"]) == (
        result.run_id, 30000, path.stat().st_size, "parquet", "zstd")
    assert file["checksum"].startswith("sha256:") and file["uri"] == path.as_uri()
    [metric] = state.metrics("orders")
    assert (metric["status"], metric["total_rows"], metric["files_produced"], metric["bytes_written"],
            metric["mode"], metric["tuning_profile"]) == ("success", 30000, 1, path.stat().st_size, "full",
                                                          "balanced (default)")


@pytest.mark.parametrize("engine", ["postgres", "mysql"])
def test_queries_may_contain_percent_signs(engine, pg_orders, mariadb_orders, tmp_path, export_dir):
    url = pg_orders if engine == "postgres" else mariadb_orders
    config = write_config(tmp_path, {"type": engine, "url": url},
                          [{"name": "paid", "query": "SELECT id FROM orders WHERE status LIKE 'pa%'",
                            "format": "csv", "destination": local(export_dir)}])
    materialize(config)
    [path] = export_dir.glob("paid_*.csv")
    assert len(path.read_text().splitlines()) == 1 + 30000 - 30000 // 7


def test_each_materialization_writes_new_files_and_never_overwrites(pg_orders, tmp_path, export_dir):
    config = write_config(tmp_path, {"type": "postgres", "url": pg_orders},
                          [{"name": "orders", "query": "SELECT id FROM orders", "format": "csv",
                            "destination": local(export_dir)}])
    first, second = materialize(config), materialize(config)
    names = sorted(p.name for p in export_dir.glob("orders_*.csv"))
    assert len(names) == 2 and first.run_id[:8] in names[0] + names[1] and second.run_id[:8] in names[0] + names[1]


def test_max_file_size_delivers_every_part(pg_orders, tmp_path, export_dir):
    config = write_config(tmp_path, {"type": "postgres", "url": pg_orders},
                          [{"name": "orders", "query": "SELECT * FROM orders", "format": "parquet",
                            "max_file_size": "64KB", "tuning": {"batch_size": 2000},
                            "destination": local(export_dir)}])
    result = materialize(config)
    parts = sorted(export_dir.glob("orders_*_part*.parquet"))
    assert len(parts) >= 2
    assert sum(pq.ParquetFile(p).metadata.num_rows for p in parts) == 30000
    assert len(state_of(config).files_of_run("orders", result.run_id)) == len(parts)


@pytest.mark.parametrize("skip_empty, status", [(True, "skipped"), (False, "success")])
def test_zero_rows_write_no_file_and_skip_empty_marks_the_run_skipped(pg_orders, tmp_path, export_dir,
                                                                      skip_empty, status):
    config = write_config(tmp_path, {"type": "postgres", "url": pg_orders},
                          [{"name": "none", "query": "SELECT * FROM orders WHERE id < 0", "format": "parquet",
                            "skip_empty": skip_empty, "destination": local(export_dir)}])
    result = materialize(config)
    assert result.success and list(export_dir.iterdir()) == []
    [metric] = state_of(config).metrics("none")
    assert (metric["status"], metric["total_rows"], metric["files_produced"]) == (status, 0, 0)
    # a skip is recorded as one (an observation), not as an empty materialization
    materialized = result.asset_materializations_for_node("none")
    observed = [e.event_specific_data.asset_observation for e in result.all_events if e.is_asset_observation]
    if status == "skipped":
        assert materialized == [] and [o.metadata["rivet/status"].value for o in observed] == ["skipped"]
    else:
        assert [m.metadata["dagster/row_count"].value for m in materialized] == [0] and observed == []


def test_meta_columns_carry_the_dagster_run_id(pg_orders, tmp_path, export_dir):
    config = write_config(tmp_path, {"type": "postgres", "url": pg_orders},
                          [{"name": "orders", "query": "SELECT id FROM orders", "format": "parquet",
                            "meta_columns": {"exported_at": True, "row_hash": True, "run_id": True},
                            "destination": local(export_dir)}])
    result = materialize(config)
    [path] = export_dir.glob("*.parquet")
    table = pq.read_table(path)
    assert table.schema.names == ["id", "_rivet_exported_at", "_rivet_row_hash", "_rivet_run_id"]
    assert set(table["_rivet_run_id"].to_pylist()) == {result.run_id}
    assert len(set(table["_rivet_row_hash"].to_pylist())) == 30000


def test_a_failed_export_records_a_failed_metric_and_writes_nothing(pg_orders, tmp_path, export_dir):
    config = write_config(tmp_path, {"type": "postgres", "url": pg_orders},
                          [{"name": "broken", "query": "SELECT * FROM no_such_table", "format": "parquet",
                            "destination": local(export_dir)}])
    result = materialize(config, raise_on_error=False)
    assert not result.success and result.get_asset_materialization_events() == []
    [metric] = state_of(config).metrics("broken")
    assert metric["status"] == "failed" and "no_such_table" in metric["error_message"]
    assert list(export_dir.glob("*.parquet")) == []


def test_credentials_never_reach_errors_metadata_or_logs(pg_orders, tmp_path, export_dir, monkeypatch, capfd):
    monkeypatch.setenv("ORDERS_PASSWORD", SECRET)
    config = write_config(tmp_path, {"type": "postgres", "host": "127.0.0.1", "port": 1, "user": "postgres",
                                     "database": "nope", "password_env": "ORDERS_PASSWORD"},
                          [{"name": "orders", "query": "SELECT 1 AS one", "format": "parquet",
                            "destination": local(export_dir)}])
    result = materialize(config, raise_on_error=False)
    assert not result.success
    error = str(result.get_step_failure_events()[0].event_specific_data.error)
    assert "cannot connect to postgresql+psycopg://postgres:***@127.0.0.1:1/nope" in error
    events = "".join(str(e) for e in result.all_events)
    captured = capfd.readouterr()
    assert SECRET not in error + events + captured.out + captured.err
    assert SECRET not in state_of(config).metrics("orders")[0]["error_message"]


def test_a_downstream_asset_receives_the_committed_files_as_uris_and_a_dataset(pg_orders, tmp_path, export_dir):
    import dagster as dg

    from rivet_dagster import ExportedFiles, build_definitions

    config = write_config(tmp_path, {"type": "postgres", "url": pg_orders},
                          [{"name": "orders", "query": "SELECT id FROM orders", "format": "parquet",
                            "max_file_size": "8KB", "tuning": {"batch_size": 5000},
                            "destination": local(export_dir)}])

    @dg.asset(ins={"orders": dg.AssetIn()})
    def orders_summary(orders: ExportedFiles) -> int:
        committed = sorted(path.as_uri() for path in export_dir.glob("orders_*.parquet"))
        assert sorted(orders.uris) == committed and len(committed) >= 2       # every part, wherever rotation cut
        assert orders.rows == 30000                                  # from the manifest
        return orders.dataset().count_rows()                         # from the files themselves

    defs = build_definitions(config)
    result = dg.materialize([*defs.assets, orders_summary], resources=defs.resources,
                            instance=dg.DagsterInstance.ephemeral())
    assert result.output_for_node("orders_summary") == 30000


def test_a_relative_local_path_is_the_config_files_folder_whatever_the_working_directory(pg_orders, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    config = write_config(project, {"type": "postgres", "url": pg_orders},
                          [{"name": "orders", "query": "SELECT * FROM orders WHERE id <= 10", "format": "csv",
                            "destination": {"type": "local", "path": "./exports"}}])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = materialize_cli(config, tmp_path / "home", "orders", cwd=elsewhere)   # as a code server would
    assert result.returncode == 0, result.stderr[-2000:]
    [path] = (project / "exports").glob("orders_*.csv")
    assert list(elsewhere.iterdir()) == []
    manifest = json.loads(next((project / "exports").glob("_*_manifest.json")).read_text())
    assert manifest["files"][0]["uri"] == path.as_uri()
    spec = build_definitions(config).resolve_assets_def("orders").metadata_by_key[dg.AssetKey("orders")]
    assert spec["rivet/destination"].data["path"] == str(project / "exports")
