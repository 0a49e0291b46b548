"""Claims on both backends: one run holds a scope until its lease expires, a heartbeat keeps it while the process
lives, a holder known to be gone is taken over at once, and a holder that stalled past its lease is fenced out of
every write, from its own clock and from the store's."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from rivet_dagster.state import claims
from rivet_dagster.state.errors import ClaimHeld, ClaimLost
from rivet_dagster.state.records import FileRecord
from rivet_dagster_tests.state.conftest import settings


def working(run: str, owner: str) -> bool:
    """`still_working` for a holder nothing is known of: working until its lease expires."""
    return True


def record(store, claim, run_id: str) -> None:
    """A fenced write: the files of `run_id`'s commit of the claimed scope."""
    store.record_files("orders", run_id, "stem", [FileRecord(run_id, "orders", f"{run_id}.parquet", "file:///x", 1,
                                                             1, "parquet", None, "c", partition_key="p1")],
                       None, claim)


def test_a_scope_is_held_by_one_run_until_its_lease_expires(store):
    store = store.model_copy(update={"lease_seconds": 1.5})
    first = claims.take_one(store, "orders", "p1", "run-a", working)
    claims._HEARTBEAT.discard([first])  # the holder stalls: nothing renews its lease
    with pytest.raises(ClaimHeld, match=r"orders: partition p1 is being exported by run run-a \(.+, lease \d+s "
                                        r"left\); this run leaves it to that one"):
        claims.take_one(store, "orders", "p1", "run-b", working)
    assert claims.take_one(store, "orders", "p2", "run-b", working).fence == 1  # other scopes are free

    time.sleep(1.7)
    second = claims.take_one(store, "orders", "p1", "run-b", working)
    assert second.fence == first.fence + 1
    with pytest.raises(ClaimLost, match="orders: this run lost its claim on partition p1 "
                                        r"\(run run-b \(.+\) took it over after its lease expired\)"):
        record(store, first, "run-a")
    record(store, second, "run-b")
    assert [f["run_id"] for f in store.files("orders")] == ["run-b"]
    claims.release([second])


def test_a_runs_scopes_are_claimed_at_once_and_those_another_run_holds_are_left_to_it(store):
    other = claims.take_one(store, "orders", "c2", "run-a", working)
    taken, refused = claims.take(store, "orders", ["c1", "c2", "c3"], "run-b", working)
    assert sorted(taken) == ["c1", "c3"] and list(refused) == ["c2"]
    assert "partition c2 is being exported by run run-a" in str(refused["c2"])
    assert {c["scope"]: c["run_id"] for c in store.claims("orders")} == {"c1": "run-b", "c2": "run-a", "c3": "run-b"}
    claims.release([*taken.values(), other])
    assert all(c["left_ms"] <= 0 for c in store.claims("orders"))


def test_a_released_scope_is_free_at_once_and_its_old_holder_stays_fenced_out(store):
    first = claims.take_one(store, "orders", None, "run-a", working)
    assert first.label == "the cursor window"
    claims.release([first])
    second = claims.take_one(store, "orders", None, "run-b", working)
    with pytest.raises(ClaimLost):
        store.close_window("orders", 10, first)
    store.close_window("orders", 10, second)
    assert store.cursor("orders") == 10
    claims.release([second])
    assert [c["left_ms"] <= 0 for c in store.claims("orders")] == [True]


def test_a_holder_known_to_be_gone_is_taken_over_before_its_lease_expires(store):
    held = claims.take_one(store, "orders", "p1", "run-a", working)
    asked = []

    def finished(run: str, owner: str) -> bool:  # as Dagster answers for a run it saw finish
        asked.append((run, owner))
        return False

    taken = claims.take_one(store, "orders", "p1", "run-b", finished)
    assert asked == [("run-a", held.owner)] and taken.fence == 2
    for claim in (held, taken):
        claims.release([claim])


def test_the_heartbeat_keeps_a_live_holders_claim_past_its_lease(store):
    store = store.model_copy(update={"lease_seconds": 1.2})
    held = claims.take_one(store, "orders", "p1", "run-a", working)
    time.sleep(3)
    with pytest.raises(ClaimHeld):
        claims.take_one(store, "orders", "p1", "run-b", working)
    held.ensure("upload")
    record(store, held, "run-a")
    claims.release([held])
    claims.release([claims.take_one(store, "orders", "p1", "run-b", working)])


HOLDER = textwrap.dedent("""
    import pathlib, sys, time
    from rivet_dagster.state import claims
    from rivet_dagster.state.store import StateStore
    go = pathlib.Path(sys.argv[1])
    store = StateStore(**dict(arg.split("=", 1) for arg in sys.argv[2:]))
    claim = claims.take_one(store, "orders", "p1", "stalled-run", lambda run, owner: True)
    print("held", flush=True)
    while not go.exists():
        time.sleep(0.05)
    for step in (lambda: claim.ensure("upload"), lambda: store.chunk_completed("orders", "p1", 1, [], claim)):
        try:
            step()
            print("acted", flush=True)
        except Exception as exc:
            print(type(exc).__name__, exc, flush=True)
""")


def test_a_holder_that_stalls_past_its_lease_is_fenced_out_when_it_resumes(store, tmp_path):
    """A real stall: the holding process is stopped (SIGSTOP) for longer than its lease, another run takes the
    scope, then the holder resumes. Its own clock stops it before the next upload, and the store refuses its
    checkpoint."""
    store = store.model_copy(update={"lease_seconds": 1.0})
    go = tmp_path / "go"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(go), *settings(store)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        os.kill(holder.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while psutil.Process(holder.pid).status() != psutil.STATUS_STOPPED and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.3)
        taken = claims.take_one(store, "orders", "p1", "run-b", working)
        go.touch()
    finally:
        os.kill(holder.pid, signal.SIGCONT)
    out, err = holder.communicate(timeout=60)
    lines = out.splitlines()
    assert len(lines) == 2 and all(line.startswith("ClaimLost orders: this run lost its claim on partition p1")
                                   for line in lines), (out, err)
    assert "stopped before the upload" in lines[0] and "run run-b" in lines[1]
    claims.release([taken])


RACER = textwrap.dedent("""
    import pathlib, sys, time
    from rivet_dagster.state import claims
    from rivet_dagster.state.errors import ClaimHeld
    from rivet_dagster.state.store import StateStore
    me, go = sys.argv[1], pathlib.Path(sys.argv[2])
    store = StateStore(**dict(arg.split("=", 1) for arg in sys.argv[3:]))
    store.claims("orders")  # migrated before the start
    while not go.exists():
        time.sleep(0.005)
    for n in range(40):
        try:
            claims.take_one(store, "orders", f"c{n:02}", me, lambda run, owner: True)
            print(f"c{n:02}", flush=True)
        except ClaimHeld:
            pass
""")


def test_processes_racing_for_the_same_scopes_win_each_exactly_once(store, tmp_path):
    go = tmp_path / "go"
    racers = [subprocess.Popen([sys.executable, "-c", RACER, f"r{n}", str(go), *settings(store)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(4)]
    time.sleep(2)
    go.touch()
    outputs = [racer.communicate(timeout=120) for racer in racers]
    assert [racer.returncode for racer in racers] == [0] * 4, [err for _, err in outputs]
    won = [scope for out, _ in outputs for scope in out.split()]
    assert sorted(won) == [f"c{n:02}" for n in range(40)]
    holders = {c["scope"]: c["run_id"] for c in store.claims("orders")}
    assert {scope: f"r{i}" for i, (out, _) in enumerate(outputs) for scope in out.split()} == holders
