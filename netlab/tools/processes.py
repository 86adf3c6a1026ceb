"""Processes netlab started itself (QEMUs): found by PID, confirmed by their command line.

A PID alone is not proof: after a crash or a reboot it may belong to another program. A
process is ours only while its command line contains a marker netlab chose (a VM's disk path).
Nothing is ever looked up or stopped by name.
"""

from __future__ import annotations

import contextlib
import time

import psutil


def _ours(pid: int, marker: str) -> psutil.Process | None:
    """The process `pid` if it is running (not a zombie) and its command line has `marker`."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:  # exited, not yet reaped by its parent
            return None
        cmdline = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    return proc if any(marker in arg for arg in cmdline) else None


def pid_alive(pid: int, marker: str) -> bool:
    """Whether `pid` is still the process we started: running, and its command line contains
    `marker` (a PID reused by another program is never ours to stop)."""
    return _ours(pid, marker) is not None


def _running(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Those of `procs` still running; an exited child of ours is reaped on the way."""
    running = []
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            if not proc.is_running():
                continue
            if proc.status() != psutil.STATUS_ZOMBIE:
                running.append(proc)
                continue
            # Exited: reap it if it is our child (another parent's zombie is that parent's job).
            with contextlib.suppress(psutil.TimeoutExpired, ChildProcessError):
                proc.wait(timeout=0)
    return running


def _wait(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait up to `timeout` for `procs` to end; reaps our own children. Returns those still running.

    A zombie that is not our child (its parent reaps it, not us) counts as ended.
    """
    deadline = time.monotonic() + timeout
    alive = _running(procs)
    while alive:
        _, alive = psutil.wait_procs(alive, timeout=min(0.2, max(0.0, deadline - time.monotonic())))
        alive = _running(alive)
        if time.monotonic() >= deadline:
            break
    return alive


def stop_processes(pids: dict[int, str], grace: float = 10.0) -> list[int]:
    """Stop each `{pid: marker}` that is still ours: SIGTERM, wait up to `grace`, then SIGKILL.

    Returns the PIDs still running afterwards. psutil checks before each signal that the PID
    still names the same process (its start time), so a reused PID is never signalled.
    """
    procs = [p for p in (_ours(pid, marker) for pid, marker in pids.items()) if p is not None]
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    alive = _wait(procs, grace)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    # A killed process is gone once the kernel has freed its memory: a VM's hundreds of MB took
    # longer than 5 s on a loaded machine (load 15 on 2 cores), and down then reported it alive.
    return [p.pid for p in _wait(alive, 30.0)]



def command_lines(name_prefix: str) -> list[list[str]]:
    """The command lines of every running process whose name starts with `name_prefix` (any
    user's, as far as /proc shows them). For reading only: nothing found here is ever stopped."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if (proc.info["name"] or "").startswith(name_prefix) and proc.info["cmdline"]:
                found.append(list(proc.info["cmdline"]))
    return found
