"""Chunked exports: the chunk plan (inclusive key ranges over the chunk column) as dynamic partitions.

Keys are self-describing and sortable: `000000000001-000000100000` is `chunk_column` from 1 to 100000
(or row numbers 1..100000 with `chunk_dense`). The plan's fingerprint covers the query, chunk_column,
chunk_size and chunk_dense; a planner that finds a different fingerprint refuses to mix the two plans.
"""
from __future__ import annotations

import hashlib
import os
import re
import shlex
from dataclasses import dataclass

import dagster as dg

from rivet_dagster.config.errors import ConfigError
from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.source import queries
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.source.readers import fetch_value
from rivet_dagster.state.store import StateStore, StateStoreError

KEY_DIGITS = 12
KEY = re.compile(r"^(-?\d+)-(-?\d+)$")


class ChunkPlanMismatch(StateStoreError):
    """The stored chunk plan was made for another query, chunk_column, chunk_size or chunk_dense."""


@dataclass(frozen=True)
class ChunkPlan:
    export_name: str
    fingerprint: str
    ranges: list[tuple[int, int]]

    @property
    def keys(self) -> list[str]:
        return [chunk_key(start, end) for start, end in self.ranges]


def partitions_name(config: RivetConfig, export: ExportConfig) -> str:
    """The plan's partition set. Sets are deployment-wide, so its name carries the export's, and the plan's
    fingerprint: a changed plan starts a set of its own instead of deleting the old one's keys (Dagster deletes one
    key per call, minutes for a large plan), and keys with the same name keep their history."""
    return f"{config.definition_name(export)}__chunks_{fingerprint(config, export)[:8]}"


def chunk_key(start: int, end: int) -> str:
    return f"{start:0{KEY_DIGITS}d}-{end:0{KEY_DIGITS}d}"


def chunk_range(key: str) -> tuple[int, int]:
    match = KEY.match(key)
    if not match:
        raise ConfigError(f"'{key}' is not a chunk key (expected <start>-<end>, e.g. {chunk_key(1, 100000)})")
    return int(match.group(1)), int(match.group(2))


def fingerprint(config: RivetConfig, export: ExportConfig) -> str:
    spec = "\x1f".join([config.query_template(export).strip(), export.chunk_column, str(export.chunk_size),
                        "dense_rn" if export.chunk_dense else "range"])
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def compute_plan(config: RivetConfig, export: ExportConfig, source: SourceDatabase) -> ChunkPlan:
    """Windows of `chunk_size` over [MIN, MAX] of the chunk column (or over 1..COUNT(*) with chunk_dense)."""
    tuning = config.tuning_for(export)
    query = config.query_for(export)
    low, high = (fetch_value(source, plan, tuning)
                 for plan in queries.chunk_bounds(source, query, export.chunk_column, export.chunk_dense))
    ranges = []
    if low is not None and high is not None:
        if int(low) != low or int(high) != high:
            raise ConfigError(f"export '{export.name}': chunk_column '{export.chunk_column}' must hold integers "
                             f"(found {low!r} .. {high!r}); use chunk_dense: true for other columns")
        start, high = int(low), int(high)
        while start <= high:
            ranges.append((start, min(start + export.chunk_size - 1, high)))
            start += export.chunk_size
    return ChunkPlan(export.name, fingerprint(config, export), ranges)


def register_plan(instance: dg.DagsterInstance, config: RivetConfig, export: ExportConfig,
                  source: SourceDatabase, state: StateStore) -> list[str]:
    """Plan the chunks and add the missing partition keys; returns the keys added. Callable from code."""
    missing, _ = missing_keys(instance, config, export, source, state)
    if missing:
        instance.add_dynamic_partitions(partitions_name(config, export), missing)
    return missing


def missing_keys(instance: dg.DagsterInstance, config: RivetConfig, export: ExportConfig,
                 source: SourceDatabase, state: StateStore) -> tuple[list[str], ChunkPlan]:
    plan = compute_plan(config, export, source)
    stored = state.chunk_plan_hash(export.name)
    if stored is not None and stored != plan.fingerprint:
        raise ChunkPlanMismatch(
            f"export '{export.name}': chunk plan fingerprint mismatch (query, chunk_column, chunk_size, or "
            f"chunk_dense changed); the planner will not mix two plans. To start over (committed files stay): "
            f"{reset_command(config, export)}, or from code rivet_dagster.reset_plan(instance, config, "
            f"'{export.name}', state)")
    state.save_chunk_plan(export.name, plan.fingerprint, [(chunk_key(s, e), s, e) for s, e in plan.ranges])
    existing = set(instance.get_dynamic_partitions(partitions_name(config, export)))
    return [key for key in plan.keys if key not in existing], plan


def reset_command(config: RivetConfig, export: ExportConfig) -> str:
    """The shell command that resets this plan, on this instance when DAGSTER_HOME names one."""
    home = os.environ.get("DAGSTER_HOME")
    command = shlex.join(["rivet-dagster", "state", "reset-chunks", "-c", config.config_file or "rivet.yaml",
                          "-e", export.name])
    return f"DAGSTER_HOME={shlex.quote(home)} {command}" if home else command


def reset_plan(instance: dg.DagsterInstance, config: RivetConfig, export_name: str, state: StateStore) -> None:
    """Forget the chunk plan and its checkpoints, and the keys of the config's plan's partition set: none when the
    plan changed, whose set is new (committed files stay)."""
    export = config.export(export_name)
    for key in instance.get_dynamic_partitions(partitions_name(config, export)):
        instance.delete_dynamic_partition(partitions_name(config, export), key)
    state.reset_chunks(export_name)
