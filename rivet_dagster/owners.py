"""Which process owns a staging folder or an unfinished commit, and whether it is still alive.

A SIGKILLed `dagster asset materialize` leaves its run STARTED in Dagster's storage forever (no daemon marks
it failed), so the run status alone cannot tell a crashed commit from one in progress. The owner token
`host:pid:start-time` can: the state store is a local SQLite file, so every writer is on this host, and the
start time guards against a reused pid."""
from __future__ import annotations

import os
import socket
from pathlib import Path


def current_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}"


def owner_alive(owner: str | None) -> bool | None:
    """True / False for an owner on this host; None when it cannot be told (another host, no token)."""
    try:
        host, pid, started = (owner or "").rsplit(":", 2)
    except ValueError:
        return None
    if host != socket.gethostname():
        return None
    return _start_time(int(pid)) == started


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), or "" when the process does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except FileNotFoundError:
        return ""
    except OSError:  # no procfs: fall back to "does a process with this pid exist"
        try:
            os.kill(pid, 0)
            return "?"
        except ProcessLookupError:
            return ""
        except PermissionError:
            return "?"
