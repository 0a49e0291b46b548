"""Partitions of an export: time windows for `mode: time_window` with a `partitioning:` block.

The backfill policy is single-run: a backfill (UI) or `--partition-range` (CLI) runs the whole range in one
run, which writes one file set per window; materializing one partition is one run for that window.
"""
import dagster as dg

from ..config.models import ExportConfig

_DEFINITIONS = {"hourly": dg.HourlyPartitionsDefinition, "daily": dg.DailyPartitionsDefinition,
                "weekly": dg.WeeklyPartitionsDefinition, "monthly": dg.MonthlyPartitionsDefinition}


def partitions_for(export: ExportConfig) -> dg.TimeWindowPartitionsDefinition | None:
    p = export.partitioning
    if p is None:
        return None
    return _DEFINITIONS[p.granularity](start_date=p.start, timezone=p.timezone, end_offset=p.end_offset)


def backfill_policy_for(export: ExportConfig) -> dg.BackfillPolicy | None:
    return dg.BackfillPolicy.single_run() if export.partitioning else None


def file_key(partition_key: str) -> str:
    """A partition key as it appears in file names (`2024-01-01-13:00` -> `2024-01-01-1300`)."""
    return partition_key.replace(":", "")
