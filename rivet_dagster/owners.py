"""Which process owns a staging folder or an unfinished commit, and whether it is still alive.

A SIGKILLed `dagster asset materialize` leaves its run STARTED in Dagster's storage forever (no daemon marks
it failed), so the run status alone cannot tell a crashed commit from one in progress. The owner token
`host:pid:start-time` can, for a process on this host (the start time guards against a reused pid); whether a
process on another host (one that shares a PostgreSQL state store or a destination) lives cannot be read here.
psutil reads both on every OS Dagster runs on (no /proc needed).
"""
from __future__ import annotations

import os
import socket

import psutil

_OWN_TOKEN: dict[int, str] = {}


def current_owner() -> str:
    """This process's token, worked out once per process (a forked child has a pid, so a token, of its own)."""
    pid = os.getpid()
    if pid not in _OWN_TOKEN:
        _OWN_TOKEN[pid] = f"{socket.gethostname()}:{pid}:{_start_time(pid)}"
    return _OWN_TOKEN[pid]


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
    """When the process started (seconds since the epoch, to the centisecond), or "" when there is none."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:  # killed, not yet reaped by its parent: gone
            return ""
        return f"{process.create_time():.2f}"
    except psutil.NoSuchProcess:
        return ""
    except psutil.AccessDenied:
        return "?"
