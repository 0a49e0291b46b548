"""Partitions of an export: time windows for `mode: time_window` with a `partitioning:` block, chunk
ranges (dynamic partitions) for `mode: chunked`.

Time windows backfill in a single run: a backfill (UI) or `--partition-range` (CLI) runs the whole range in
one run, one file set per window. Chunks run one per run: a failed chunk fails alone, and "failed and
missing" resumes exactly the chunks that are not committed; `parallel` caps how many run at once.
"""
import dagster as dg

from rivet_dagster.config.models import ExportConfig
from rivet_dagster.modes.chunk_plan import partitions_name

_DEFINITIONS = {"hourly": dg.HourlyPartitionsDefinition, "daily": dg.DailyPartitionsDefinition,
                "weekly": dg.WeeklyPartitionsDefinition, "monthly": dg.MonthlyPartitionsDefinition}


def partitions_for(export: ExportConfig) -> dg.PartitionsDefinition | None:
    if export.mode == "chunked":
        return dg.DynamicPartitionsDefinition(name=partitions_name(export))
    p = export.partitioning
    if p is None:
        return None
    return _DEFINITIONS[p.granularity](start_date=p.start, timezone=p.timezone, end_offset=p.end_offset)


def backfill_policy_for(export: ExportConfig) -> dg.BackfillPolicy | None:
    if export.mode == "chunked":
        return dg.BackfillPolicy.multi_run(max_partitions_per_run=1)
    return dg.BackfillPolicy.single_run() if export.partitioning else None


def file_key(partition_key: str) -> str:
    """A partition key as it appears in file names (`2024-01-01-13:00` -> `2024-01-01-1300`)."""
    return partition_key.replace(":", "")
