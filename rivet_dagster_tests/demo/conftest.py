"""The demo as `make demo` leaves it, and the README's command that opens it in the UI."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rivet_dagster_tests.dagster_services import ROOT, Webserver, free_port, wait_for

BIN = Path(sys.executable).parent


def run_demo(cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """`rivet-dagster-demo` from `cwd`, as `make demo` runs it."""
    return subprocess.run([sys.executable, "-m", "rivet_dagster.demo"], cwd=cwd, env=env or os.environ.copy(),
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="package")
def demo_project(tmp_path_factory) -> Path:
    """A project root (as `dagster dev` expects one) where the demo ran once."""
    project = tmp_path_factory.mktemp("demo")
    for name in ("pyproject.toml", "workspace.yaml"):
        shutil.copy(ROOT / name, project / name)
    ran = run_demo(project)
    assert ran.returncode == 0, ran.stderr[-3000:]
    return project


def readme_dagster_dev(project: Path) -> Iterator[Webserver]:
    """The README's UI command (`DAGSTER_HOME=$PWD/demo_data/dagster_home dagster dev -m
    rivet_dagster.demo.definitions`) in `project`, with nothing else set: webserver and daemon, stopped on exit."""
    return serving(project, lambda port: ["dagster", "dev", "-m", "rivet_dagster.demo.definitions", "-h", "127.0.0.1",
                                          "-p", str(port)])


@contextmanager
def serving(project: Path, command) -> Iterator[Webserver]:
    """`command(port)` (a UI: `dagster dev`, `dg dev`) in `project` on the demo's DAGSTER_HOME, with no other
    RIVET_ or DAGSTER_ variable set; stopped on exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RIVET_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(project / "demo_data" / "dagster_home"))
    server = Webserver(free_port(), project)
    program, *args = command(server.port)
    process = subprocess.Popen([str(BIN / program), *args], cwd=project, env=env, stdout=subprocess.DEVNULL,
                               stderr=open(project / "demo_data" / f"{program}-dev.log", "w"), start_new_session=True)
    try:
        wait_for(server.up, 120, "dagster dev")
        yield server
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=60)
