"""`metrics`: the recorded runs of each export (status, rows, files, bytes, duration, peak RSS, retries,
validated, schema change, error), as Rivet's."""
from __future__ import annotations

import argparse

from rivet_dagster.cli.common import add_export_argument, add_last_argument, config_flags, recorded
from rivet_dagster.cli.tables import print_records
from rivet_dagster.errors import first_line


def register(subparsers) -> None:
    parser = subparsers.add_parser("metrics", parents=[config_flags()], help="recorded runs per export, newest first",
                                   description="Show the run metrics recorded in the state store.")
    add_export_argument(parser)
    add_last_argument(parser, 20, "runs")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=show_metrics)


def show_metrics(args: argparse.Namespace) -> int:
    rows = recorded(args, lambda store, export, last: store.metrics(export, last=last))
    print_records(rows, args.json, "No metrics recorded yet.",
                  ["RUN AT", "EXPORT", "STATUS", "ROWS", "FILES", "BYTES", "DURATION", "RSS", "RETRIES", "VALIDATED",
                   "SCHEMA", "ERROR"],
                  lambda r: [r["run_at"], r["export_name"], r["status"], r["total_rows"], r["files_produced"],
                             r["bytes_written"], seconds(r["duration_ms"]), f"{r['peak_rss_mb'] or 0}MB", r["retries"],
                             {None: "-", 1: "pass", 0: "FAIL"}[r["validated"]],
                             "CHANGED" if r["schema_changed"] else "ok", first_line(r["error_message"])])
    return 0


def seconds(duration_ms: int) -> str:
    return f"{duration_ms}ms" if duration_ms < 1000 else f"{duration_ms / 1000:.1f}s"
