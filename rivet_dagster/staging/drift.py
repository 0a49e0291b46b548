"""Schema drift: this run's columns against the export's last committed schema. Column order is ignored.
`on_schema_drift: warn` (default) reports it in the metadata and the log; `fail` stops the run before
anything is committed."""
from __future__ import annotations


def schema_drift(previous: list[dict] | None, current: list[dict]) -> dict | None:
    """{added, removed, retyped} or None when nothing changed (or nothing was recorded before)."""
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
    return drift if any(drift.values()) else None


def describe(drift: dict) -> str:
    return "; ".join(f"{kind}: {', '.join(items)}" for kind, items in drift.items() if items)
