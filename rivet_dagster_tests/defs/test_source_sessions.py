"""`source.max_sessions` holds for every step that reads the source, on every host, however it was launched.

Three hosts (UTS namespaces) share one PostgreSQL state store and each has a Dagster instance of its own: host A
runs a chunked export with `parallel: 2` through `rivet-dagster run --reconcile`, host B a full export with its
reconcile check through `dagster asset materialize`, host C another full export through `rivet-dagster run`. They
want four sessions at once; the source allows two. pg_stat_activity, sampled throughout, never shows more than
two sessions of the source (its `application_name`), the steps that found none free say they waited, and every
export still writes every row once."""
import os
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
import yaml

from rivet_dagster.state.store import close_connections
from rivet_dagster_tests.commit.test_claimed_scopes import on_host
from rivet_dagster_tests.commit.test_every_stage import ids, manifests
from rivet_dagster_tests.conftest import run_sql, schema_url, write_config

LIMIT, ROWS, COPY_ROWS = 2, 40_000, 12_000


class SessionSampler(threading.Thread):
    """The most sessions with this application_name seen at once, every 20 ms until stopped."""

    def __init__(self, url: str, application: str):
        super().__init__(daemon=True)
        self.url, self.application, self.done, self.most = url, application, threading.Event(), 0

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            deadline = time.monotonic() + 600
            while not self.done.is_set() and time.monotonic() < deadline:
                count = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                                     (self.application,)).fetchone()[0]
                self.most = max(self.most, count)
                time.sleep(0.02)


def test_max_sessions_holds_for_every_step_on_every_host_and_launch_path(pg_url, tmp_path):
    table, application = f"items_{uuid.uuid4().hex[:8]}", f"rivet_src_{uuid.uuid4().hex[:8]}"
    run_sql(pg_url, f"CREATE TABLE {table} AS SELECT g AS id, 'item ' || g AS label FROM generate_series(1, {ROWS}) g")

    def export(name: str, **settings) -> dict:
        return {"name": name, "format": "parquet", "destination": {"type": "local", "path": name}, **settings}
    # batches of 1,000 rows 0.15 s apart: each read holds its session for seconds, so the hosts overlap
    config = write_config(tmp_path, {"type": "postgres", "url": f"{pg_url}?application_name={application}",
                                     "max_sessions": LIMIT, "tuning": {"batch_size": 1000, "throttle_ms": 150}}, [
        export("items", query=f"SELECT id, label FROM {table}", mode="chunked", chunk_column="id",
               chunk_size=2_000, chunk_checkpoint=True, parallel=2),
        export("copy_b", query=f"SELECT id, label FROM {table} WHERE id <= {COPY_ROWS}", reconcile=True),
        export("copy_c", query=f"SELECT id, label FROM {table} WHERE id <= {COPY_ROWS}")])
    config.write_text(config.read_text() + yaml.safe_dump({"state": {"url": schema_url(pg_url, "sessions")}}))
    bin_dir = Path(sys.executable).parent

    def env(host: str) -> dict:
        home = tmp_path / f"home_{host}"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        return {**os.environ, "DAGSTER_HOME": str(home), "RIVET_CONFIG": str(config)}

    sampler = SessionSampler(pg_url, application)
    sampler.start()
    try:
        hosts = [on_host("host-a", [str(bin_dir / "rivet-dagster"), "run", "-c", str(config), "-e", "items",
                                    "--reconcile"], env("host-a")),
                 on_host("host-b", [str(bin_dir / "dagster"), "asset", "materialize", "-m",
                                    "rivet_dagster.definitions", "--select", "copy_b"], env("host-b")),
                 on_host("host-c", [str(bin_dir / "rivet-dagster"), "run", "-c", str(config), "-e", "copy_c"],
                         env("host-c"))]
        errors = [host.communicate(timeout=300)[1] for host in hosts]
    finally:
        sampler.done.set()
        sampler.join(timeout=10)
        close_connections()
    assert [host.returncode for host in hosts] == [0, 0, 0], [error[-3000:] for error in errors]

    assert sampler.most == LIMIT, sampler.most  # the limit was reached, never passed
    assert "waiting for a session of source pool rivet_postgres_" in "".join(errors)
    assert "reconcile: MATCH (40000/40000)" in errors[0]
    for name, rows in [("items", ROWS), ("copy_b", COPY_ROWS), ("copy_c", COPY_ROWS)]:
        names = {f["name"] for m in manifests(tmp_path / name) for f in m["files"]}
        assert ids(tmp_path / name, names) == list(range(1, rows + 1)), name
