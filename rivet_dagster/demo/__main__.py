"""`rivet-dagster-demo`: seed the demo SQLite database and export it in every mode through Dagster, with no server:
the unpartitioned exports and their checks, and an asset downstream of `orders` (`dagster asset materialize`),
the chunked export chunk by chunk (`rivet-dagster run`), the daily windows of the last days (`--partition-range`),
then new rows for the incremental export and its second run, which exports only those. Run from the project
directory."""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from rivet_dagster.demo.seed import VISIT_DAYS, add_events, seed

HERE = Path(__file__).parent
UNPARTITIONED = "customers,orders,revenue_by_status,events_csv,refunds,events_incremental"  # + orders downstream


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rivet-dagster-demo", description=__doc__)
    parser.add_argument("--workdir", default="demo_data", help="where the demo database and config go")
    parser.add_argument("--output", default="output", help="where the exported files go")
    args = parser.parse_args(argv)

    workdir = Path(args.workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "orders.sql", workdir / "orders.sql")
    today = datetime.now(timezone.utc).date()
    days = [today - timedelta(days=n) for n in range(VISIT_DAYS, 0, -1)]
    # The exports' path is relative to the config's folder, so the UI and the CLI need nothing set to find it.
    output = os.path.relpath(Path(args.output).absolute(), workdir)
    config = (HERE / "rivet.yaml").read_text().replace("path: ../output", f"path: {json.dumps(output)}")
    (workdir / "rivet.yaml").write_text(re.sub(r'start: "\d{4}-\d\d-\d\d"', f'start: "{days[0]}"', config))
    seed(workdir / "demo.db", today=today)
    dagster_home = workdir / "dagster_home"
    dagster_home.mkdir(exist_ok=True)
    instance_yaml = Path("dagster.yaml")
    (dagster_home / "dagster.yaml").write_text(instance_yaml.read_text() if instance_yaml.exists()
                                               else "telemetry:\n  enabled: false\n")
    env = {**os.environ, "RIVET_CONFIG": str(workdir / "rivet.yaml"), "DAGSTER_HOME": str(dagster_home)}
    materialize = [sys.executable, "-W", "ignore:Function `asset_materialize_command` is superseded", "-m",
                   "dagster", "asset", "materialize", "-m", "rivet_dagster.demo.definitions"]   # (dg is a dev extra)
    window_range = f"{days[0]}...{days[-1]}"
    steps = [  # (what it shows, what runs first, the command)
        (f"dagster asset materialize --select {UNPARTITIONED}", None, [*materialize, "--select", UNPARTITIONED]),
        ("rivet-dagster run -e orders_chunked", None,
         [sys.executable, "-m", "rivet_dagster.cli.main", "run", "-c", str(workdir / "rivet.yaml"),
          "-e", "orders_chunked"]),
        (f"dagster asset materialize --select visits_daily --partition-range {window_range}", None,
         [*materialize, "--select", "visits_daily", "--partition-range", window_range]),
        ("1,000 new events, then dagster asset materialize --select events_incremental",
         lambda: add_events(workdir / "demo.db"), [*materialize, "--select", "events_incremental"])]
    print(f"demo database: {workdir / 'demo.db'}", flush=True)
    for shown, before, command in steps:
        print(f"running: {shown}", flush=True)
        if before is not None:
            before()
        result = subprocess.run(command, env=env)
        if result.returncode != 0:
            return result.returncode
    files = sorted(p.name for p in Path(args.output).iterdir() if p.is_file())
    print(f"\n{len(files)} files in {Path(args.output).absolute()}:\n  " + "\n  ".join(files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
