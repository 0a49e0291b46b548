"""The crash matrix's stages (CRASH_MATRIX.md), each marked where the code passes it: 4-6 in `staging/step.py`,
the rest in `commit/protocol.py`, one step each.

`reached(Stage.X)` is called at the end of stage X. With `RIVET_CRASH_AT=<stage>` in the environment the
process kills itself there with SIGKILL, which is how the crash tests place a real crash; with
`RIVET_STOP_AT=<stage>` it stops itself there (SIGSTOP) the first time, until it is continued, which is how the
claim tests place a real stall. The variables are read once at import, so when they are unset a boundary costs
two comparisons.
"""
from __future__ import annotations

import os
import signal
import threading
from enum import Enum


class Stage(str, Enum):
    """In the order a run passes them; a run that has nothing to do at a step still passes it."""
    QUERY = "query"            # 4. the query is running and its first batch arrived
    FETCH = "fetch"            # 5. mid-fetch: at least one batch is in a staged file
    STAGED = "staged"          # 6. every part is complete and fsynced in staging
    WINDOW = "window"          #    the incremental window is recorded as pending
    STARTED = "started"        #    the commit is recorded as under way; _SUCCESS withdrawn
    COMMITTED = "committed"    # 7. a part is at the destination (local: under a hidden name; a completed upload)
    MANIFEST = "manifest"      #    every part is committed and the materialization's manifest is written last
    PUBLISHED = "published"    #    ... and the parts are visible under their final names (local: renamed)
    RECORDED = "recorded"      #    ... and the state store's file manifest lists the files
    SUPERSEDED = "superseded"  #    ... and the files this materialization replaces are removed and forgotten
    EXPIRED = "expired"        #    ... keep_last: the oldest file set past the latest N lost its manifest, the rest
                               #        to follow (mid-prune; a run with nothing to prune passes at once)
    CURSOR = "cursor"          # 8. the cursor advanced / the chunk checkpoint completed; _SUCCESS written
    METRIC = "metric"          # 9. the run's metric is recorded; notifications follow, best effort


_CRASH_AT = os.environ.get("RIVET_CRASH_AT") or None
_STOP_AT = os.environ.get("RIVET_STOP_AT") or None


def reached(stage: Stage) -> None:
    # sent to the calling thread, which so stops or dies at this very line (another thread could take a
    # signal sent to the process a moment later)
    if _CRASH_AT is not None and _CRASH_AT == stage.value:
        signal.pthread_kill(threading.get_ident(), signal.SIGKILL)
    if _STOP_AT is not None and _STOP_AT == stage.value:
        _stop_once()


def _stop_once() -> None:
    """The first thread to reach the stage stops the process; once continued, the run goes on to its end."""
    global _STOP_AT
    _STOP_AT = None
    signal.pthread_kill(threading.get_ident(), signal.SIGSTOP)
