"""What one run of an export reads, and what its staged files stand for.

The mode answers (`Mode.scope`); the export step stages it without knowing which mode asked.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from dagster import TimeWindow

from rivet_dagster.source.queries import ReadPlan
from rivet_dagster.state.cursors import Window


@dataclass
class ReadScope:
    plan: ReadPlan
    time_window: TimeWindow | None = None   # [start, end) the files hold (end None: an open trailing window)
    replaces: tuple[str, ...] = ()          # committed files this materialization supersedes, removed after it
    checkpoint: bool = False                # mark the chunk completed once its files are committed
    skip_when_empty: bool = False           # an empty run is recorded as `skipped`, not `success`

    def observe(self, batch: pa.RecordBatch) -> None:
        """Each batch, as it is staged (a cursor's high-water mark)."""

    def window(self, file_stem: str) -> Window | None:
        """The cursor window the staged files hold, opened before the commit and closed after it."""
        return None


def file_key(partition_key: str) -> str:
    """A partition key as it appears in file names (`2024-01-01-13:00` -> `2024-01-01-1300`)."""
    return partition_key.replace(":", "")
