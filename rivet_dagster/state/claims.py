"""Claims: the one run that may export a scope of an export (a chunk, a time window's partition, an incremental
export's cursor window), until its lease expires.

A run claims its scopes when it starts, all in one transaction, before it reads any, and holds them until it ends
(so a chunk costs no transaction of its own). The lease is kept in the state store, timed by the store's own
clock (one clock for every host that shares it), and renewed for all of the run's claims at once by a heartbeat
thread while the process lives. Another run that wants the scope meanwhile, from any host, is refused and
says so. Once the lease expired (the holder crashed, or stalled longer than the lease), or the holder is known to be
gone (Dagster saw its run finish; its process is dead on this host), the scope can be taken over, which bumps its
fence.

The holder's commit is fenced twice: the state store records its files, advances its cursor or completes its
checkpoint only in a transaction that finds the claim still its own (same fence); and between those writes it
touches the destination only while its lease, as last renewed, has a quarter of its length left, so a holder that
stalled stops before anyone may take its scope over (the residue: one destination call stalled for longer than
that margin). A run that lost its claim removes what it uploaded, unless its manifest was written and its commit
is still pending: then the scope's next holder rolls it forward, as after a crash.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from rivet_dagster.owners import current_owner
from rivet_dagster.state.errors import ClaimHeld, ClaimLost, StateStoreError

CURSOR_SCOPE = ""      # an incremental export's one scope: its cursor window
SAFE_FRACTION = 0.75   # the holder acts for this share of a lease after the renewal that started it
StillWorking = Callable[[str, str], bool]  # (holder's run id, owner token) -> may it still be working?


def scope_label(scope: str) -> str:
    return "the cursor window" if scope == CURSOR_SCOPE else f"partition {scope}"


@dataclass(eq=False)
class Claim:
    store: object       # the StateStore
    export_name: str
    scope: str
    run_id: str
    owner: str
    fence: int
    lease_s: float
    renewed_at: float   # time.monotonic() when the renewal (or the claim) that holds now was sent
    lost: str | None = None

    @property
    def label(self) -> str:
        return scope_label(self.scope)

    def still_held(self) -> bool:
        """Asked after a failed write: renew now, and say whether the scope is still this run's (True when the
        store cannot tell)."""
        _renew([self])
        return self.lost is None

    def ensure(self, doing: str) -> None:
        """Raise ClaimLost unless the claim may still act: before each write to the destination. A holder that
        was late renewing (a stall) renews now, and goes on if nobody took its scope meanwhile."""
        if self.lost is None and time.monotonic() >= self.renewed_at + self.lease_s * SAFE_FRACTION:
            if not _renew([self]):
                self.lost = self.lost or f"its lease of {self.lease_s:g}s ran out and could not be renewed"
        if self.lost is not None:
            raise ClaimLost(f"{self.export_name}: this run lost its claim on {self.label} ({self.lost}); it stopped "
                            f"before the {doing}")


def take(store, export_name: str, scopes: list[str | None], run_id: str, still_working: StillWorking,
         at_most: int | None = None) -> tuple[dict[str, Claim], dict[str, ClaimHeld]]:
    """Claim the scopes (a run's chunks or windows; None is the cursor window; `at_most`: only the first that many
    free ones) for this run, in one transaction, and keep them renewed. A scope whose holder's lease runs is left
    to it, unless `still_working` knows that run is gone (Dagster saw it finish; its process is dead on this
    host). Returns the claims taken and, for the scopes left to another run, the error that says so."""
    scopes = [CURSOR_SCOPE if scope is None else scope for scope in scopes]
    sent, owner = time.monotonic(), current_owner()
    fences, refused = store.take_claims(export_name, scopes, run_id, owner, still_working, at_most)
    taken = {scope: Claim(store, export_name, scope, run_id, owner, fence, store.lease_seconds, sent)
             for scope, fence in fences.items()}
    _HEARTBEAT.add(taken.values())
    return taken, {scope: ClaimHeld(message) for scope, message in refused.items()}


def take_one(store, export_name: str, scope: str | None, run_id: str, still_working: StillWorking) -> Claim:
    """One scope's claim; ClaimHeld if another run holds it."""
    taken, refused = take(store, export_name, [scope], run_id, still_working)
    if refused:
        raise next(iter(refused.values()))
    return next(iter(taken.values()))


def release(claims) -> None:
    """The scopes are committed, or this run gave up on them: free them for the next run at once, in one
    transaction per export (best effort: a claim that cannot be released expires with its lease)."""
    claims = [claim for claim in claims if claim is not None]
    _HEARTBEAT.discard(claims)
    for batch in _batches(claims):
        first = batch[0]
        try:
            first.store.release_claims(first.export_name, first.run_id, first.owner, [claim.scope for claim in batch])
        except StateStoreError:
            pass


def _batches(claims) -> list[list[Claim]]:
    """The claims one statement serves: same store, export, run and process."""
    batches = defaultdict(list)
    for claim in claims:
        batches[(id(claim.store), claim.export_name, claim.run_id, claim.owner)].append(claim)
    return list(batches.values())


def _renew(batch: list[Claim]) -> bool:
    """Renew one run's claims on one export; False when the store could not be reached (the lease then runs out
    here as it does there)."""
    first, sent = batch[0], time.monotonic()
    try:
        lost = first.store.renew_claims(first.export_name, first.run_id, first.owner, [c.scope for c in batch])
    except Exception:
        return False
    for claim in batch:
        if claim.scope in lost:
            claim.lost = lost[claim.scope]
        else:
            claim.renewed_at = sent
    return True


class _Heartbeat:
    """One daemon thread per process renews every live claim a quarter of a lease after its last renewal."""

    def __init__(self):
        self._claims: set[Claim] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, claims) -> None:
        with self._lock:
            self._claims.update(claims)
            if self._thread is None or not self._thread.is_alive():  # also after a fork, which keeps no thread
                self._thread = threading.Thread(target=self._run, name="rivet-claims-heartbeat", daemon=True)
                self._thread.start()

    def discard(self, claims) -> None:
        with self._lock:
            self._claims.difference_update(claims)

    def _run(self) -> None:
        while True:
            with self._lock:
                claims = list(self._claims)
            time.sleep(min([c.lease_s / 8 for c in claims] + [1.0]))
            now = time.monotonic()
            due = [c for c in claims if c.lost is None and now - c.renewed_at >= c.lease_s / 4]
            for batch in _batches(due):
                _renew(batch)


_HEARTBEAT = _Heartbeat()
