#!/usr/bin/env python3
"""What Dagster itself costs, beside what rivet-dagster adds, on the same machine and the same kind of instance:

* per command: `dagster asset materialize` of an asset that does nothing (on the in-process executor, as an
  export's runs, and ending as a process that loaded rivet_dagster ends: `rivet_dagster/process_exit.py`), then
  the same command exporting one PostgreSQL row to local Parquet with rivet-dagster, in turns. Every export pays
  the first; the difference is rivet-dagster's own fixed cost.
* per chunk: one run over N dynamic partitions (a backfill's range, a chunk run) of an asset that yields one
  AssetMaterialization per partition, carrying the metadata keys a rivet-dagster chunk carries
  (`defs/metadata.py`), and does nothing else. The run before its step records what it plans (on SQLite storage,
  one event per partition; on PostgreSQL storage, one for the range); the step's time is the events' alone.

    python benchmarks/bench_dagster_floor.py [--repeats 5] [--events 1000] [--instance sqlite|postgres]

BENCH_PG_URL names the PostgreSQL database (default postgresql://bench:bench@127.0.0.1:5432/bench): the one-row
export reads it, and `--instance postgres` keeps Dagster's storage in a schema of its own there.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_export import BIN, URLS, dagster_home, timed

NOTHING = """import atexit
import gc

import dagster as dg

atexit.register(gc.freeze)  # as rivet_dagster's process_exit does, so only the export itself differs


@dg.asset
def nothing() -> None:
    pass


defs = dg.Definitions(assets=[nothing], executor=dg.in_process_executor)
"""

ONE_ROW = """source:
  type: postgres
  url_env: BENCH_SOURCE_URL
exports:
  - name: one
    query: "SELECT 1 AS id"
    format: parquet
    destination: {{type: local, path: "{out}"}}
"""

EVENTS = """import json, sys, time
import dagster as dg

keys = [f"{i:012d}-{i:012d}" for i in range(1, int(sys.argv[1]) + 1)]
chunks = dg.DynamicPartitionsDefinition(name="chunks")
columns = dg.TableSchema(columns=[dg.TableColumn(f"c{i}", "int64") for i in range(5)])
step = {}


@dg.multi_asset(specs=[dg.AssetSpec("chunks", partitions_def=chunks, skippable=True)])
def chunks_asset(context: dg.AssetExecutionContext):
    started = time.perf_counter()
    for key in context.partition_keys:
        yield dg.AssetMaterialization(asset_key="chunks", partition=key, metadata={
            "dagster/row_count": 5000, "dagster/partition_row_count": 5000, "dagster/column_schema": columns,
            "dagster/table_name": "narrow", "dagster/storage_kind": "local", "rivet/status": "success",
            "rivet/bytes": 70000, "rivet/extract_seconds": 0.01, "rivet/rows_per_second": 500000,
            "rivet/peak_rss_mb": 250, "rivet/tuning_profile": "fast", "rivet/source_retries": 0,
            "dagster/uri": dg.MetadataValue.path(f"/out/narrow_{key}.parquet"), "rivet/destination": "local /out",
            "rivet/uris": dg.MetadataValue.json([f"file:///out/narrow_{key}.parquet"]),
            "rivet/manifests": dg.MetadataValue.json([]), "rivet/files": 1, "rivet/duration_seconds": 0.02,
            "rivet/destination_retries": 0, "rivet/schema_changed": False})
    step["seconds"] = time.perf_counter() - started


with dg.DagsterInstance.get() as instance:
    instance.add_dynamic_partitions("chunks", keys)
    job = dg.Definitions(assets=[chunks_asset], executor=dg.in_process_executor).get_implicit_global_asset_job_def()
    started = time.perf_counter()
    result = job.execute_in_process(instance=instance, tags={"dagster/asset_partition_range_start": keys[0],
                                                             "dagster/asset_partition_range_end": keys[-1]})
    run_seconds = time.perf_counter() - started
    assert result.success
    recorded = instance.get_materialized_partitions(dg.AssetKey("chunks"))
    assert len(recorded) == len(keys), f"{len(recorded)} of {len(keys)} partitions recorded"
print(json.dumps({"run_s": run_seconds, "step_s": step["seconds"]}))
"""


def commands(work: Path, env: dict, repeats: int) -> None:
    (work / "nothing.py").write_text(NOTHING)
    (work / "rivet.yaml").write_text(ONE_ROW.format(out=work / "out"))
    env = {**os.environ, **env, "BENCH_SOURCE_URL": URLS["pg"], "RIVET_CONFIG": str(work / "rivet.yaml")}
    contenders = {
        "Dagster, an asset that does nothing": [str(BIN / "dagster"), "asset", "materialize", "-f",
                                                str(work / "nothing.py"), "--select", "nothing"],
        "rivet-dagster, one row exported": [str(BIN / "dagster"), "asset", "materialize", "-m",
                                            "rivet_dagster.definitions", "--select", "one"]}
    figures = {name: [] for name in contenders}
    for _ in range(repeats):  # in turns, so a machine's drift falls on both
        for name, command in contenders.items():
            figures[name].append(timed(command, env, work / "commands.log"))
    print(f"`dagster asset materialize`, median of {repeats}:   wall s   CPU s   peak RSS MB")
    medians = {}
    for name, runs in figures.items():
        medians[name] = [statistics.median(run[i] for run in runs) for i in range(3)]
        print(f"  {name:<42} {medians[name][0]:6.2f}  {medians[name][1]:6.2f}  {medians[name][2]:11.0f}")
    floor, ours = medians.values()
    print(f"  {'rivet-dagster above Dagster':<42} {ours[0] - floor[0]:6.2f}  {ours[1] - floor[1]:6.2f}")


def events(work: Path, env: dict, count: int) -> None:
    (work / "events.py").write_text(EVENTS)
    result = subprocess.run([sys.executable, str(work / "events.py"), str(count)], env={**os.environ, **env},
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"one run over {count:,} partitions, one materialization each:")
    print(f"  the whole run {figures['run_s']:7.2f} s  ({1000 * figures['run_s'] / count:5.1f} ms a partition)")
    print(f"  its step      {figures['step_s']:7.2f} s  ({1000 * figures['step_s'] / count:5.1f} ms a "
          f"materialization)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="runs of each command, in turns")
    parser.add_argument("--events", type=int, default=1000, help="partitions of the run")
    parser.add_argument("--instance", choices=["sqlite", "postgres"], default="sqlite",
                        help="Dagster's storage: its default SQLite files, or deploy/dagster.yaml on PostgreSQL")
    args = parser.parse_args()
    print(f"Dagster's storage: {args.instance}")
    for part, argument in ((commands, args.repeats), (events, args.events)):
        work = Path(tempfile.mkdtemp(prefix="bench_dagster_floor_"))
        try:
            with dagster_home(work, args.instance) as env:
                part(work, env, argument)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
