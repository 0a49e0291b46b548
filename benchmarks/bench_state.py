#!/usr/bin/env python3
"""The state store at scale: a chunk plan of N chunks (default 20,000) saved, its statuses listed, chunks marked
one by one, the plan reset, and one run's claims on every chunk taken, renewed and released, on the SQLite file
and on a PostgreSQL database side by side; and the same plan's partition keys added to, listed from and removed
from a Dagster instance (what `register_plan` / `reset_plan` do beside the store), then those two public calls
themselves through a changed plan.

    python benchmarks/bench_state.py [--chunks 20000] [--updates 1000] [--dagster]

BENCH_STATE_URL names the PostgreSQL database (default postgresql://postgres@127.0.0.1:5432/test); the script
works in schemas of its own and drops them. `--dagster` times the partition keys on fresh instances with SQLite
storage and with PostgreSQL storage (dagster-postgres; removal is one call per key in Dagster's public API).
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

import dagster as dg
import psycopg
import yaml

from rivet_dagster.config import load_config
from rivet_dagster.config.models import RivetConfig
from rivet_dagster.modes.chunk_plan import register_plan, reset_plan
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.state.store import StateStore, close_connections, store_for


def timed(label: str, call) -> None:
    start = time.perf_counter()
    result = call()
    print(f"  {label:<34} {time.perf_counter() - start:8.3f} s" + (f"  ({result})" if result is not None else ""))


def bench_store(store: StateStore, chunks: int, updates: int) -> None:
    plan = [(f"{i:012d}-{i:012d}", i, i) for i in range(chunks)]
    timed(f"save_chunk_plan ({chunks:,} chunks)", lambda: store.save_chunk_plan("bench", "plan", plan))
    timed("chunk_tasks (list statuses)", lambda: len(store.chunk_tasks("bench")))
    timed(f"chunk_completed x {updates:,}", lambda: [store.chunk_completed("bench", key, 1, [key])
                                                    for key, _, _ in plan[:updates]] and None)
    timed("reset_chunks", lambda: store.reset_chunks("bench"))
    keys = [key for key, _, _ in plan]
    timed(f"take_claims ({chunks:,}, one run)", lambda: len(store.take_claims("bench", keys, "run", "me",
                                                                             lambda run, owner: True)[0]))
    timed("renew_claims (the heartbeat)", lambda: len(store.renew_claims("bench", "run", "me", keys)) or None)
    timed("release_claims", lambda: store.release_claims("bench", "run", "me", keys))


def bench_dagster(chunks: int, storage: str = "") -> None:
    keys = [f"{i:012d}-{i:012d}" for i in range(chunks)]
    with tempfile.TemporaryDirectory() as home:
        Path(home, "dagster.yaml").write_text("telemetry:\n  enabled: false\n" + storage)
        with dg.DagsterInstance.from_config(home) as instance:
            timed(f"add_dynamic_partitions ({chunks:,})", lambda: instance.add_dynamic_partitions("bench", keys))
            timed("get_dynamic_partitions", lambda: len(instance.get_dynamic_partitions("bench")))
            sample = keys[:500]
            start = time.perf_counter()
            for key in sample:
                instance.delete_dynamic_partition("bench", key)
            each = (time.perf_counter() - start) / len(sample)
            print(f"  {'delete_dynamic_partition (each)':<34} {each * 1000:8.3f} ms  (x {chunks:,} = "
                  f"{each * chunks:.0f} s)")
            bench_plan_change(instance, chunks, Path(home))


def bench_plan_change(instance: dg.DagsterInstance, chunks: int, folder: Path) -> None:
    """The public calls a changed plan goes through, on a chunked export of `chunks` chunks (one row each, an
    SQLite source): plan it, change its query, reset it, plan it again."""
    with sqlite3.connect(folder / "source.db") as conn:
        conn.execute(f"CREATE TABLE items AS WITH RECURSIVE n(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM n "
                     f"WHERE id < {chunks}) SELECT id FROM n")

    def config(query: str) -> RivetConfig:
        path = folder / "rivet.yaml"
        path.write_text(yaml.safe_dump({"source": {"type": "sqlite", "database": "source.db"}, "exports": [{
            "name": "bench", "query": query, "mode": "chunked", "chunk_column": "id", "chunk_size": 1,
            "chunk_checkpoint": True, "format": "parquet", "destination": {"type": "local", "path": "out"}}],
            "state": {"path": "state.db"}}))
        return load_config(path)

    for query, changed in [("SELECT id FROM items", ""), ("SELECT id FROM items WHERE id > 0", " (changed plan)")]:
        loaded = config(query)
        state, source = store_for(loaded), SourceDatabase(loaded.source, loaded.base_dir)
        if changed:
            timed(f"reset_plan{changed}", lambda: reset_plan(instance, loaded, "bench", state))
        timed(f"register_plan{changed}", lambda: len(register_plan(instance, loaded, loaded.exports[0], source,
                                                                      state)))
        timed("chunk_tasks (list statuses)", lambda: len(state.chunk_tasks("bench")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--updates", type=int, default=1_000)
    parser.add_argument("--dagster", action="store_true")
    args = parser.parse_args()
    url = os.environ.get("BENCH_STATE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    schema = f"bench_state_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        with tempfile.TemporaryDirectory() as folder:
            for name, store in [("sqlite", StateStore(path=str(Path(folder) / "state.db"))),
                                ("postgres", StateStore(url=f"{url}?options=-csearch_path%3D{schema}"))]:
                print(f"{name}:")
                store.check()
                bench_store(store, args.chunks, args.updates)
        close_connections()
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
    if args.dagster:
        print("dagster instance (SQLite storage):")
        bench_dagster(args.chunks)
        schema = f"bench_dagster_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"CREATE SCHEMA {schema}")
        try:
            print("dagster instance (PostgreSQL storage, as deploy/dagster.yaml):")
            bench_dagster(args.chunks, "storage:\n  postgres:\n    postgres_url: " + url.replace(
                "postgresql://", "postgresql+psycopg2://", 1) + f"?options=-csearch_path%3D{schema}\n")
        finally:
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
