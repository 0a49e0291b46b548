"""Rendering rows for a terminal (aligned columns) or for scripts (JSON)."""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Columns padded to their widest cell, two spaces apart; None shows as `-`."""
    cells = [[str(h) for h in headers]] + [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def print_records(rows: list[dict], as_json: bool, none: str, headers: Sequence[str],
                  cells: Callable[[dict], Sequence[object]]) -> None:
    """The records as JSON, a line saying there are none, or an aligned table of `cells(record)`."""
    if as_json:
        print_json(rows)
    elif not rows:
        print(none)
    else:
        print_table(headers, [cells(r) for r in rows])


def print_json(data: object) -> None:
    print(json.dumps(data, indent=2, default=str))


