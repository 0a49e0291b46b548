"""Source sessions on both backends: a step gets at most the pool's free slots, waits (and says for whom) when
there is none, and takes the slots of a holder known to be gone or whose lease ran out."""
import threading
import time

from rivet_dagster.state import claims
from rivet_dagster.state.sessions import slot_key, take_sessions


def working(run: str, owner: str) -> bool:
    return True


def gone(run: str, owner: str) -> bool:
    return False


class Log:
    def __init__(self):
        self.lines = []

    def info(self, message: str) -> None:
        self.lines.append(message)


def test_a_step_gets_at_most_the_free_sessions_and_waits_for_one(store):
    log = Log()
    first = take_sessions(store, "rivet_postgres_db", 2, 3, "run-a", working, log, "orders")
    assert first.count == 2  # three workers wanted, two sessions allowed
    got = []
    waiter = threading.Thread(target=lambda: got.append(
        take_sessions(store, "rivet_postgres_db", 2, 2, "run-b", working, log, "customers")))
    waiter.start()
    time.sleep(1.0)
    assert not got  # every session is run-a's
    assert log.lines and log.lines[0].startswith("customers: waiting for a session of source pool rivet_postgres_db, "
                                                 "whose 2 session(s) are held by run run-a (")
    first.release()
    waiter.join(timeout=30)
    assert [slots.count for slots in got] == [2]
    assert {c["run_id"] for c in store.claims(slot_key("rivet_postgres_db")) if c["left_ms"] > 0} == {"run-b"}
    got[0].release()
    assert all(c["left_ms"] <= 0 for c in store.claims(slot_key("rivet_postgres_db")))


def test_the_sessions_of_a_holder_that_is_gone_are_free(store):
    crashed = take_sessions(store, "pool", 1, 1, "run-a", working, Log(), "orders")
    claims._HEARTBEAT.discard(crashed.held)  # it was killed: nothing renews or releases its slot
    assert take_sessions(store, "pool", 1, 1, "run-b", gone, Log(), "orders").count == 1  # known gone: at once

    short = store.model_copy(update={"lease_seconds": 1.0})
    stalled = take_sessions(short, "other", 1, 1, "run-c", working, Log(), "orders")
    claims._HEARTBEAT.discard(stalled.held)
    started = time.monotonic()
    assert take_sessions(short, "other", 1, 1, "run-d", working, Log(), "orders").count == 1
    assert 0.3 < time.monotonic() - started < 10  # it waited for the lease to run out


def test_a_source_without_a_limit_takes_no_slot(store):
    slots = take_sessions(store, "pool", None, 4, "run-a", working, Log(), "orders")
    assert slots.count == 4 and not slots.held
    assert store.claims(slot_key("pool")) == []
