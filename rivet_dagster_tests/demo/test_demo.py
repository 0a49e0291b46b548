"""The embedded demo as a newcomer meets it: from a built wheel, then opened in the UI with the README's command
(nothing to set but what the README sets), and the README's downstream asset reading what it exported."""
from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pyarrow.parquet as pq

from rivet_dagster_tests.dagster_services import ROOT, Webserver, free_port, wait_for

BIN = Path(sys.executable).parent
EXPORTS = ["customers", "events_csv", "orders", "refunds"]
ASSETS = "{ assetNodes { assetKey { path } } }"
LOCATIONS = """{ workspaceOrError { ... on Workspace { locationEntries { locationOrLoadError {
  __typename ... on PythonError { message } } } } } }"""


def run_demo(cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """`rivet-dagster-demo` from `cwd`, as `make demo` runs it."""
    return subprocess.run([sys.executable, "-m", "rivet_dagster.demo"], cwd=cwd, env=env or os.environ.copy(),
                          capture_output=True, text=True, timeout=300)


def test_the_demo_runs_from_a_built_wheel(tmp_path):
    source = tmp_path / "source"           # build from a copy: an in-tree build leaves build/ behind
    shutil.copytree(ROOT / "rivet_dagster", source / "rivet_dagster",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = (tmp_path / "dist").glob("rivet_dagster-*.whl")
    site = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                                str(wheel)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-2000:]

    # A Python that sees the wheel and this environment's dependencies, but not this checkout (the editable
    # install's finder is set up by a .pth file that a path added by another .pth does not run).
    python = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(python)], check=True, timeout=120)
    [packages] = (python / "lib").glob("python3*/site-packages")
    (packages / "deps.pth").write_text(f"{site}\n{sysconfig.get_paths()['purelib']}\n")
    project = tmp_path / "project"
    project.mkdir()
    where = subprocess.run([str(python / "bin" / "python"), "-c", "import rivet_dagster; print(rivet_dagster.__file__)"],
                           cwd=project, capture_output=True, text=True, timeout=60)
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr
    result = subprocess.run([str(python / "bin" / "python"), "-m", "rivet_dagster.demo"], cwd=project,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    exported = {re.match(r"(\w+?)_\d{8}_\d{6}_", p.name).group(1) for p in (project / "output").iterdir()
                if not p.name.startswith("_")}
    assert exported == {"customers", "events_csv", "orders"}                   # refunds is empty: skipped
    assert pq.read_table(next((project / "output").glob("orders_*.parquet"))).num_rows == 50_000


def test_the_readme_ui_command_opens_the_demo_with_nothing_unset(tmp_path):
    for name in ("pyproject.toml", "workspace.yaml"):       # a project root, as `dagster dev` expects
        shutil.copy(ROOT / name, tmp_path / name)
    assert run_demo(tmp_path).returncode == 0
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"`(RIVET_CONFIG=demo_data/rivet\.yaml DAGSTER_HOME=\$PWD/demo_data/dagster_home "
                        r"\.venv/bin/dagster dev)`", readme)
    assert command, "the README shows how to open the demo in the UI"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RIVET_", "DAGSTER_"))}
    env.update(RIVET_CONFIG="demo_data/rivet.yaml", DAGSTER_HOME=str(tmp_path / "demo_data" / "dagster_home"))
    server = Webserver(free_port(), tmp_path)
    process = subprocess.Popen([str(BIN / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(server.port)], cwd=tmp_path,
                               env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "dev.log", "w"),
                               start_new_session=True)
    try:
        wait_for(server.up, 120, "dagster dev")
        [location] = server.graphql(LOCATIONS)["workspaceOrError"]["locationEntries"]
        assert location["locationOrLoadError"]["__typename"] == "RepositoryLocation", location
        assert sorted(n["assetKey"]["path"][-1] for n in server.graphql(ASSETS)["assetNodes"]) == EXPORTS
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=60)


def test_the_readme_downstream_asset_reads_the_exported_files(tmp_path):
    assert run_demo(tmp_path).returncode == 0
    readme = (ROOT / "README.md").read_text()
    [example] = [block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "orders_by_status" in block]
    (tmp_path / "defs.py").write_text(textwrap.dedent(example).replace('"rivet.yaml"', '"demo_data/rivet.yaml"'))
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "demo_data" / "dagster_home")}
    result = subprocess.run([str(BIN / "dagster"), "asset", "materialize", "-f", "defs.py", "--select",
                             "orders,orders_by_status"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    stored = tmp_path / "demo_data" / "dagster_home" / "storage" / "orders_by_status"   # Dagster's default IO
    by_status = dict(pickle.loads(stored.read_bytes()))
    assert sum(by_status.values()) == 50_000 and set(by_status) == {"new", "paid", "shipped", "delivered",
                                                                      "cancelled"}
