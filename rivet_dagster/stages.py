"""The crash matrix's stages (CRASH_MATRIX.md), each marked where the code passes it.

`reached(Stage.X)` is called at the end of stage X. With `RIVET_CRASH_AT=<stage>` in the environment the
process kills itself there with SIGKILL, which is how the crash tests place a real crash. The variable is
read once at import, so when it is unset a boundary costs one comparison.
"""
from __future__ import annotations

import os
import signal
from enum import Enum


class Stage(str, Enum):
    QUERY = "query"            # 4. the query is running and its first batch arrived
    FETCH = "fetch"            # 5. mid-fetch: at least one batch is in a staged file
    STAGED = "staged"          # 6. every part is complete and fsynced in staging
    COMMITTED = "committed"    # 7. a part is at the destination (local: under a hidden name; a completed upload)
    MANIFEST = "manifest"      #    every part is committed and the materialization's manifest is written last
    PUBLISHED = "published"    #    ... and the parts are visible under their final names (local: renamed)
    RECORDED = "recorded"      #    ... and the state store's file manifest lists the files
    CURSOR = "cursor"          # 8. the cursor advanced (incremental) / the chunk checkpoint completed
    METRIC = "metric"          # 9. the run's metric is recorded; notifications follow, best effort


_CRASH_AT = os.environ.get("RIVET_CRASH_AT") or None


def reached(stage: Stage) -> None:
    if _CRASH_AT is not None and _CRASH_AT == stage.value:
        os.kill(os.getpid(), signal.SIGKILL)
