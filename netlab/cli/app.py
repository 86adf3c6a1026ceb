"""The Typer app and what every command shares: consoles, errors, the lab and provider options."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from netlab.errors import LabError, NetlabError

if TYPE_CHECKING:
    from netlab.lifecycle import Session

app = typer.Typer(
    name="netlab",
    help="Virtual labs for overlay networks: bring them up, configure them, prove they work.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# emoji off: a lab title with :fire: in it is printed as written.
out = Console(soft_wrap=True, emoji=False)
err = Console(stderr=True, soft_wrap=True, emoji=False)

LabArg = Annotated[str, typer.Argument(help="a catalog lab (see netlab list) or a lab file path")]


def fail(exc: NetlabError) -> NoReturn:
    if isinstance(exc, LabError):
        err.print(exc.message, markup=False, highlight=False)
    else:
        err.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
        if exc.hint:
            err.print(f"  [bold]fix:[/] {escape(exc.hint)}", highlight=False)
    raise typer.Exit(exc.exit_code)


ProviderOpt = Annotated[
    str | None,
    typer.Option("--provider", "-p", help="virtualbox | libvirt | qemu | netns (default: see docs)",
                 envvar=None),
]


def open_session(lab: str, provider: str | None, must_be_up: bool = False, salvage: bool = False,
                 name: str | None = None) -> Session:
    from netlab.lifecycle import open_lab

    if provider is not None:
        check_provider_name(provider)
    return open_lab(lab, provider, must_be_up=must_be_up, salvage=salvage, name=name)


def check_provider_name(provider: str) -> None:
    from netlab.providers import PROVIDER_NAMES

    if provider not in PROVIDER_NAMES:
        raise NetlabError(f"unknown provider {provider!r}", hint=f"use one of: {', '.join(PROVIDER_NAMES)}")


def check_box(box: str | None) -> None:
    """--box reaches the Vagrantfile (Ruby): it must be a box name as the lab file's `box` is."""
    from netlab.model.lab import BOX_RE

    if box is not None and not BOX_RE.fullmatch(box):
        raise NetlabError(f"--box {box!r} is not a Vagrant box name", hint="use a name like ubuntu/jammy64")


