"""An owner token tells a live process from a killed one, on any OS psutil supports (no /proc read)."""
import os
import signal
import socket
import subprocess
import sys
import time

from rivet_dagster import owners


def token_of(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}:{owners._start_time(pid)}"


def test_this_process_is_its_own_live_owner():
    assert owners.owner_alive(owners.current_owner()) is True
    assert owners.current_owner() == token_of(os.getpid())


def test_a_killed_process_is_not_alive_even_before_it_is_reaped():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    token = token_of(child.pid)
    assert owners.owner_alive(token) is True
    os.kill(child.pid, signal.SIGKILL)
    try:
        for _ in range(100):  # bounded: the kernel needs a moment to turn it into a zombie
            if owners.owner_alive(token) is False:
                break
            time.sleep(0.05)
        assert owners.owner_alive(token) is False
    finally:
        child.wait(timeout=10)
    assert owners.owner_alive(token) is False


def test_a_reused_pid_is_not_the_same_owner():
    host, pid, started = owners.current_owner().rsplit(":", 2)
    assert owners.owner_alive(f"{host}:{pid}:{float(started) - 1:.2f}") is False


def test_another_host_or_no_token_cannot_be_told():
    assert owners.owner_alive(f"not-{socket.gethostname()}:1:0.00") is None
    assert owners.owner_alive(None) is None and owners.owner_alive("garbage") is None
