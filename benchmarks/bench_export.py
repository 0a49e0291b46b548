#!/usr/bin/env python3
"""Exports of the shared `narrow` (5M rows) and `wide` (1M x 20) fixtures to local zstd Parquet, on PostgreSQL and
MariaDB, in three modes side by side:

* full: `dagster asset materialize` of a full export;
* chunked: `rivet-dagster run` of a chunked export (chunk_column id, parallel: 2, chunk_checkpoint), every chunk
  in one run (1M rows per chunk on narrow, 250k on wide);
* chunked1000: the same cut into 1,000 chunks (5,000 rows each on narrow), what a backfill of a large table
  costs per chunk;
* incremental: `rivet-dagster run` of an incremental catch-up (cursor id): a first run exports id 1, then the timed
  run exports every row after that cursor, a bound read like a chunk's range or a time window;
* row_hash: the full export with `meta_columns: {row_hash: true}`, what `_rivet_row_hash` adds to it;
* row_hash_v2: the same with `row_hash_version: 2` (fixed-width values hashed as bytes, not text).

`--tables wide10` is `wide` ten times over (10M rows; `--seed --tables wide10` creates it from `wide`, about 3 min
per engine): its peak RSS beside `wide`'s shows memory stays flat as the table grows.

Per engine, table and mode it prints the export step's seconds (from the run's own log line), the whole command's
wall and CPU seconds (user + system, steadier than wall on a shared machine) and their ratio to the full export of
the same table, rows/s, output MB and the command's peak RSS. `--instance postgres` runs every command on Dagster
storage in PostgreSQL, as deploy/dagster.yaml sets it up (the default is Dagster's SQLite files).

    python benchmarks/bench_export.py --seed                  # create the fixtures first (about 1 min)
    python benchmarks/bench_export.py [--engines pg,mysql] [--tables narrow,wide]
                                      [--modes full,chunked,chunked1000,incremental,row_hash,row_hash_v2]
                                      [--repeats 2] [--instance postgres] [--rows 5000000]

Connection URLs: BENCH_PG_URL (default postgresql://bench:bench@127.0.0.1:5432/bench) and BENCH_MY_URL
(default mysql://bench:bench@127.0.0.1:3306/bench). The fixtures are the shared, deterministic ones (every
value a function of id), so results compare with the peer tools run on the same tables.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
URLS = {"pg": os.environ.get("BENCH_PG_URL", "postgresql://bench:bench@127.0.0.1:5432/bench"),
        "mysql": os.environ.get("BENCH_MY_URL", "mysql://bench:bench@127.0.0.1:3306/bench")}
ROWS = {"narrow": 5_000_000, "wide": 1_000_000, "wide10": 10_000_000}
CHUNK_SIZE = {"narrow": 1_000_000, "wide": 250_000, "wide10": 2_500_000}
_WIDE_COLUMNS = ", ".join(f"w.{c}" for c in ("account_id org_id qty seq_no priority price score amount fee is_active "
                                               "is_flagged birth_date created_at updated_at event_ts description "
                                               "code payload ext_id").split())
WIDE10 = {"pg": f"DROP TABLE IF EXISTS wide10; CREATE TABLE wide10 AS SELECT w.id + g * 1000000 AS id, {_WIDE_COLUMNS} "
                "FROM wide w CROSS JOIN generate_series(0, 9) g; ALTER TABLE wide10 ADD PRIMARY KEY (id); "
                "ANALYZE wide10;",
          "mysql": f"DROP TABLE IF EXISTS wide10; CREATE TABLE wide10 (PRIMARY KEY (id)) AS SELECT w.id + g.seq * "
                   f"1000000 AS id, {_WIDE_COLUMNS} FROM wide w CROSS JOIN seq_0_to_9 g; ANALYZE TABLE wide10;"}
STEP_LINE = re.compile(r"staged ([\d,]+) rows in \d+ file\(s\) \(([\d.]+)s")
MODES = {
    "full": "",
    "chunked": "    mode: chunked\n    chunk_column: id\n    chunk_size: {chunk}\n    parallel: 2\n"
               "    chunk_checkpoint: true\n",
    "chunked1000": "    mode: chunked\n    chunk_column: id\n    chunk_size: {chunk1000}\n    parallel: 2\n"
                   "    chunk_checkpoint: true\n",
    "incremental": "    mode: incremental\n    cursor_column: id\n",
    "row_hash": "    meta_columns: {{row_hash: true}}\n",
    "row_hash_v2": "    meta_columns: {{row_hash: true, row_hash_version: 2}}\n",
}


def resize(narrow_rows: int) -> None:
    """Smaller (or larger) fixtures than the shared harness's, in the same proportions: chunk sizes follow."""
    ROWS.update(narrow=narrow_rows, wide=narrow_rows // 5, wide10=narrow_rows * 2)
    CHUNK_SIZE.update(narrow=ROWS["narrow"] // 5, wide=ROWS["wide"] // 4, wide10=ROWS["wide10"] // 4)


def seed(engines: list[str], tables: list[str]) -> None:
    sizes = {"narrow_rows": ROWS["narrow"], "wide_rows": ROWS["wide"]}
    for engine in engines:
        url = urlparse(URLS[engine])
        if engine == "pg":
            sql = ["-c", WIDE10["pg"]] if "wide10" in tables else ["-f", str(HERE / "seed_pg.sql")]
            variables = [f"-v{name}={rows}" for name, rows in sizes.items()]
            subprocess.run(["psql", URLS["pg"], "-X", "-q", "-v", "ON_ERROR_STOP=1", *variables, *sql], check=True)
        else:
            variables = ", ".join(f"@{name}={rows}" for name, rows in sizes.items())
            sql = WIDE10["mysql"] if "wide10" in tables else f"SET {variables}; SOURCE {HERE / 'seed_mariadb.sql'};"
            subprocess.run(["mariadb", f"-h{url.hostname}", f"-P{url.port or 3306}", f"-u{url.username}",
                            f"-p{url.password or ''}", url.path.lstrip("/"), "-e", sql], check=True)


def timed(command: list[str], env: dict, log: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and peak RSS (MB) of one command (one process), its log appended to `log`."""
    started = time.monotonic()
    with open(log, "a") as stderr:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{log.read_text()[-3000:]}")
    return time.monotonic() - started, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024


@contextlib.contextmanager
def dagster_home(work: Path, instance: str) -> Iterator[dict]:
    """A fresh $DAGSTER_HOME in `work` on Dagster's SQLite files, or on deploy/'s PostgreSQL storage in a schema of
    BENCH_PG_URL's database made (tables included) before any timed command and dropped after; yields the
    environment that names it."""
    home = work / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {"DAGSTER_HOME": str(home)}
    schema = f"bench_dagster_{uuid.uuid4().hex[:8]}" if instance == "postgres" else None
    try:
        if schema:
            shutil.copy(HERE.parent / "deploy" / "dagster.yaml", home / "dagster.yaml")
            psql(f"CREATE SCHEMA {schema}")
            env["DAGSTER_PG_URL"] = (URLS["pg"].replace("postgresql://", "postgresql+psycopg2://", 1)
                                     + f"?options=-csearch_path%3D{schema}")
            subprocess.run([sys.executable, "-c", "import dagster; dagster.DagsterInstance.get()"], check=True,
                           env={**os.environ, **env})
        yield env
    finally:
        if schema:
            psql(f"DROP SCHEMA {schema} CASCADE")


def run_once(engine: str, table: str, mode: str, instance: str = "sqlite") -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"bench_{engine}_{table}_{mode}_"))
    try:
        with dagster_home(work, instance) as instance_env:
            return _export(work, instance_env, engine, table, mode)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _export(work: Path, instance_env: dict, engine: str, table: str, mode: str) -> dict:
    out, config = work / "out", work / "rivet.yaml"
    query = f"SELECT * FROM {table}" + (" WHERE id <= ${UPTO}" if mode == "incremental" else "")
    config.write_text(
        f"source:\n  type: {'postgres' if engine == 'pg' else 'mysql'}\n  url_env: BENCH_SOURCE_URL\n"
        f"  tuning: {{profile: fast}}\nexports:\n  - name: {table}\n    query: \"{query}\"\n"
        f"    format: parquet\n    compression: zstd\n    destination: {{type: local, path: \"{out}\"}}\n"
        + MODES[mode].format(chunk=CHUNK_SIZE[table], chunk1000=ROWS[table] // 1000))
    env = {**os.environ, **instance_env, "BENCH_SOURCE_URL": URLS[engine], "RIVET_CONFIG": str(config)}
    log = work / "commands.log"
    if mode in ("full", "row_hash", "row_hash_v2"):
        command = [str(BIN / "dagster"), "asset", "materialize", "-m", "rivet_dagster.definitions",
                   "--select", table]
    else:
        command = [str(BIN / "rivet-dagster"), "run", "-c", str(config)]
    if mode == "incremental":   # the cursor after a first run of one row; the timed run catches up
        timed([*command, "-p", "UPTO=1"], env, log)
        log.write_text("")
        command += ["-p", f"UPTO={ROWS[table]}"]
    seconds, cpu, rss = timed(command, env, log)
    steps = STEP_LINE.findall(log.read_text())   # a chunk run logs its running total: the last line counts
    rows, step = int(steps[-1][0].replace(",", "")), float(steps[-1][1])
    size = sum(p.stat().st_size for p in out.glob("*.parquet"))
    return {"rows": rows, "step_s": step, "command_s": seconds, "cpu_s": cpu,
            "output_mb": size / 1e6, "peak_rss_mb": rss}


def psql(sql: str) -> None:
    subprocess.run(["psql", URLS["pg"], "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True,
                   env={**os.environ, "PGOPTIONS": "--client-min-messages=warning"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="pg,mysql")
    parser.add_argument("--tables", default="narrow,wide")
    parser.add_argument("--modes", default="full,chunked,incremental")
    parser.add_argument("--repeats", type=int, default=2, help="runs per cell; the best is reported")
    parser.add_argument("--seed", action="store_true", help="create the fixtures, then exit")
    parser.add_argument("--rows", type=int, help="rows of `narrow` (`wide` has a fifth, `wide10` ten times that), "
                                                 "to seed and to expect; the default is the shared fixtures' 5M")
    parser.add_argument("--instance", choices=["sqlite", "postgres"], default="sqlite",
                        help="Dagster's storage: the default SQLite files, or deploy/dagster.yaml on PostgreSQL (a "
                             "fresh schema of BENCH_PG_URL's database per run)")
    args = parser.parse_args()
    engines, tables, modes = args.engines.split(","), args.tables.split(","), args.modes.split(",")
    if args.rows:
        resize(args.rows)
    if args.seed:
        seed(engines, tables)
        return 0
    print(f"{'engine':6} {'table':6} {'mode':11} {'rows':>9} {'step s':>7} {'command s':>9} "
          f"{'x full':>6} {'cpu s':>6} {'x full':>6} {'rows/s':>10} {'out MB':>7} {'peak RSS MB':>11}")
    for engine in engines:
        for table in tables:
            full = None
            for mode in modes:
                runs = [run_once(engine, table, mode, args.instance) for _ in range(args.repeats)]
                best = min(runs, key=lambda r: r["command_s"])
                expected = ROWS[table] - (1 if mode == "incremental" else 0)
                assert best["rows"] == expected, f"{engine}/{table}/{mode}: {best['rows']} rows, expected {expected}"
                full = best if mode == "full" else full
                wall_x, cpu_x = (f"{best[k] / full[k]:6.2f}" if full else "     -" for k in ("command_s", "cpu_s"))
                print(f"{engine:6} {table:6} {mode:11} {best['rows']:>9,} {best['step_s']:>7.2f} "
                      f"{best['command_s']:>9.2f} {wall_x} {best['cpu_s']:>6.2f} {cpu_x} "
                      f"{best['rows'] / best['command_s']:>10,.0f} {best['output_mb']:>7.1f} "
                      f"{max(r['peak_rss_mb'] for r in runs):>11}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
