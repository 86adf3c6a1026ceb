"""Standard output and error that never abort a command: a reader that went away (`| head -1`, a
closed terminal) or a full disk (`> /dev/full`) must not stop `netlab up` half way and leave a lab
"creating". Output that cannot be written is dropped; the command finishes; at exit a lost standard
output (the results) is reported once and makes the exit code non-zero, a closed pipe is not an
error (the reader chose to stop reading).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from typing import Any, TextIO


class Guarded:
    """A text stream that drops what it cannot write, and remembers why."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.lost: OSError | None = None  # the first error writing it

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, buffer...: the stream's own
        return getattr(self._stream, name)

    def write(self, text: str) -> int:
        if self.lost is None:
            try:
                return self._stream.write(text)
            except OSError as exc:
                self._drop(exc)
        return len(text)

    def flush(self) -> None:
        if self.lost is None:
            try:
                self._stream.flush()
            except OSError as exc:
                self._drop(exc)

    def _drop(self, exc: OSError) -> None:
        """From now on the stream's file descriptor is /dev/null: what is still buffered, later
        writes, and the commands netlab starts with this output (which would get SIGPIPE) all go
        there quietly."""
        self.lost = exc
        try:
            fd = self._stream.fileno()
        except (OSError, ValueError, AttributeError):
            return  # not a file (a test's StringIO): dropping the text is all there is to do
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, fd)
        finally:
            os.close(null)
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()

    @property
    def failed(self) -> bool:
        """Lost for a reason other than a reader that went away."""
        return self.lost is not None and self.lost.errno not in (errno.EPIPE, errno.ECONNRESET)


def _reopen_closed() -> None:
    """Standard input, output and error that were closed (`>&-`) become /dev/null: else the next
    file netlab opens (a lab's state) would get their number and every command it starts would
    write its output into that file."""
    for fd in (0, 1, 2):  # in order: os.open takes the lowest free number
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stdin is None:
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 (the process's own, never closed)
    if sys.stdout is None:
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    if sys.stderr is None:
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115


def guard() -> None:
    """Make sys.stdout and sys.stderr guarded (the consoles write to whatever they are)."""
    _reopen_closed()
    if not isinstance(sys.stdout, Guarded):
        sys.stdout = Guarded(sys.stdout)  # type: ignore[assignment]
    if not isinstance(sys.stderr, Guarded):
        sys.stderr = Guarded(sys.stderr)  # type: ignore[assignment]


def lost_output() -> str | None:
    """Why standard output could not be written (not a closed pipe), for the exit; None if it was."""
    stdout = sys.stdout
    if isinstance(stdout, Guarded) and stdout.failed and stdout.lost is not None:
        return f"could not write standard output: {stdout.lost.strerror or stdout.lost}"
    return None
