"""`rivet-dagster-demo`: seed the demo SQLite database and materialize every export to ./output through
Dagster (`dagster asset materialize`), with no server. Run from the project directory."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from rivet_dagster.demo.seed import seed

HERE = Path(__file__).parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rivet-dagster-demo", description=__doc__)
    parser.add_argument("--workdir", default="demo_data", help="where the demo database and config go")
    parser.add_argument("--output", default="output", help="where the exported files go")
    args = parser.parse_args(argv)

    workdir = Path(args.workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "orders.sql", workdir / "orders.sql")
    # The exports' path is relative to the config's folder, so the UI and the CLI need nothing set to find it.
    output = os.path.relpath(Path(args.output).absolute(), workdir)
    (workdir / "rivet.yaml").write_text((HERE / "rivet.yaml").read_text().replace("path: ../output",
                                                                                f"path: {json.dumps(output)}"))
    seed(workdir / "demo.db")
    dagster_home = workdir / "dagster_home"
    dagster_home.mkdir(exist_ok=True)
    instance_yaml = Path("dagster.yaml")
    (dagster_home / "dagster.yaml").write_text(instance_yaml.read_text() if instance_yaml.exists()
                                               else "telemetry:\n  enabled: false\n")
    env = {**os.environ, "RIVET_CONFIG": str(workdir / "rivet.yaml"), "DAGSTER_HOME": str(dagster_home)}
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "rivet_dagster.definitions",
               "--select", "*"]
    print(f"demo database: {workdir / 'demo.db'}\nrunning: dagster {' '.join(command[3:])}", flush=True)
    result = subprocess.run(command, env=env)
    if result.returncode == 0:
        files = sorted(p.name for p in Path(args.output).iterdir() if p.is_file())
        print(f"\n{len(files)} files in {Path(args.output).absolute()}:\n  " + "\n  ".join(files))
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
