"""Tuning profiles and the per-export merge, with Rivet's names and defaults."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

Profile = Literal["fast", "balanced", "safe"]

PROFILES: dict[str, dict[str, int]] = {
    "fast": dict(batch_size=50_000, throttle_ms=0, statement_timeout_s=0, max_retries=1,
                 retry_backoff_ms=1_000, lock_timeout_s=0),
    "balanced": dict(batch_size=10_000, throttle_ms=50, statement_timeout_s=300, max_retries=3,
                     retry_backoff_ms=2_000, lock_timeout_s=30),
    "safe": dict(batch_size=2_000, throttle_ms=500, statement_timeout_s=120, max_retries=5,
                 retry_backoff_ms=5_000, lock_timeout_s=10),
}
DEFAULT_PROFILE = "balanced"
TUNING_KEYS = ("profile", "batch_size", "batch_size_memory_mb", "throttle_ms", "statement_timeout_s",
               "max_retries", "retry_backoff_ms", "lock_timeout_s", "memory_threshold_mb")
MEMORY_BATCH_BOUNDS = (1_000, 500_000)


@dataclass(frozen=True)
class EffectiveTuning:
    """The tuning an export runs with: profile defaults, then source values, then export values."""

    profile: str
    profile_label: str
    batch_size: int | None            # explicit only; None means the profile's
    batch_size_memory_mb: int | None
    throttle_ms: int
    statement_timeout_s: int
    max_retries: int
    retry_backoff_ms: int
    lock_timeout_s: int

    def rows_per_batch(self, schema: pa.Schema | None) -> int:
        """Rows per fetched batch; with `batch_size_memory_mb`, derived from the schema's estimated row width."""
        if self.batch_size_memory_mb is None:
            return self.batch_size or PROFILES[self.profile]["batch_size"]
        if schema is None:
            return PROFILES[self.profile]["batch_size"]
        rows = (self.batch_size_memory_mb << 20) // estimated_row_bytes(schema)
        low, high = MEMORY_BATCH_BOUNDS
        return max(low, min(high, rows))


def estimated_row_bytes(schema: pa.Schema) -> int:
    """Rivet's row-width estimate: fixed widths for primitives, 256 bytes for variable-width values."""
    total = 0
    for field in schema:
        t = field.type
        if pa.types.is_boolean(t) or pa.types.is_integer(t) and t.bit_width == 8:
            width = 1
        elif pa.types.is_decimal(t):
            width = 16
        elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) \
                or pa.types.is_large_binary(t):
            width = 256
        elif pa.types.is_primitive(t):
            width = max(1, t.bit_width // 8)
        else:
            width = 64
        total += width + 1
    return max(total, 1)


def merge_tuning(source: dict | None, export: dict | None) -> EffectiveTuning:
    """Field-by-field merge: the export value wins, then the source value, then the profile default."""
    source, export = source or {}, export or {}

    def pick(key):
        return export.get(key) if export.get(key) is not None else source.get(key)

    profile = pick("profile") or DEFAULT_PROFILE
    base = PROFILES[profile]
    values = {k: (pick(k) if pick(k) is not None else base[k]) for k in base}
    return EffectiveTuning(
        profile=profile,
        profile_label=profile if pick("profile") else f"{profile} (default)",
        batch_size=pick("batch_size"),
        batch_size_memory_mb=pick("batch_size_memory_mb"),
        throttle_ms=values["throttle_ms"],
        statement_timeout_s=values["statement_timeout_s"],
        max_retries=values["max_retries"],
        retry_backoff_ms=values["retry_backoff_ms"],
        lock_timeout_s=values["lock_timeout_s"],
    )
