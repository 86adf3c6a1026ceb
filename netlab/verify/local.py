"""verify's commands on THIS machine (ssh, ip netns exec) with a local deadline.

A host's batch bounds each of its commands there (`timeout`), but that protects nothing when
the host, or the way to it, stops answering: the local ssh client then waits forever. Worse,
an SSH ControlMaster holds the output pipes of every session it carries (the mux client hands
its stdin/stdout/stderr to the master), so even when the client is killed the pipes stay open
as long as the remote session lives, and a plain `communicate()` never sees EOF. That is how
an old verify hung for 20 minutes on a VM whose underlay NIC was missing.

`run_bounded` therefore (1) waits for the process at most `timeout` seconds, then stops it
(TERM, so a batch script removes its files, then KILL), and (2) reads its pipes only while the
process lives and for `EOF_GRACE` seconds after it ends: then it closes its own ends, whoever
still holds the others. Each local process is the command itself (the shell `exec`s it), in
verify's own process group, so Ctrl-C still reaches it as before.

For ssh, verify's commands never become a ControlMaster themselves (`-o ControlMaster=no`:
they use a master if one is open, else connect on their own); `ensure_master` opens one with
its stdio on /dev/null beforehand, so that one handshake serves every later command.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shlex
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any

# Seconds to keep reading after the process ended (what it wrote last is in the pipe already;
# only a process that inherited the pipes could still be writing).
EOF_GRACE = 1.0
# Seconds between TERM and KILL when the deadline has passed.
TERM_GRACE = 2.0
# What verify's ssh commands add: never start a master whose fds outlive the command.
SSH_OPTIONS = "-o ControlMaster=no"


@dataclass
class LocalResult:
    rc: int
    stdout: str
    stderr: str
    timed_out: bool  # the local deadline passed and the process was stopped
    seconds: float
    command: str  # what ran here (ssh ..., ip netns exec ...)


def shell_command(backend: Any, command: str) -> str | None:
    """The local shell command testinfra's `backend` would run for `command`; None when it is
    not one verify knows how to run itself."""
    from testinfra.backend.local import LocalBackend
    from testinfra.backend.ssh import SshBackend

    if isinstance(backend, SshBackend):
        argv, args = backend._build_ssh_command(backend.get_command(command))
        return str(backend.quote(" ".join(argv), *args))
    local_command = getattr(backend, "local_command", None)
    if local_command is not None:
        return str(local_command(command))
    if isinstance(backend, LocalBackend):
        return "/bin/sh -c " + shlex.quote(str(backend.get_command(command)))
    return None


def run_bounded(shell: str, timeout: float) -> LocalResult:
    """Run `shell` here for at most `timeout` seconds (see the module's docstring)."""
    start = time.monotonic()
    proc = subprocess.Popen(["/bin/sh", "-c", "exec " + shell], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
    timed_out = False
    term_sent: float | None = None
    ended: float | None = None
    with selectors.DefaultSelector() as sel:
        for pipe in (proc.stdout, proc.stderr):
            os.set_blocking(pipe.fileno(), False)
            sel.register(pipe.fileno(), selectors.EVENT_READ)
        while sel.get_map():
            now = time.monotonic()
            if ended is None and proc.poll() is not None:
                ended = now
            if ended is not None and now - ended >= EOF_GRACE:
                break  # someone else holds the pipes (an SSH master): stop reading
            if ended is None and now - start >= timeout:
                if term_sent is None:
                    timed_out, term_sent = True, now
                    _signal(proc, signal.SIGTERM)
                elif now - term_sent >= TERM_GRACE:
                    _signal(proc, signal.SIGKILL)
            for key, _ in sel.select(timeout=0.1):
                try:
                    data = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if data:
                    chunks[key.fd].append(data)
                else:
                    sel.unregister(key.fd)
    proc.stdout.close()
    proc.stderr.close()
    try:
        rc = proc.wait(timeout=TERM_GRACE)
    except subprocess.TimeoutExpired:
        _signal(proc, signal.SIGKILL)
        rc = proc.wait()
    out, err = (b"".join(chunks[fd]).decode(errors="replace") for fd in (out_fd, err_fd))
    return LocalResult(rc, out, err, timed_out, time.monotonic() - start, shell)


def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)


def run_in_thread(fn: Any, timeout: float) -> Any:
    """fn() in a thread waited for at most `timeout` seconds (a backend verify cannot run
    itself); raises TimeoutError when it has not returned by then (the thread is left)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError
    if "error" in box:
        raise box["error"]
    return box["value"]


def ensure_master(backend: Any, timeout: float = 30.0) -> None:
    """Open an SSH ControlMaster to the backend's host unless one is open, its stdio on
    /dev/null (it must hold none of verify's pipes). Harmless when it fails: the commands then
    connect on their own."""
    from testinfra.backend.ssh import SshBackend

    if not isinstance(backend, SshBackend) or not backend.ssh_config:
        return
    base = ["ssh", "-F", backend.ssh_config]
    if backend.host.user:
        base += ["-o", f"User={backend.host.user}"]
    if backend.host.port:
        base += ["-o", f"Port={backend.host.port}"]
    quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    try:
        if subprocess.run([*base, "-O", "check", backend.host.name], timeout=10, check=False,
                          **quiet).returncode == 0:  # type: ignore[call-overload]
            return
        subprocess.run([*base, "-o", "ControlMaster=yes", "-o", f"ControlPersist={backend.controlpersist}s",
                        "-o", f"ConnectTimeout={backend.timeout}", "-f", "-N", backend.host.name],
                       timeout=timeout, check=False, start_new_session=True,
                       **quiet)  # type: ignore[call-overload]
    except (subprocess.TimeoutExpired, OSError):
        return
