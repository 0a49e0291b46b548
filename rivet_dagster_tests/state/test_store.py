"""The state store on both backends, the embedded SQLite file and a shared PostgreSQL database: versioned
migrations, the records each run leaves, several processes writing at once, and errors that name the store and
what to do, never its password."""
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from rivet_dagster.state.migrations import LATEST, MIGRATIONS, migrate
from rivet_dagster.state.records import FileRecord, MetricRecord
from rivet_dagster.state.store import StateStore, StateStoreError, close_connections
from rivet_dagster_tests.conftest import run_sql, schema_url
from rivet_dagster_tests.state.conftest import settings

TABLES = ("export_state", "file_manifest", "export_metrics", "export_schema", "schema_history", "pending_window",
          "chunk_plan", "chunk_task", "pending_commit", "claim")


def file_record(run_id: str, name: str) -> FileRecord:
    return FileRecord(run_id, "orders", name, f"file:///o/{name}", 10, 100, "parquet", "zstd", "sha256:ab")


def test_migrations_are_versioned_and_idempotent(store):
    with store.connect() as conn:
        assert migrate(conn) == LATEST
        assert migrate(conn) == LATEST
        assert [r["version"] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")] == [
            v for v, _ in MIGRATIONS]
        for table in TABLES:
            conn.execute(f"SELECT * FROM {table} WHERE 1 = 0").fetchall()


def test_the_store_records_a_commit_its_files_and_metrics(store):
    store.commit_started("orders", "run1", "orders_1", None, ["orders_1.parquet"], "_orders_1_manifest.json", "me")
    assert [c["files"] for c in store.pending_commits("orders")] == [["orders_1.parquet"]]
    store.record_files("orders", "run1", "orders_1", [file_record("run1", "orders_1.parquet")],
                       "file:///o/_orders_1_manifest.json")
    assert store.pending_commits("orders") == []                        # recording the files ends the commit
    assert store.manifest_uris("orders") == ["file:///o/_orders_1_manifest.json"]
    assert store.recorded_names("orders", ["orders_1.parquet", "other.parquet"]) == {"orders_1.parquet"}
    store.record_metric(MetricRecord("orders", "run1", "success", 1200, total_rows=10, files_produced=1,
                                     validated=True, schema_changed=False))
    store.record_metric(MetricRecord("orders", "run2", "failed", 5, error_message="boom"))
    assert [f["file_name"] for f in store.latest_run_files("orders")] == ["orders_1.parquet"]
    assert [(m["run_id"], m["status"], m["error_message"], m["validated"]) for m in store.metrics("orders")] == [
        ("run2", "failed", "boom", None), ("run1", "success", None, 1)]
    big = 5 * 2**31  # row counts and bytes outgrow 32 bits
    store.record_files("orders", "run3", "orders_3", [FileRecord("run3", "orders", "orders_3.parquet", "file:///x",
                                                                 big, big, "parquet", None, "sha256:cd")], None)
    assert store.files("orders", last=1)[0]["bytes"] == big


def test_the_sqlite_store_is_in_wal_mode(tmp_path):
    store = StateStore(path=str(tmp_path / "s.db"))
    with store.connect() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_calls_inside_a_reuse_scope_share_connections_and_its_end_leaves_the_file_whole(tmp_path):
    """A chunk run's thousand small commits reuse a few connections; once the scope ends they are closed, so the
    WAL is folded back and the file copied alone holds every committed record."""
    store = StateStore(path=str(tmp_path / "s.db"))
    opened = []
    with store.reusing():
        def worker(n: int) -> None:
            for i in range(20):
                store.record_files("orders", f"run{n}", f"orders_{n}_{i}", [file_record(f"run{n}", f"{n}_{i}.p")],
                                   None)
                with store.connect() as conn:
                    opened.append(conn)  # kept alive, so two connections never share an id
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert 1 <= len({id(c) for c in opened}) <= 3           # one per thread at most, not one per call
        assert os.path.getsize(tmp_path / "s.db-wal") > 0       # kept connections: the records are in the WAL
    assert not os.path.exists(tmp_path / "s.db-wal") or os.path.getsize(tmp_path / "s.db-wal") == 0
    shutil.copy(tmp_path / "s.db", tmp_path / "copy.db")
    assert len(StateStore(path=str(tmp_path / "copy.db")).files("orders", last=100)) == 60
    with store.connect() as first, store.connect() as second:  # outside a scope: a connection per call again
        assert first is not second


def test_threads_opening_a_new_sqlite_store_at_once_all_get_it(tmp_path):
    """A chunk run's workers can be the first to open a store: switching a new file to WAL takes its lock in one
    attempt, and the threads that lose it wait their turn rather than fail as if the store were locked (before,
    about one try in eight of these failed)."""
    for attempt in range(40):
        store = StateStore(path=str(tmp_path / f"s{attempt}.db"))
        go, failures = threading.Barrier(4), []

        def open_it() -> None:
            go.wait(timeout=30)
            try:
                store.cursor("orders")
            except Exception as exc:  # noqa: BLE001 - every failure is the finding
                failures.append(exc)
        threads = [threading.Thread(target=open_it) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert failures == [], f"attempt {attempt}"
        with store.connect() as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_schema_history_keeps_each_distinct_schema_and_returns_the_one_replaced(store):
    v1 = [{"name": "id", "type": "int64"}]
    v2 = v1 + [{"name": "x", "type": "string"}]
    assert store.record_schema("t", "r1", v1) is None
    assert store.record_schema("t", "r2", v1) == v1
    assert store.record_schema("t", "r3", v2) == v1
    assert store.record_schema("t", "r4", list(reversed(v2))) == v2
    with store.connect() as conn:
        assert [r["run_id"] for r in conn.execute("SELECT run_id FROM schema_history ORDER BY id")] == [
            "r1", "r3", "r4"]


def test_a_chunk_plan_of_20000_chunks_is_saved_listed_and_reset_in_one_transaction_each(store):
    chunks = [(f"{i:012d}-{i:012d}", i, i) for i in range(20_000)]
    store.save_chunk_plan("big", "plan", chunks)
    store.save_chunk_plan("big", "plan", chunks)            # again: existing chunks keep their status
    store.chunk_started("big", chunks[0][0])
    tasks = store.chunk_tasks("big")
    assert len(tasks) == 20_000 and tasks[0]["status"] == "running" and tasks[0]["attempts"] == 1
    assert store.reset_chunks("big") == 20_000 and store.chunk_tasks("big") == []


WRITER = textwrap.dedent("""
    import pathlib, sys, time
    from rivet_dagster.state.records import FileRecord, MetricRecord
    from rivet_dagster.state.store import StateStore
    me, go = sys.argv[1], pathlib.Path(sys.argv[2])
    store = StateStore(**dict(arg.split("=", 1) for arg in sys.argv[3:]))
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:  # all start together: the first call migrates
        time.sleep(0.005)
    store.save_chunk_plan("orders", "plan", [("000000000001-000000000010", 1, 10)])
    for i in range(60):
        store.record_files("orders", f"{me}-{i}", "stem", [
            FileRecord(f"{me}-{i}", "orders", name, "file:///x", 1, 1, "parquet", None, "c")
            for name in (f"shared_{i % 3}.parquet", f"{me}_{i}.parquet")], None)
        store.record_metric(MetricRecord("orders", f"{me}-{i}", "success", 1))
        store.chunk_started("orders", "000000000001-000000000010")
""")


def test_several_processes_start_on_a_new_store_at_once_and_lose_or_duplicate_nothing(store, tmp_path):
    """Four processes open a store nobody has opened yet at the same moment, then write the same export's records
    at once: the schema is migrated once, every metric is there, a file name all of them write is in the manifest
    once, no increment is lost."""
    go = tmp_path / "go"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, f"w{n}", str(go), *settings(store)],
                                stderr=subprocess.PIPE, text=True) for n in range(4)]
    time.sleep(2)  # the writers have imported what they need and wait
    go.touch()
    errors = [w.communicate(timeout=120)[1] for w in writers]
    assert [w.returncode for w in writers] == [0] * 4, errors
    with store.connect() as conn:
        assert [r["version"] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")] == [
            v for v, _ in MIGRATIONS]
    assert len(store.metrics("orders", last=1000)) == 240
    names = [f["file_name"] for f in store.files("orders", last=1000)]
    assert len(names) == len(set(names)) == 3 + 240
    [task] = store.chunk_tasks("orders")
    assert task["attempts"] == 240


def test_a_store_written_by_a_newer_version_is_refused_before_anything_is_written(store):
    store.cursor("orders")
    with store.connect() as conn, conn.exclusive("schema"):
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (LATEST + 1,))
    opened = subprocess.run([sys.executable, "-c", "import sys; from rivet_dagster.state.store import StateStore; "
                             "StateStore(**dict(a.split('=', 1) for a in sys.argv[1:])).check()", *settings(store)],
                            capture_output=True, text=True, timeout=60)
    assert f"StateStoreError: the state store {store.location} was written by a newer rivet-dagster (schema " \
           f"version {LATEST + 1}; this rivet-dagster knows up to {LATEST})" in opened.stderr


# ------------------------------------------------------------------------------------- PostgreSQL only
@pytest.fixture
def pg_store(pg_url) -> Iterator[StateStore]:
    yield StateStore(url=schema_url(pg_url, "store"), busy_timeout_ms=500)
    close_connections()


def test_an_unreachable_store_is_named_without_its_password(monkeypatch):
    monkeypatch.setenv("SHARED_STATE", "postgresql+psycopg2://rivet:s3cret-pw@127.0.0.1:1/state")
    store = StateStore(url_env="SHARED_STATE")
    assert "s3cret" not in repr(store) + str(store.model_dump())  # what Dagster's UI shows of the resource
    with pytest.raises(StateStoreError) as refused:
        store.check()
    message = str(refused.value)
    assert message.startswith("the state store postgresql://rivet:***@127.0.0.1:1/state cannot be reached")
    assert "s3cret" not in message and "check the URL and that the server runs" in message


def test_a_url_env_that_is_not_set_is_named(monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(StateStoreError, match=r"taken from \$NOT_SET_ANYWHERE, which is not set"):
        StateStore(url_env="NOT_SET_ANYWHERE").check()


def test_another_writer_of_the_same_export_is_waited_for_then_reported(pg_store, pg_url):
    pg_store.check()
    holder = sa.create_engine(sa.make_url(pg_store.url).set(drivername="postgresql+psycopg"),
                              poolclass=sa.pool.NullPool)
    with holder.begin() as conn:  # another process inside a write transaction of the export `orders`
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtextextended('rivet_dagster:orders', 0))")
        pg_store.record_metric(MetricRecord("invoices", "r1", "success", 1))  # another export goes on
        with pytest.raises(StateStoreError, match=r"is locked by another process .*waited 0.5s"):
            pg_store.record_metric(MetricRecord("orders", "r1", "success", 1))
    pg_store.record_metric(MetricRecord("orders", "r2", "success", 1))
    assert [m["run_id"] for m in pg_store.metrics()] == ["r2", "r1"]


def test_a_session_the_server_ended_is_replaced_before_the_next_call(pg_store, pg_url):
    pg_store.record_metric(MetricRecord("orders", "r1", "success", 1))
    with pg_store.connect() as conn:
        pid = conn.raw.info.backend_pid
    run_sql(pg_url, f"SELECT pg_terminate_backend({pid})")
    pg_store.record_metric(MetricRecord("orders", "r2", "success", 1))
    assert len(pg_store.metrics("orders")) == 2


def test_a_user_who_may_only_read_is_refused_before_a_run(pg_store, pg_url):
    pg_store.check()
    role = f"rivet_reader_{uuid.uuid4().hex[:8]}"
    schema = pg_store.url.rsplit("%3D", 1)[1]
    run_sql(pg_url, f"CREATE ROLE {role} LOGIN", f"GRANT USAGE ON SCHEMA {schema} TO {role}",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")
    try:
        reader = StateStore(url=pg_store.url.replace("postgres@", f"{role}@"))
        assert reader.chunk_tasks("orders") == []
        with pytest.raises(StateStoreError, match=r"cannot be written .*permission denied.*connect as a user who"):
            reader.check()
    finally:
        run_sql(pg_url, f"DROP OWNED BY {role}", f"DROP ROLE {role}")
