"""The embedded demo as a newcomer meets it: from a built wheel (every mode exported), then opened in the UI with
the README's command (nothing to set but what the README sets), the README's downstream asset reading what it
exported, and this repository as a dg project holding the demo."""
from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

from rivet_dagster.state.store import StateStore
from rivet_dagster_tests.dagster_services import ROOT, wait_for
from rivet_dagster_tests.demo.conftest import readme_dagster_dev, run_demo, serving

BIN = Path(sys.executable).parent
EXPORTS = ["customers", "events_csv", "events_incremental", "orders", "orders_chunked", "refunds", "visits_daily"]
TABLES = ["sqlite_demo/main/customers", "sqlite_demo/main/events", "sqlite_demo/main/orders",
          "sqlite_demo/main/visits"]      # what the exports read: their lineage
DOWNSTREAM = ["revenue_by_status"]    # the demo's Python asset reading what `orders` committed
ASSETS = "{ assetNodes { assetKey { path } isAutoCreatedStub groupName } }"
LOCATIONS = """{ workspaceOrError { ... on Workspace { locationEntries { locationOrLoadError {
  __typename ... on PythonError { message } } } } } }"""


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
    assert "Warning" not in result.stderr and "Welcome to Dagster" not in result.stderr
    assert_every_mode_exported(project)


def assert_every_mode_exported(project: Path) -> None:
    """What each mode committed, from the state store's file manifest (each file's rows, by export)."""
    files = StateStore(path=str(project / "demo_data" / ".rivet_state.db")).files(last=1000)
    rows = {name: sorted(f["row_count"] for f in files if f["export_name"] == name) for name in EXPORTS}
    assert rows["customers"] == [20_000] and rows["orders"] == [50_000] and sum(rows["events_csv"]) == 30_000
    assert rows["refunds"] == []                                             # empty: skipped
    assert rows["events_incremental"] == [1_000, 30_000]                     # the second run: only the new rows
    assert rows["orders_chunked"] == [10_000] * 5                            # a file per chunk
    assert rows["visits_daily"] == [1_000] * 3                               # a file per closed day
    assert all((project / "output" / f["file_name"]).exists() for f in files)
    stored = project / "demo_data" / "dagster_home" / "storage" / "revenue_by_status"    # Dagster's default IO
    by_status = pickle.loads(stored.read_bytes())
    assert set(by_status) == {"new", "paid", "shipped", "delivered", "cancelled"}
    assert sum(s["orders"] for s in by_status.values()) == 50_000


def test_the_readme_ui_command_opens_the_demo_with_nothing_unset(demo_project):
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"`(DAGSTER_HOME=\$PWD/demo_data/dagster_home \.venv/bin/dagster dev -m "
                        r"rivet_dagster\.demo\.definitions)`", readme)
    assert command, "the README shows how to open the demo in the UI"
    with readme_dagster_dev(demo_project) as server:
        assert_the_ui_shows_the_demo(server)


def assert_the_ui_shows_the_demo(server) -> None:
    """The code location loads, with every export, the tables they read and the asset downstream of one."""
    wait_for(lambda: server.graphql(LOCATIONS)["workspaceOrError"]["locationEntries"], 60, "the code location")
    [location] = server.graphql(LOCATIONS)["workspaceOrError"]["locationEntries"]
    assert location["locationOrLoadError"]["__typename"] == "RepositoryLocation", location
    nodes = {"/".join(n["assetKey"]["path"]): n for n in server.graphql(ASSETS)["assetNodes"]}
    assert sorted(nodes) == sorted(EXPORTS + TABLES + DOWNSTREAM)
    # the tables are defined external assets, which the graph draws (it hides a dep nothing defines)
    assert all(not nodes[t]["isAutoCreatedStub"] and nodes[t]["groupName"] == "sqlite_demo" for t in TABLES)


def test_the_readme_downstream_asset_reads_the_exported_files(demo_project):
    readme = (ROOT / "README.md").read_text()
    [example] = [block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "orders_by_status" in block]
    (demo_project / "defs.py").write_text(textwrap.dedent(example).replace('"rivet.yaml"', '"demo_data/rivet.yaml"'))
    env = {**os.environ, "DAGSTER_HOME": str(demo_project / "demo_data" / "dagster_home")}
    result = subprocess.run([str(BIN / "dagster"), "asset", "materialize", "-f", "defs.py", "--select",
                             "orders,orders_by_status"], cwd=demo_project, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    stored = demo_project / "demo_data" / "dagster_home" / "storage" / "orders_by_status"   # Dagster's default IO
    by_status = dict(pickle.loads(stored.read_bytes()))
    assert sum(by_status.values()) == 50_000 and set(by_status) == {"new", "paid", "shipped", "delivered",
                                                                      "cancelled"}


def test_after_make_demo_the_repository_is_a_dg_project_holding_the_demo_as_a_component():
    """`make demo`, then `dg` (check, list, launch, dev): without $RIVET_CONFIG the code location is this
    repository's defs folder, whose RivetExports component names demo_data/rivet.yaml."""
    ran = run_demo(ROOT)
    assert ran.returncode == 0, ran.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RIVET_", "DAGSTER_"))}
    env["DAGSTER_HOME"] = str(ROOT / "demo_data" / "dagster_home")

    def dg(*args: str) -> str:
        result = subprocess.run([str(BIN / "dg"), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=180)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
        return result.stdout

    assert "All definitions loaded successfully" in dg("check", "defs")
    listed = {a["asset_key"]: a for a in json.loads(dg("list", "defs", "--json"))["assets"]}
    assert sorted(listed) == sorted(EXPORTS + TABLES + DOWNSTREAM)
    assert listed["orders_chunked"]["dependency_keys"] == ["sqlite_demo/main/orders"]
    assert listed["revenue_by_status"]["dependency_keys"] == ["orders"]
    with serving(ROOT, lambda port: ["dg", "dev", "--host", "127.0.0.1", "--port", str(port)]) as server:
        assert_the_ui_shows_the_demo(server)
    dg("launch", "--assets", "visits_daily", "--partition", str(dt.datetime.now(dt.timezone.utc).date() -
                                                                 dt.timedelta(days=1)))
