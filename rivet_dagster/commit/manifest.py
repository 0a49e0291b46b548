"""The per-materialization manifest, written after every part: readers trust a file set only when its
manifest is there. Named `_<stem>_manifest.json` beside the files: the leading `_` keeps it out of
pyarrow / Spark / Hive listings of the folder."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from dagster import TimeWindow

from rivet_dagster.staging.staged import StagedExport
from rivet_dagster.state.cursors import display, encode

FORMAT_VERSION = 1


def manifest_name(file_stem: str) -> str:
    return f"_{file_stem}_manifest.json"


def is_manifest_name(name: str) -> bool:
    return name.startswith("_") and name.endswith("_manifest.json")


def manifest_document(staged: StagedExport, uris: list[str]) -> bytes:
    window = staged.window
    return json.dumps({
        "format_version": FORMAT_VERSION,
        "export": staged.export_name,
        "run_id": staged.run_id,
        "partition": staged.partition_key,
        "mode": staged.mode,
        "format": staged.format,
        "compression": staged.compression,
        "committed_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "rows": staged.rows,
        "files": [{"name": name, "uri": uri, "rows": part.rows, "bytes": part.bytes, "sha256": part.sha256}
                  for name, uri, part in zip(staged.file_names, uris, staged.parts)],
        "schema": staged.schema_columns(),
        "cursor_window": None if window is None else {
            "column": staged.cursor_column, "after": None if window.after is None else display(window.after),
            "up_to": display(window.up_to),
            "typed": {"after": None if window.after is None else json.loads(encode(window.after)),
                      "up_to": json.loads(encode(window.up_to))}},
        "time_window": None if staged.time_window is None else {
            "start": staged.time_window.start.isoformat(),
            "end": staged.time_window.end.isoformat() if staged.time_window.end else None},
    }, indent=2).encode()


def time_window_of(document: dict) -> TimeWindow | None:
    """The [start, end) a time_window manifest's files hold (end None: Rivet's open trailing window)."""
    bounds = document.get("time_window")
    if not bounds:
        return None
    return TimeWindow(datetime.fromisoformat(bounds["start"]),
                      datetime.fromisoformat(bounds["end"]) if bounds["end"] else None)
