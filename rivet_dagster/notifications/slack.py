"""Slack incoming-webhook messages, best effort (crash matrix stage 9): a webhook that is down, slow or
refusing never fails, delays or rolls back an export. The post runs on its own thread with a 10 s timeout,
after the data is committed and recorded; a process that ends waits at most 2 s for it. The webhook URL is
a secret: it is never logged or shown."""
from __future__ import annotations

import atexit
import json
import os
import threading
import time
import urllib.request

from rivet_dagster.config.sections import SlackConfig

TIMEOUT_S = 10
EXIT_WAIT_S = 2    # at process exit, posts still under way get this long in all, then are dropped

_pending: set[threading.Thread] = set()


@atexit.register
def _let_posts_finish() -> None:
    """A short-lived process (`dagster asset materialize`, `rivet-dagster run`) would otherwise end before its
    post is sent, or, with a hanging webhook, wait the whole timeout."""
    deadline = time.monotonic() + EXIT_WAIT_S
    for thread in list(_pending):
        thread.join(max(0.0, deadline - time.monotonic()))


class SlackNotifier:
    def __init__(self, config: SlackConfig | None, log=None):
        self.config = config
        self.log = log

    def wants(self, event: str) -> bool:
        return self.config is not None and event in self.config.on and self._url() is not None

    def notify(self, event: str, export: str, run_id: str, status: str, *, rows: int | None = None,
               seconds: float | None = None, error: str | None = None, detail: str | None = None,
               log=None) -> threading.Thread | None:
        """Post one message if the config asks for this event; returns the posting thread (tests join it)."""
        if not self.wants(event):
            return None
        lines = [f"*rivet-dagster: {event.replace('_', ' ')}* — export `{export}`", f"status: {status}",
                 f"run: `{run_id}`"]
        if rows is not None:
            lines.append(f"rows: {rows:,}")
        if seconds is not None:
            lines.append(f"duration: {seconds:.1f}s")
        if detail:
            lines.append(detail)
        if error:
            lines.append(f"error: {error[:500]}")
        if self.config.base_url:
            lines.append(f"<{self.config.base_url.rstrip('/')}/runs/{run_id}|open the run in Dagster>")
        payload = {"text": "\n".join(lines), "event": event, "export": export, "run_id": run_id, "status": status}
        thread = threading.Thread(target=self._post, args=(payload, log or self.log), name="rivet-slack",
                                  daemon=True)
        _pending.add(thread)
        thread.start()
        return thread

    def _url(self) -> str | None:
        if self.config.webhook_url:
            return self.config.webhook_url
        return os.environ.get(self.config.webhook_url_env) or None

    def _post(self, payload: dict, log) -> None:
        request = urllib.request.Request(self._url(), data=json.dumps(payload).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                response.read()
        except Exception as exc:  # best effort; the URL is a secret, so only the kind of failure is told
            if log is not None:
                log.warning(f"Slack notification ({payload['event']}) not delivered: {type(exc).__name__}")
        finally:
            _pending.discard(threading.current_thread())
