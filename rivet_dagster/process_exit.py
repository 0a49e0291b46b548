"""How a process that loaded rivet_dagster ends: without one last sweep of the cyclic garbage collector over
every object it holds.

At exit, CPython runs its cyclic collector over all the objects it still holds while it tears its modules down.
A Dagster process holds a few hundred thousand of them (Dagster, SQLAlchemy, pyarrow, the code location), and the
sweep cost 0.4-0.5 s of every `dagster asset materialize` and `rivet-dagster run`, a third of Dagster's own
fixed cost per command, to free memory the operating system takes back at once anyway. `gc.freeze()` in an exit
handler moves them out of the collector's sight; everything else about exiting stays: non-daemon threads are
joined and the exit handlers registered before this one (logging's flush, `weakref.finalize`, temporary
folders) still run, and objects freed by reference counting are still finalized. What is skipped is the
finalizer of an object only a reference cycle still held at exit; no export depends on one, since every file,
commit and checkpoint is complete before the run reports its outcome.
"""
import atexit
import gc


def skip_the_last_collection() -> None:
    """Registered once per process (at import), so it runs before the exit handlers registered earlier."""
    atexit.register(gc.freeze)
