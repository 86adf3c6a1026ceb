"""The command log: every external command netlab runs for a lab, kept in the lab's state directory.

One `netlab` invocation records while it runs (`recording`): every process started through
`subprocess` (run, call, Popen: every provider, the configuration stage, the tools) is written
with its command line, what it was given on standard input (an `ip -batch` script), its exit code
and time, and for a command that failed its output. Nothing in the providers has to call it: while
recording, `subprocess.Popen` is a subclass that reports to the log, and it is put back afterwards.

The log is tied to a lab once the command knows which (`attach`); lines written before are kept
and flushed then. A lab whose state directory does not exist (an `up` refused before it made
anything, a `down` that removed everything) gets no file: the log never creates that directory.
`netlab log LAB` prints it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from netlab import labfolder
from netlab.files import append_private, write_private

LOG_NAME = "commands.log"
# A log over MAX_BYTES is cut to its last KEEP_BYTES when the next command starts recording.
MAX_BYTES = 4_000_000
KEEP_BYTES = 2_000_000
# How much of a command's input and (failed) output the log keeps.
INPUT_LINES = 60
OUTPUT_LINES = 40

Echo = Callable[[str], None]


def log_path(state_dir: Path) -> Path:
    return state_dir / LOG_NAME


class CommandLog:
    """The lines of one netlab invocation, written to a lab's log once the lab is known."""

    def __init__(self, invocation: list[str], echo: Echo | None = None) -> None:
        self.invocation = invocation
        self.echo = echo
        self._t0 = time.monotonic()
        self._since = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %z")
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._dir: Path | None = None

    # -- where it goes -----------------------------------------------------------------------------
    def attach(self, state_dir: Path) -> None:
        """Write this invocation's lines to the log in `state_dir` (from now on, and those before)."""
        with self._lock:
            if self._dir == state_dir:
                return
            self._dir = state_dir
            header = f"=== {self._since}: {shlex.join(['netlab', *self.invocation])}  (pid {self._pid})"
            self._pending.insert(0, header)
            _trim(log_path(state_dir))
            self._flush()

    @property
    def path(self) -> Path | None:
        return log_path(self._dir) if self._dir is not None else None

    def note(self, text: str) -> None:
        """A line of netlab's own: a phase, the error a command ended with."""
        self._write([f"{_now()} {line}" if i == 0 else f"    {line}" for i, line in enumerate(text.splitlines())])

    def close(self) -> None:
        self.note(f"done in {time.monotonic() - self._t0:.1f} s")

    # -- commands ------------------------------------------------------------------------------------
    def started(self, argv: Any, pid: int | None, cwd: Any = None) -> None:
        line = f"{_now()} $ {_argv_text(argv)}" + (f"  (pid {pid})" if pid is not None else "")
        if cwd:
            line += f"  in {cwd}"
        if self.echo is not None:
            self.echo(f"$ {_argv_text(argv)}")
        self._write([line])

    def finished(self, argv: Any, pid: int, returncode: int, seconds: float, given: Any = None,
                 stdout: Any = None, stderr: Any = None) -> None:
        what = f"exit {returncode}" if returncode >= 0 else f"killed by signal {-returncode}"
        lines = [f"{_now()}   (pid {pid}) {what} in {seconds:.2f} s: {_short(argv)}"]
        if given:
            lines += _block(given, "  < ", INPUT_LINES)
        if returncode != 0:
            lines += _block(stdout, "  | ", OUTPUT_LINES) + _block(stderr, "  ! ", OUTPUT_LINES)
        self._write(lines)

    def failed_to_start(self, argv: Any, error: OSError) -> None:
        self._write([f"{_now()} $ {_argv_text(argv)}", f"    could not start: {error.strerror or error}"])

    # -- writing ---------------------------------------------------------------------------------------
    def _write(self, lines: list[str]) -> None:
        if os.getpid() != self._pid:  # a forked child before its exec: not ours to write
            return
        with self._lock:
            self._pending.extend(lines)
            self._flush()

    def _flush(self) -> None:
        if self._dir is None or not self._pending or not labfolder.is_lab_folder(self._dir):
            return  # kept until the lab's folder exists (never made here, never another's folder)
        with contextlib.suppress(OSError):
            append_private(log_path(self._dir), "\n".join(self._pending) + "\n")
            self._pending.clear()


_active: CommandLog | None = None
_original_popen = subprocess.Popen


class _LoggedPopen(subprocess.Popen):  # type: ignore[type-arg]
    """subprocess.Popen that tells the active command log what it runs and how that ended."""

    def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
        self._netlab_log = _active
        self._netlab_start = time.monotonic()
        self._netlab_done = False
        self._netlab_communicating = False
        try:
            super().__init__(args, *rest, **kwargs)
        except OSError as exc:
            if self._netlab_log is not None:
                with _never_fails():
                    self._netlab_log.failed_to_start(args, exc)
            raise
        if self._netlab_log is not None:
            with _never_fails():
                self._netlab_log.started(args, self.pid, kwargs.get("cwd"))

    def communicate(self, input: Any = None, timeout: float | None = None) -> tuple[Any, Any]:
        self._netlab_communicating = True
        try:
            stdout, stderr = super().communicate(input, timeout)
        finally:
            self._netlab_communicating = False
        self._netlab_end(input, stdout, stderr)
        return stdout, stderr

    def wait(self, timeout: float | None = None) -> int:
        code = super().wait(timeout)
        if not self._netlab_communicating:
            self._netlab_end()
        return code

    def _netlab_end(self, given: Any = None, stdout: Any = None, stderr: Any = None) -> None:
        if self._netlab_done or self.returncode is None or self._netlab_log is None:
            return
        self._netlab_done = True
        with _never_fails():
            self._netlab_log.finished(self.args, self.pid, self.returncode, time.monotonic() - self._netlab_start,
                                      given, stdout, stderr)


@contextlib.contextmanager
def _never_fails() -> Iterator[None]:
    """The log must never be why a command fails: a line it cannot write is lost, nothing more."""
    with contextlib.suppress(Exception):
        yield


@contextlib.contextmanager
def recording(invocation: list[str], echo: Echo | None = None) -> Iterator[CommandLog]:
    """Record every external command started (in this process) until the block ends."""
    global _active
    previous, log = _active, CommandLog(invocation, echo)
    _active = log
    subprocess.Popen = _LoggedPopen  # type: ignore[misc]
    try:
        yield log
    finally:
        _active = previous
        if previous is None:
            subprocess.Popen = _original_popen  # type: ignore[misc]
        log.close()


def active() -> CommandLog | None:
    return _active


def read_log(state_dir: Path) -> str | None:
    path = log_path(state_dir)
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _trim(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.stat().st_size > MAX_BYTES:
            data = path.read_bytes()[-KEEP_BYTES:]
            write_private(path, b"(older lines cut)\n" + data[data.find(b"\n") + 1:])


def _now() -> str:
    return datetime.now().strftime("%H:%M:%S.%f")[:-4]


def _argv_text(argv: Any) -> str:
    if isinstance(argv, str | bytes | os.PathLike):
        return os.fsdecode(argv)
    return shlex.join(os.fsdecode(a) for a in argv)


def _short(argv: Any, width: int = 80) -> str:
    text = _argv_text(argv)
    return text if len(text) <= width else text[: width - 3] + "..."


def _block(data: Any, prefix: str, limit: int) -> list[str]:
    if not data:
        return []
    text = data.decode(errors="replace") if isinstance(data, bytes) else str(data)
    lines = text.rstrip("\n").splitlines()
    cut = [f"{prefix}({len(lines) - limit} more lines)"] if len(lines) > limit else []
    return [prefix + line for line in lines[:limit]] + cut
