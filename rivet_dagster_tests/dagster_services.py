"""What the UI runs on: dagster-webserver and dagster-daemon on the project's workspace, a config and an instance,
with a GraphQL client (the UI's own API) and a bounded wait."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def as_host(host: str, command: list[str]) -> list[str]:
    """`command` in a UTS namespace of its own whose hostname is `host` (a simulated host; needs root)."""
    return ["unshare", "-u", "sh", "-c", f'hostname {host} && exec "$@"', "sh", *command]


class Webserver:
    def __init__(self, port: int, logs: Path):
        self.port, self.logs = port, logs

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/graphql", method="POST",
                                         data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
        assert "errors" not in body, body
        return body["data"]

    def up(self) -> bool:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{self.port}/server_info", timeout=2).status == 200
        except OSError:
            return False


@contextmanager
def dagster_services(home: Path, config: Path, logs: Path, daemon: bool = True, host: str | None = None,
                     env: dict | None = None):
    """Webserver (and daemon) for `config` on the instance in `home`, on `host` (a UTS namespace of that name) if
    given, with `env` added to the environment; stopped on exit."""
    env = {**os.environ, **(env or {}), "DAGSTER_HOME": str(home), "RIVET_CONFIG": str(config)}
    workspace = str(ROOT / "workspace.yaml")
    server = Webserver(free_port(), logs)
    commands = [[str(BIN / "dagster-webserver"), "-w", workspace, "-h", "127.0.0.1", "-p", str(server.port)]]
    if daemon:
        commands.append([str(BIN / "dagster-daemon"), "run", "-w", workspace])
    processes = [subprocess.Popen(as_host(host, command) if host else command, env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=open(logs / f"{Path(command[0]).name}.log", "w"))
                 for command in commands]
    try:
        wait_for(server.up, 90, "dagster-webserver")
        yield server
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
