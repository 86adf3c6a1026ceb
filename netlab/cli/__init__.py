"""The `netlab` command line: thin, every command calls into the core and prints the result.

`app` holds the Typer app and what commands share; each other module registers its commands.
"""

from __future__ import annotations

import sys

# Each module registers its commands; imported in the order `netlab --help` lists them.
# isort: off
from netlab.cli import labs, lifecycle, hosts, checks, machine, teaching, inventory  # noqa: F401
from netlab.cli import graph, log  # noqa: F401
# isort: on
from netlab.cli.app import Verbosity, app, err
from netlab.errors import NetlabError
from netlab.images.cli import image_app

app.add_typer(image_app, name="image", help="The VM image for the qemu provider: netlab image build.")


def main() -> None:
    Verbosity.argv = sys.argv[1:]
    try:
        app()
    except NetlabError as exc:  # raised outside a command's own handling
        err.print(str(exc), markup=False)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
