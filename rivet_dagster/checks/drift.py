"""Schema drift: this run's columns against the export's last committed schema: added, removed, retyped, and
reordered (the columns kept, in another order: what breaks a positional reader of CSV or `SELECT *`).
`on_schema_drift: warn` (default) reports it in the metadata and the log; `fail` stops the run before
anything is committed."""
from __future__ import annotations


def schema_drift(previous: list[dict] | None, current: list[dict]) -> dict | None:
    """{added, removed, retyped, reordered} or None when nothing changed (or nothing was recorded before)."""
    if previous is None:
        return None
    before = {c["name"]: c["type"] for c in previous}
    now = {c["name"]: c["type"] for c in current}
    drift = {
        "added": [f"{name} ({now[name]})" for name in now if name not in before],
        "removed": [f"{name} ({before[name]})" for name in before if name not in now],
        "retyped": [f"{name}: {before[name]} -> {now[name]}" for name in now if name in before
                    and before[name] != now[name]],
    }
    kept_before, kept_now = [name for name in before if name in now], [name for name in now if name in before]
    drift["reordered"] = [f"{', '.join(kept_before)} -> {', '.join(kept_now)}"] if kept_before != kept_now else []
    return drift if any(drift.values()) else None


def describe(drift: dict) -> str:
    return "; ".join(f"{kind}: {', '.join(items)}" for kind, items in drift.items() if items)
