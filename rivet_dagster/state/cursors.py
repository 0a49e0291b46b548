"""Cursor values kept with their type, so a stored cursor is bound back into SQL exactly as it was read.

Stored as JSON `{"type": ..., "value": ...}` (the text form alone would lose int vs text, naive vs UTC).
"""
from __future__ import annotations

import datetime
import decimal
import json
from dataclasses import dataclass
from typing import Any

from rivet_dagster.config.errors import ConfigError

_DECODERS = {
    "int": int, "float": float, "decimal": decimal.Decimal, "str": str,
    "date": datetime.date.fromisoformat, "datetime": datetime.datetime.fromisoformat,
}


def encode(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal, str, datetime.date)):
        raise ConfigError(f"a cursor column must hold numbers, text, dates or timestamps, not {type(value).__name__}")
    kind = {int: "int", float: "float", decimal.Decimal: "decimal", str: "str"}.get(type(value))
    if kind is None:
        kind = "datetime" if isinstance(value, datetime.datetime) else "date"
        return json.dumps({"type": kind, "value": value.isoformat()})
    return json.dumps({"type": kind, "value": str(value) if kind != "float" else repr(value)})


def decode(text: str | None) -> Any:
    if text is None:
        return None
    data = json.loads(text)
    return _DECODERS[data["type"]](data["value"])


def display(value: Any) -> str:
    """Rivet's rendering in `last_cursor_value`: ISO timestamps with microseconds, numbers as written."""
    if isinstance(value, datetime.datetime):
        return value.isoformat(timespec="microseconds")
    return str(value)


@dataclass(frozen=True)
class Window:
    """Rows with cursor in (after, up_to]: what one incremental run exports and commits."""
    after: Any | None
    up_to: Any
    file_stem: str
    files: tuple[str, ...]
