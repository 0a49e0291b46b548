#!/usr/bin/env python3
"""Full export of the `narrow` (5M rows) and `wide` (1M x 20) fixtures to local zstd Parquet, each through
`dagster asset materialize`, on PostgreSQL and MariaDB. Prints, per table: the export step's seconds (from
the run's own log line), the whole command's seconds, rows/s, output MB and the command's peak RSS.

    python benchmarks/bench_export.py --seed                  # create the fixtures first (about 1 min)
    python benchmarks/bench_export.py [--engines pg,mysql] [--tables narrow,wide] [--repeats 2]

Connection URLs: BENCH_PG_URL (default postgresql://bench:bench@127.0.0.1:5432/bench) and BENCH_MY_URL
(default mysql://bench:bench@127.0.0.1:3306/bench). The fixtures are the shared, deterministic ones (every
value a function of id), so results compare with the peer tools run on the same tables.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

HERE = Path(__file__).parent
URLS = {"pg": os.environ.get("BENCH_PG_URL", "postgresql://bench:bench@127.0.0.1:5432/bench"),
        "mysql": os.environ.get("BENCH_MY_URL", "mysql://bench:bench@127.0.0.1:3306/bench")}
ROWS = {"narrow": 5_000_000, "wide": 1_000_000}
STEP_LINE = re.compile(r"staged ([\d,]+) rows in \d+ file\(s\) \(([\d.]+)s")


def seed(engines: list[str]) -> None:
    for engine in engines:
        url = urlparse(URLS[engine])
        if engine == "pg":
            subprocess.run(["psql", URLS["pg"], "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f",
                            str(HERE / "seed_pg.sql")], check=True)
        else:
            subprocess.run(["mariadb", f"-h{url.hostname}", f"-P{url.port or 3306}", f"-u{url.username}",
                            f"-p{url.password or ''}", url.path.lstrip("/"),
                            "-e", f"SOURCE {HERE / 'seed_mariadb.sql'};"], check=True)


def run_once(engine: str, table: str) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"bench_{engine}_{table}_"))
    try:
        out, home = work / "out", work / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        (work / "rivet.yaml").write_text(
            f"source:\n  type: {'postgres' if engine == 'pg' else 'mysql'}\n  url_env: BENCH_SOURCE_URL\n"
            f"  tuning: {{profile: fast}}\nexports:\n  - name: {table}\n    query: SELECT * FROM {table}\n"
            f"    format: parquet\n    compression: zstd\n    destination: {{type: local, path: \"{out}\"}}\n")
        env = {**os.environ, "BENCH_SOURCE_URL": URLS[engine], "RIVET_CONFIG": str(work / "rivet.yaml"),
               "DAGSTER_HOME": str(home)}
        dagster = str(Path(sys.executable).with_name("dagster"))
        log = work / "dagster.log"
        started = time.monotonic()
        with open(log, "w") as stderr:
            process = subprocess.Popen([dagster, "asset", "materialize", "-m", "rivet_dagster.definitions",
                                        "--select", table], env=env, stdout=subprocess.DEVNULL, stderr=stderr)
            _, status, usage = os.wait4(process.pid, 0)  # this command's own peak RSS (it is one process)
        seconds = time.monotonic() - started
        output = log.read_text()
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{engine}/{table} failed:\n{output[-3000:]}")
        match = STEP_LINE.search(output)
        rows, step = int(match.group(1).replace(",", "")), float(match.group(2))
        size = sum(p.stat().st_size for p in out.glob("*.parquet"))
        return {"engine": engine, "table": table, "rows": rows, "step_s": step, "command_s": seconds,
                "rows_per_s": rows / step, "output_mb": size / 1e6, "peak_rss_mb": usage.ru_maxrss / 1024}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="pg,mysql")
    parser.add_argument("--tables", default="narrow,wide")
    parser.add_argument("--repeats", type=int, default=2, help="runs per table; the best is reported")
    parser.add_argument("--seed", action="store_true", help="create the fixtures, then exit")
    args = parser.parse_args()
    engines, tables = args.engines.split(","), args.tables.split(",")
    if args.seed:
        seed(engines)
        return 0
    print(f"{'engine':6} {'table':6} {'rows':>9} {'step s':>7} {'command s':>9} {'overhead s':>10} "
          f"{'rows/s':>10} {'out MB':>7} {'peak RSS MB':>11}")
    for engine in engines:
        for table in tables:
            runs = [run_once(engine, table) for _ in range(args.repeats)]
            best = min(runs, key=lambda r: r["step_s"])
            assert best["rows"] == ROWS[table], f"{engine}/{table}: {best['rows']} rows, expected {ROWS[table]}"
            rss = max(r["peak_rss_mb"] for r in runs)
            print(f"{engine:6} {table:6} {best['rows']:>9,} {best['step_s']:>7.2f} {best['command_s']:>9.2f} "
                  f"{best['command_s'] - best['step_s']:>10.2f} {best['rows_per_s']:>10,.0f} "
                  f"{best['output_mb']:>7.1f} {rss:>11.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
