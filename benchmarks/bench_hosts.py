#!/usr/bin/env python3
"""A chunked export across hosts: a PostgreSQL table of N rows (default 5,000,000) in chunks of 5,000, exported
by one host, then by two hosts sharing the work, as deploy/ sets them up: one Dagster instance on PostgreSQL, one
state store on PostgreSQL, one destination folder. Hosts are UTS namespaces (`unshare -u`, root) on this machine;
each runs `dagster asset materialize --partition-range` over its share of the chunks (`parallel: 1` unless told).

Prints the wall time of each setup, the rows exported exactly once (checked from the files the manifests name),
and the most source sessions seen at once in pg_stat_activity (sampled every 50 ms).

    python benchmarks/bench_hosts.py [--rows 5000000] [--chunk-size 5000] [--parallel 1] [--max-sessions N]

BENCH_HOSTS_URL names the PostgreSQL database (default postgresql://postgres@127.0.0.1:5432/test); the script
works in schemas of its own and drops them.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import dagster as dg
import psycopg
import pyarrow.parquet as pq
import yaml

from rivet_dagster.config import load_config
from rivet_dagster.modes.chunk_plan import register_plan
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.state.store import close_connections, store_for

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent


class SessionSampler(threading.Thread):
    """The most sessions at once that the hosts opened to read the benchmark's table, from every host."""

    def __init__(self, url: str, table: str):
        super().__init__(daemon=True)
        self.url, self.table, self.most, self.done = url, table, 0, threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            started = conn.execute("SELECT now()").fetchone()[0]  # sessions the hosts open, idle ones included
            while not self.done.is_set():
                count = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s AND backend_start >= "
                                     "%s AND pid <> pg_backend_pid()", (f"%FROM {self.table}%", started)).fetchone()[0]
                self.most = max(self.most, count)
                time.sleep(0.05)


def run_hosts(folder: Path, url: str, table: str, hosts: int, chunk_size: int, rows: int, parallel: int,
              max_sessions: int | None) -> None:
    schemas = [f"bench_hosts_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("dagster", "state")]
    with psycopg.connect(url, autocommit=True) as admin:
        for schema in schemas:
            admin.execute(f"CREATE SCHEMA {schema}")
    try:
        config = folder / "rivet.yaml"
        config.write_text(yaml.safe_dump({
            "source": {"type": "postgres", "url": url, **({"max_sessions": max_sessions} if max_sessions else {})},
            "exports": [{"name": table, "query": f"SELECT * FROM {table}", "mode": "chunked", "chunk_column": "id",
                         "chunk_size": chunk_size, "parallel": parallel, "format": "parquet",
                         "destination": {"type": "local", "path": "out"}}],
            "state": {"url_env": "BENCH_STATE_URL"}}))
        env = {**os.environ, "RIVET_CONFIG": str(config),
               "DAGSTER_PG_URL": url.replace("postgresql://", "postgresql+psycopg2://", 1)
               + f"?options=-csearch_path%3D{schemas[0]}",
               "BENCH_STATE_URL": f"{url}?options=-csearch_path%3D{schemas[1]}"}
        os.environ.update({k: env[k] for k in ("DAGSTER_PG_URL", "BENCH_STATE_URL")})
        homes = []
        for n in range(hosts):
            homes.append(folder / f"home_{n}")
            homes[-1].mkdir()
            (homes[-1] / "dagster.yaml").write_text((ROOT / "deploy" / "dagster.yaml").read_text())
        loaded = load_config(config)
        with dg.DagsterInstance.from_config(str(homes[0])) as instance:
            keys = register_plan(instance, loaded, loaded.exports[0], SourceDatabase(loaded.source, loaded.base_dir),
                                 store_for(loaded))
        shares = [keys[n * len(keys) // hosts:(n + 1) * len(keys) // hosts] for n in range(hosts)]
        sampler = SessionSampler(url, table)
        sampler.start()
        started = time.monotonic()
        commands = [subprocess.Popen(
            ["unshare", "-u", "sh", "-c", f'hostname bench-host-{n} && exec "$@"', "sh", str(BIN / "dagster"), "asset",
             "materialize", "-m", "rivet_dagster.definitions", "--select", table, "--partition-range",
             f"{share[0]}...{share[-1]}"], env={**env, "DAGSTER_HOME": str(homes[n])}, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True) for n, share in enumerate(shares)]
        errors = [command.communicate()[1] for command in commands]
        seconds = time.monotonic() - started
        sampler.done.set()
        failed = [error[-2000:] for command, error in zip(commands, errors) if command.returncode != 0]
        if failed:
            raise SystemExit(f"a host failed:\n{failed[0]}")
        out = folder / "out"
        names = [f["name"] for manifest in out.glob("_*_manifest.json")
                 for f in json.loads(manifest.read_text())["files"]]
        ids = [i for name in names for i in pq.read_table(out / name, columns=["id"]).column("id").to_pylist()]
        once = len(ids) == len(set(ids)) == rows
        print(f"  {hosts} host(s): {seconds:7.2f} s, {rows / seconds:,.0f} rows/s; {len(keys)} chunks; every id "
              f"{'exactly once' if once else 'NOT exactly once'}; at most {sampler.most} source session(s) at once "
              f"(parallel {parallel} per host, source.max_sessions {max_sessions or 'unset'})")
    finally:
        close_connections()
        with psycopg.connect(url, autocommit=True) as admin:
            for schema in schemas:
                admin.execute(f"DROP SCHEMA {schema} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--chunk-size", type=int, default=5_000)
    parser.add_argument("--parallel", type=int, default=1, help="chunk workers per host")
    parser.add_argument("--max-sessions", type=int, help="source.max_sessions (default: unset)")
    args = parser.parse_args()
    url = os.environ.get("BENCH_HOSTS_URL", "postgresql://postgres@127.0.0.1:5432/test")
    table = f"bench_hosts_{args.rows}"
    with psycopg.connect(url, autocommit=True) as admin:
        if admin.execute("SELECT to_regclass(%s) IS NULL", (table,)).fetchone()[0]:
            admin.execute(f"CREATE TABLE {table} AS SELECT g AS id, md5(g::text) AS label, g * 0.5 AS amount, "
                          f"timestamp '2024-01-01' + g * interval '1 second' AS created_at "
                          f"FROM generate_series(1, {args.rows}) g")
            admin.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (id)")
    for hosts in (1, 2):
        with tempfile.TemporaryDirectory() as folder:
            run_hosts(Path(folder), url, table, hosts, args.chunk_size, args.rows, args.parallel, args.max_sessions)


if __name__ == "__main__":
    main()
