"""`state show | reset | files | chunks | reset-chunks | prune`: read and repair the state store beside the config,
and remove what retention (`keep_last`) lets go."""
from __future__ import annotations

import argparse
import logging
import os
from collections import Counter

import dagster as dg

from rivet_dagster.cli.common import (CliError, add_export_argument, add_last_argument, config_flags, config_from,
                                      named_export, recorded, state_store)
from rivet_dagster.cli.tables import print_json, print_records, print_table
from rivet_dagster.commit import protocol
from rivet_dagster.config import ExportConfig
from rivet_dagster.config.errors import KeyedError
from rivet_dagster.errors import first_line
from rivet_dagster.modes import mode_of
from rivet_dagster.modes.chunk_plan import partitions_name, reset_plan
from rivet_dagster.state.cursors import display
from rivet_dagster.state.store import StateStore, store_for


def register(subparsers) -> None:
    state = subparsers.add_parser("state", help="show or reset what the state store remembers per export",
                                  description="Read or repair the state store (.rivet_state.db beside the config, or the "
                                              "database of the config's state: or $RIVET_STATE_URL).")
    verbs = state.add_subparsers(dest="state_verb", required=True, metavar="VERB")

    def verb(name: str, handler, help: str, export_help: str | None = None):
        parser = verbs.add_parser(name, parents=[config_flags()], help=help)
        add_export_argument(parser, required=export_help is not None, help=export_help or "only this export")
        parser.set_defaults(handler=handler)
        return parser

    verb("show", show_state, "mode, cursor, last run, pending window and chunk progress per export") \
        .add_argument("--json", action="store_true", help="print JSON instead of a table")
    verb("reset", reset_state, "forget an export's cursor and pending window (the next run starts from the first "
                               "row; files and metrics stay)", export_help="the export to reset")
    files = verb("files", show_files, "the committed files recorded in the manifest, newest first")
    add_last_argument(files, 50, "files")
    files.add_argument("--json", action="store_true", help="print JSON instead of a table")
    verb("chunks", show_chunks, "the chunk checkpoints of a chunked export", export_help="the chunked export") \
        .add_argument("--json", action="store_true", help="print JSON instead of a table")
    verb("reset-chunks", reset_chunk_state, "forget a chunked export's plan and checkpoints, and its partition keys "
                                            "in $DAGSTER_HOME (files stay)", export_help="the chunked export")
    prune = verb("prune", prune_files, "remove the file sets older than the latest N of each export with keep_last "
                                       "(or of --export with --keep-last N), as a run does after its commit")
    prune.add_argument("--keep-last", type=int, metavar="N", help="keep this many instead of the export's keep_last")
    prune.add_argument("--dry-run", action="store_true", help="list what would be removed; remove nothing")


def show_state(args: argparse.Namespace) -> int:
    config = config_from(args)
    store = state_store(config)
    exports = [named_export(config, args.export)] if args.export else config.exports
    summaries = [export_summary(export, store) for export in exports]
    if args.json:
        print_json(summaries)
        return 0
    print_table(["EXPORT", "MODE", "CURSOR", "LAST RUN", "STATUS", "PENDING WINDOW", "CHUNKS"],
                [[s["export"], s["mode"], s["cursor"], s["last_run_at"], s["last_status"], s["pending_window"],
                  None if s["chunks_total"] is None else f"{s['chunks_completed']}/{s['chunks_total']}"]
                 for s in summaries])
    return 0


def export_summary(export: ExportConfig, store: StateStore | None) -> dict:
    """One export's state: the cursor as Rivet displays it, the last recorded run, the window a crashed run left
    open, and for chunked exports how many chunks are completed."""
    name = export.name
    summary = {"export": name, "mode": export.mode, "cursor": None, "last_run_at": None, "last_status": None,
               "pending_window": None, "chunks_completed": None, "chunks_total": None}
    if store is None:
        return summary
    cursor = store.cursor(name)
    summary["cursor"] = None if cursor is None else display(cursor)
    last = store.metrics(name, last=1)
    if last:
        summary["last_run_at"], summary["last_status"] = last[0]["run_at"], last[0]["status"]
    window = store.pending_window(name)
    if window is not None:
        after = "-inf" if window.after is None else display(window.after)
        summary["pending_window"] = f"({after}, {display(window.up_to)}]"
    if mode_of(export).has_chunks:
        statuses = Counter(task["status"] for task in store.chunk_tasks(name))
        summary["chunks_completed"], summary["chunks_total"] = statuses["completed"], sum(statuses.values())
    return summary


def reset_state(args: argparse.Namespace) -> int:
    config = config_from(args)
    named_export(config, args.export)
    store = state_store(config)
    if store is None:
        print(f"No state recorded yet ({store_for(config).location} does not exist); nothing to reset.")
        return 0
    cursor, window = store.reset_cursor(args.export)
    forgot = []
    if cursor is not None:
        forgot.append(f"cursor {display(cursor)}")
    if window is not None:
        forgot.append(f"pending window up to {display(window.up_to)}")
    print(f"State reset for export '{args.export}': "
          + (f"forgot {' and '.join(forgot)}." if forgot else "no cursor was recorded.")
          + " The next run starts from the first row.")
    return 0


def show_files(args: argparse.Namespace) -> int:
    rows = recorded(args, lambda store, export, last: store.files(export, last=last))
    print_records(rows, args.json, "No files recorded yet.",
                  ["RUN ID", "EXPORT", "PARTITION", "FILE", "ROWS", "BYTES", "CREATED"],
                  lambda r: [r["run_id"][:8], r["export_name"], r["partition_key"], r["file_name"], r["row_count"],
                             r["bytes"], r["created_at"]])
    return 0


def show_chunks(args: argparse.Namespace) -> int:
    config = config_from(args)
    export = named_export(config, args.export)
    if not mode_of(export).has_chunks:
        raise CliError(f"export '{export.name}' is mode: {export.mode}; only chunked exports have chunks")
    store = state_store(config)
    tasks = store.chunk_tasks(export.name) if store else []
    held = {c["scope"]: c for c in store.claims(export.name) if c["left_ms"] > 0} if store else {}
    for task in tasks:  # the run exporting it now, on whichever host (its claim's lease runs)
        claim = held.get(task["chunk_key"])
        task["held_by"] = None if claim is None else f"run {claim['run_id'][:8]} on {claim['owner'].split(':')[0]}"
    if args.json:
        print_json(tasks)
        return 0
    if not tasks:
        print(f"No chunk checkpoints recorded for export '{export.name}' (chunk_checkpoint: true records them).")
        return 0
    statuses = Counter(task["status"] for task in tasks)
    print(f"{export.name}: {statuses['completed']}/{len(tasks)} chunks completed"
          + "".join(f", {statuses[s]} {s}" for s in ("running", "failed", "pending") if statuses[s]))
    print_table(["CHUNK", "STATUS", "START", "END", "ATTEMPTS", "ROWS", "UPDATED", "HELD BY", "ERROR"],
                [[t["chunk_key"], t["status"], t["start_key"], t["end_key"], t["attempts"], t["rows_written"],
                  t["updated_at"], t["held_by"], first_line(t["last_error"])] for t in tasks])
    return 0


def reset_chunk_state(args: argparse.Namespace) -> int:
    """With DAGSTER_HOME set, the chunk partition keys go too (`reset_plan`), so a changed plan can start cleanly;
    without it only the checkpoints go, and the planner would add new keys beside the old ones."""
    config = config_from(args)
    export = named_export(config, args.export)
    store = store_for(config)
    removed = len(store.chunk_tasks(export.name))
    if os.environ.get("DAGSTER_HOME"):
        with dg.DagsterInstance.get() as instance:
            keys = instance.get_dynamic_partitions(partitions_name(config, export))
            reset_plan(instance, config, export.name, store)
        print(f"Removed {removed} chunk checkpoint(s) and {len(keys)} partition key(s) for export '{export.name}'.")
    else:
        store.reset_chunks(export.name)
        print(f"Removed {removed} chunk checkpoint(s) for export '{export.name}'. DAGSTER_HOME is not set, so "
              f"the partition keys of {partitions_name(config, export)} stay.")
    return 0


def prune_files(args: argparse.Namespace) -> int:
    """Retention on demand: the same step, in the same order, as the one a run takes after its commit."""
    config = config_from(args)
    exports = [named_export(config, args.export)] if args.export else [e for e in config.exports if e.keep_last]
    if not exports:
        raise CliError(f"no export in {config.config_file} sets keep_last; name one with --export and --keep-last N")
    store = state_store(config)
    rows = []
    for export in exports:
        keep_last = retained(export, args.keep_last)
        removed = protocol.prune(config, export, store, keep_last, logging.getLogger("rivet-dagster"),
                                 args.dry_run) if store else []
        rows.append([export.name, keep_last, len(removed), sum(map(len, removed))])
    print_table(["EXPORT", "KEEP LAST", "FILE SETS " + ("TO REMOVE" if args.dry_run else "REMOVED"), "FILES"], rows)
    return 0


def retained(export: ExportConfig, keep_last: int | None) -> int:
    """`--keep-last`, else the export's keep_last, held to the config's rules for it."""
    keep_last = keep_last if keep_last is not None else export.keep_last
    if keep_last is None:
        raise CliError(f"export '{export.name}' sets no keep_last; give --keep-last N")
    if keep_last < 1:
        raise CliError(f"--keep-last must be 1 or more (got {keep_last}); the latest file set always stays")
    try:
        export.model_copy(update={"keep_last": keep_last}).check_retention()
    except KeyedError as exc:
        raise CliError(f"export '{export.name}': {exc}") from None
    return keep_last
