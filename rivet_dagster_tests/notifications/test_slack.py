"""Slack notifications: a receiver on 127.0.0.1 gets failures (from the run-failure sensor), schema changes and
degraded runs; a dead or hanging receiver never fails or delays an export; the webhook URL is never shown."""
import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from rivet_dagster import build_definitions
from rivet_dagster.cli.main import main
from rivet_dagster.config.sections import SlackConfig
from rivet_dagster.notifications.slack import SlackNotifier
from rivet_dagster_tests.conftest import run_sql

SECRET_PATH = "/services/T000/B000/not-for-logs"


class Receiver:
    """A Slack webhook stand-in: records JSON payloads, or hangs for `delay` seconds before answering."""

    def __init__(self, delay: float = 0.0):
        self.payloads: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(delay)
                receiver.payloads.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, seconds: float = 10) -> list[dict]:
        deadline = time.monotonic() + seconds
        while len(self.payloads) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.payloads

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def shapes(pg_url):
    run_sql(pg_url, "DROP TABLE IF EXISTS shapes",
            "CREATE TABLE shapes AS SELECT g AS id, 'shape ' || g AS name FROM generate_series(1, 100) g")
    return pg_url


def slack_config(tmp_path, url, out, webhook, query="SELECT * FROM shapes", on=("failure", "schema_change"),
                 **export):
    import yaml
    path = tmp_path / "rivet.yaml"
    path.write_text(yaml.safe_dump({
        "source": {"type": "postgres", "url": url},
        "exports": [{"name": "shapes", "query": query, "format": "parquet",
                     "destination": {"type": "local", "path": str(out)}, **export}],
        "notifications": {"slack": {"webhook_url_env": "RIVET_TEST_SLACK", "on": list(on),
                                    "base_url": "http://dagster.example:3000"}}}))
    return path


def run(config_path, instance):
    defs = build_definitions(config_path)
    return dg.materialize(list(defs.assets), resources=defs.resources, instance=instance, raise_on_error=False)


def test_a_failed_run_is_posted_by_the_run_failure_sensor(shapes, tmp_path, export_dir, receiver, monkeypatch):
    monkeypatch.setenv("RIVET_TEST_SLACK", receiver.url)
    config = slack_config(tmp_path, shapes, export_dir, receiver.url, query="SELECT * FROM no_such_shapes")
    instance = dg.DagsterInstance.ephemeral()
    result = run(config, instance)
    assert not result.success
    sensor = build_definitions(config, name="alerts").resolve_sensor_def("rivet_alerts_slack_on_failure")
    failure = [e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE][0]
    context = dg.build_run_status_sensor_context(sensor_name=sensor.name, dagster_instance=instance,
                                                 dagster_run=result.dagster_run, dagster_event=failure
                                                 ).for_run_failure()
    sensor(context)
    [payload] = receiver.wait_for(1)
    assert payload["event"] == "failure" and payload["export"] == "shapes" and payload["status"] == "failed"
    assert result.run_id in payload["text"] and "no_such_shapes" in payload["text"]
    assert f"http://dagster.example:3000/runs/{result.run_id}" in payload["text"]


def test_a_schema_change_is_posted_after_the_commit(shapes, tmp_path, export_dir, receiver, monkeypatch):
    monkeypatch.setenv("RIVET_TEST_SLACK", receiver.url)
    instance = dg.DagsterInstance.ephemeral()
    assert run(slack_config(tmp_path, shapes, export_dir, receiver.url), instance).success
    assert run(slack_config(tmp_path, shapes, export_dir, receiver.url, query="SELECT id FROM shapes"), instance).success
    [payload] = receiver.wait_for(1)
    assert payload["event"] == "schema_change" and "rows: 100" in payload["text"]


def test_degraded_runs_are_posted_with_their_retries(receiver):
    notifier = SlackNotifier(SlackConfig(webhook_url=receiver.url, on=["degraded"]))
    assert notifier.notify("failure", "x", "r1", "failed") is None                  # not asked for
    notifier.notify("degraded", "orders", "r2", "success", rows=5, detail="succeeded after 2 retries").join(5)
    assert receiver.wait_for(1)[0]["text"].count("succeeded after 2 retries") == 1


@pytest.mark.parametrize("kind", ["dead", "hanging"])
def test_a_dead_or_hanging_webhook_never_fails_or_delays_the_export(shapes, tmp_path, export_dir, monkeypatch,
                                                                      kind, caplog):
    if kind == "dead":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{sock.getsockname()[1]}{SECRET_PATH}"  # nothing listens once closed
        hanging = None
    else:
        hanging = Receiver(delay=30)
        url = hanging.url
    monkeypatch.setenv("RIVET_TEST_SLACK", url)
    instance = dg.DagsterInstance.ephemeral()
    run(slack_config(tmp_path, shapes, export_dir, url), instance)
    started = time.monotonic()
    result = run(slack_config(tmp_path, shapes, export_dir, url, query="SELECT id FROM shapes"), instance)
    assert result.success and time.monotonic() - started < 8                       # not held by the webhook
    assert len(list(export_dir.glob("shapes_*.parquet"))) == 2
    time.sleep(0.5)
    assert SECRET_PATH not in caplog.text
    if hanging:
        hanging.close()


NOTIFY_AND_EXIT = ("from rivet_dagster.config.sections import SlackConfig; "
                   "from rivet_dagster.notifications.slack import SlackNotifier; "
                   "SlackNotifier(SlackConfig(webhook_url={url!r}, on=['degraded'])).notify('degraded', 'x', 'r1', 'ok')")


@pytest.mark.parametrize("delay", [0, 30])
def test_a_process_that_ends_waits_briefly_for_its_post(delay):
    """A quick webhook still gets the message of a process that ends at once; a hanging one holds it ~2 s."""
    hook = Receiver(delay=delay)
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", NOTIFY_AND_EXIT.format(url=hook.url)], check=True, timeout=30)
    elapsed = time.monotonic() - started
    if delay:
        assert elapsed < 6                          # not the 10 s timeout, nor the 30 s the receiver hangs
    else:
        assert [p["run_id"] for p in hook.wait_for(1)] == ["r1"]
    hook.close()


def test_rivet_dagster_run_posts_its_own_failures_and_the_sensor_leaves_them_to_it(shapes, tmp_path, export_dir,
                                                                                  receiver, monkeypatch, capsys):
    monkeypatch.setenv("RIVET_TEST_SLACK", receiver.url)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    config = slack_config(tmp_path, shapes, export_dir, receiver.url, query="SELECT * FROM no_such_shapes")
    assert main(["run", "-c", str(config)]) == 1
    [payload] = receiver.wait_for(1)
    assert payload["event"] == "failure" and payload["export"] == "shapes"
    assert "no_such_shapes" in payload["text"] and "duration: " in payload["text"]

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(list(build_definitions(config).assets), resources=build_definitions(config).resources,
                            instance=instance, raise_on_error=False, tags={"rivet/cli": "run"})
    sensor = build_definitions(config, name="alerts").resolve_sensor_def("rivet_alerts_slack_on_failure")
    failure = [e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE][0]
    sensor(dg.build_run_status_sensor_context(sensor_name=sensor.name, dagster_instance=instance,
                                              dagster_run=result.dagster_run, dagster_event=failure).for_run_failure())
    time.sleep(0.5)
    assert len(receiver.payloads) == 1                        # no second message for the command's own run


def test_a_failed_reconcile_is_posted_as_degraded(shapes, tmp_path, export_dir, receiver, monkeypatch):
    monkeypatch.setenv("RIVET_TEST_SLACK", receiver.url)
    config = slack_config(tmp_path, shapes, export_dir, receiver.url, on=("degraded",), reconcile=True)
    defs = build_definitions(config)
    assert dg.materialize([*defs.assets, *defs.asset_checks], resources=defs.resources).success
    run_sql(shapes, "DELETE FROM shapes WHERE id <= 10")
    dg.materialize([*defs.assets, *defs.asset_checks], resources=defs.resources,
                   selection=dg.AssetSelection.checks_for_assets("shapes"))
    [payload] = receiver.wait_for(1)
    assert payload["event"] == "degraded" and payload["status"] == "check failed"
    assert "reconcile failed: " in payload["text"] and "source has 90 rows in scope, 100 were committed" in payload["text"]
