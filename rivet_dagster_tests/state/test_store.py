"""The SQLite state store: versioned migrations, WAL, and the records each run leaves."""
import sqlite3

from rivet_dagster.state.migrations import MIGRATIONS, migrate
from rivet_dagster.state.records import FileRecord, MetricRecord
from rivet_dagster.state.store import StateStore


def test_migrations_are_versioned_and_idempotent(tmp_path):
    conn = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    assert migrate(conn) == MIGRATIONS[-1][0]
    assert migrate(conn) == MIGRATIONS[-1][0]
    assert [r[0] for r in conn.execute("SELECT version FROM schema_version")] == [v for v, _ in MIGRATIONS]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"export_state", "file_manifest", "export_metrics", "export_schema", "schema_history"} <= tables


def test_the_store_uses_wal_and_records_files_and_metrics(tmp_path):
    store = StateStore(path=str(tmp_path / "state" / "s.db"))
    store.commit_started("orders", "run1", "orders_1", None, ["orders_1.parquet"], "_orders_1_manifest.json", "me")
    assert [c["files"] for c in store.pending_commits("orders")] == [["orders_1.parquet"]]
    store.record_files("orders", "run1", "orders_1", [FileRecord(
        "run1", "orders", "orders_1.parquet", "file:///o/orders_1.parquet", 10, 100, "parquet", "zstd", "sha256:ab")],
        "file:///o/_orders_1_manifest.json")
    assert store.pending_commits("orders") == []                        # recording the files ends the commit
    assert store.manifest_uris("orders") == ["file:///o/_orders_1_manifest.json"]
    store.record_metric(MetricRecord("orders", "run1", "success", 1200, total_rows=10, files_produced=1))
    store.record_metric(MetricRecord("orders", "run2", "failed", 5, error_message="boom"))
    with store.connect() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert [f["file_name"] for f in store.latest_run_files("orders")] == ["orders_1.parquet"]
    assert [(m["run_id"], m["status"], m["error_message"]) for m in store.metrics("orders")] == [
        ("run2", "failed", "boom"), ("run1", "success", None)]


def test_schema_history_keeps_each_distinct_schema_and_returns_the_one_replaced(tmp_path):
    store = StateStore(path=str(tmp_path / "s.db"))
    v1 = [{"name": "id", "type": "int64"}]
    v2 = v1 + [{"name": "x", "type": "string"}]
    assert store.record_schema("t", "r1", v1) is None
    assert store.record_schema("t", "r2", v1) == v1
    assert store.record_schema("t", "r3", v2) == v1
    assert store.record_schema("t", "r4", list(reversed(v2))) == v2
    with store.connect() as conn:
        assert [r[0] for r in conn.execute("SELECT run_id FROM schema_history ORDER BY id")] == ["r1", "r3", "r4"]
