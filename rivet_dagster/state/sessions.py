"""Source sessions: at most `source.max_sessions` connections to a source database at once, from every run on
every host that shares the state store, however the run was launched.

Each step that reads the source holds leased slots of the source's pool for as long as it reads: one, or one per
worker of a chunked step. They are claims (`state/claims.py`) on the slots `1..max_sessions` of the pool, so they
are taken in one transaction, renewed by the claims' heartbeat, freed when the step ends, and free again once
their lease runs out after a crash (at once when the holder is known gone). A step that finds every slot taken
waits for one. Dagster's own pools count steps, not connections, and its executor keeps a killed step's slot until
the daemon frees it; so the connection limit lives here, and the pool of the same name still orders Dagster's
queue.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from rivet_dagster.state import claims

WAIT_LOG_EVERY_S = 60.0
POLL_S = (0.2, 5.0)  # the first wait for a free slot, and the longest


def slot_key(pool: str) -> str:
    """The claims' export name for the pool's slots (no export name holds a colon)."""
    return f"{pool}:sessions"


@dataclass
class SessionSlots:
    """What a step holds: `count` sessions it may open at once (unbounded pools: what it asked for)."""
    count: int
    held: list = field(default_factory=list)

    def release(self) -> None:
        claims.release(self.held)
        self.held = []


def take_sessions(store, pool: str, limit: int | None, wanted: int, run_id: str, still_working, log,
                  what: str) -> SessionSlots:
    """Up to `wanted` sessions of the pool for this run, waiting until at least one is free. `what` names the
    waiting step in its log line."""
    if limit is None:
        return SessionSlots(wanted)
    key, scopes = slot_key(pool), [str(slot) for slot in range(1, limit + 1)]
    poll, logged = POLL_S[0], None
    while True:
        taken, _ = claims.take(store, key, scopes, run_id, still_working, at_most=wanted)
        if taken:
            return SessionSlots(len(taken), list(taken.values()))
        now = time.monotonic()
        if logged is None or now - logged >= WAIT_LOG_EVERY_S:
            log.info(f"{what}: waiting for a session of source pool {pool}, whose {limit} session(s) are held by "
                     f"{_holders(store, key)} (source.max_sessions)")
            logged = now
        time.sleep(poll)
        poll = min(poll * 1.5, POLL_S[1])


def _holders(store, key: str) -> str:
    runs = sorted({f"run {row['run_id']} ({row['owner']})" for row in store.claims(key) if row["left_ms"] > 0})
    return ", ".join(runs) or "runs whose leases are ending"
