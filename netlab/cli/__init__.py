"""The `netlab` command line: thin, every command calls into the core and prints the result.

`app` holds the Typer app and what commands share; each other module registers its commands.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn

# Each module registers its commands; imported in the order `netlab --help` lists them.
# isort: off
from netlab.cli import labs, lifecycle, hosts, checks, machine, teaching, inventory  # noqa: F401
from netlab.cli import graph, log  # noqa: F401
# isort: on
from netlab.cli.app import Verbosity, app, err
from netlab.cli.streams import guard, lost_output
from netlab.errors import NetlabError
from netlab.files import private_umask
from netlab.images.cli import image_app

app.add_typer(image_app, name="image", help="The VM image for the qemu provider: netlab image build.")


def main() -> None:
    Verbosity.argv = sys.argv[1:]
    # Made absolute once, here: a relative state directory would name another folder for every
    # process netlab starts in another working directory (Ansible, Vagrant, tests' subprocesses).
    if os.environ.get("NETLAB_STATE_DIR"):
        os.environ["NETLAB_STATE_DIR"] = os.path.abspath(os.environ["NETLAB_STATE_DIR"])
    guard()  # a closed pipe or a full disk drops output, never a lab operation half way
    private_umask()  # what netlab and the commands it starts write is the user's own (0600, 0700)
    try:
        app()
        code: int | str | None = 0
    except NetlabError as exc:  # raised outside a command's own handling
        err.print(str(exc), markup=False)
        code = exc.exit_code
    except SystemExit as exc:
        code = exc.code
    leave(code)


def leave(code: int | str | None) -> NoReturn:
    """Exit with `code` as sys.exit would, but without tearing the interpreter down: freeing
    every module and object costs a command ~40 ms (a tenth of `netlab verify lab10`) and does
    nothing the OS does not. atexit handlers still run; with a non-daemon thread still alive
    (nothing of netlab's leaves one) the normal exit waits for it."""
    if threading.active_count() > 1 and any(not t.daemon for t in threading.enumerate()
                                            if t is not threading.current_thread()):
        sys.exit(code)
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # what sys.exit does with a message
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # not guarded (an in-process caller's stream)
            code = code or 120
    lost = lost_output()
    if lost is not None:  # the results are not where the user sent them: say so, once
        sys.stderr.write(f"error: {lost}\n  fix: send the output to a file on a disk with free space, or a pipe\n")
        sys.stderr.flush()
        code = code or 1
    os._exit(code or 0)


if __name__ == "__main__":
    main()
