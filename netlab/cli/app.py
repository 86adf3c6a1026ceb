"""The Typer app and what every command shares: consoles, errors, verbosity, the command log, the
lab and provider options and their shell completion."""

from __future__ import annotations

import glob
import json
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from netlab.cli.once import OnceGroup
from netlab.errors import LabError, NetlabError

if TYPE_CHECKING:
    from netlab.lifecycle import Session
    from netlab.model import Lab

app = typer.Typer(
    name="netlab",
    cls=OnceGroup,  # --host A --host B is refused, not B
    help="Virtual labs for overlay networks: bring them up, configure them, prove they work.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Markdown: a docstring's lines join into paragraphs, `code` reads as code.
    rich_markup_mode="markdown",
)
# emoji off: a lab title with :fire: in it is printed as written.
out = Console(soft_wrap=True, emoji=False)
err = Console(stderr=True, soft_wrap=True, emoji=False)


class Verbosity:
    """-q (-1), normal (0) or -v (1): set by the global options, for this invocation."""

    level = 0
    # The command line as typed (set by netlab.cli.main; in-process callers have the command's name).
    argv: list[str] | None = None


def quiet() -> bool:
    return Verbosity.level < 0


def verbose() -> bool:
    return Verbosity.level > 0


def info(message: str) -> None:
    """A line of progress on standard error (not with -q; always in the lab's log): results go to
    standard output."""
    note(message)
    if not quiet():
        err.print(f"  {message}", style="dim", highlight=False, markup=False)


def note(message: str) -> None:
    """A line of what netlab does, for the lab's command log only."""
    from netlab.cmdlog import active

    log = active()
    if log is not None:
        log.note(f"- {message}")


def print_json(data: Any) -> None:
    """One JSON document on standard output, and nothing else there."""
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
    sys.stdout.flush()


def examples(*commands: str) -> str:
    """A command's epilog: real examples, one a line, at the end of its --help."""
    return "**Examples**\n\n" + "  \n".join(f"`{c}`" for c in commands)


# -- shell completion ------------------------------------------------------------------------------
def complete_lab(incomplete: str) -> list[tuple[str, str]]:
    """Catalog labs, labs that are up on this machine, and lab files under the path typed so far."""
    from netlab.catalog import catalog
    from netlab.state import active_labs

    found: dict[str, str] = {}
    try:
        for name in active_labs():
            found[name] = "up on this machine"
    except OSError:
        pass
    for entry in catalog():
        found.setdefault(entry.name, "catalog lab")
    if "/" in incomplete or incomplete.startswith("."):
        for text in sorted(glob.glob(glob.escape(incomplete) + "*")):
            if Path(text).is_dir():
                found[text + "/"] = "directory"
            elif text.endswith((".yml", ".yaml")):
                found[text] = "lab file"
    return [(name, why) for name, why in found.items() if name.startswith(incomplete)]


def complete_host(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """The hosts, routers and tenants of the lab named earlier on the command line."""
    named = ctx.params.get("lab")
    # Completing an option's value, the parse stops short of the lab: then the first word of the
    # line being completed (the shell hands it over in the environment) that is a lab is the one.
    typed = os.environ.get("COMP_WORDS") or os.environ.get("_TYPER_COMPLETE_ARGS") or ""
    try:
        words = shlex.split(typed)
    except ValueError:
        words = typed.split()
    candidates = [named] if named else [w for w in words[2:] if not w.startswith("-")]
    for ref in candidates:
        try:
            lab = load_lab_ref(str(ref))
        except (NetlabError, OSError, ValueError):
            continue
        machines = [(h, f"host {spec.ip}") for h, spec in lab.hosts.items()]
        machines += [(r, "router") for r in lab.routers]
        machines += [(t, f"tenant {spec.ip} on {spec.host}") for t, spec in lab.tenants.items()]
        return [(name, why) for name, why in machines if name.startswith(incomplete)]
    return []


def complete_provider(incomplete: str) -> list[tuple[str, str]]:
    from netlab.providers import PROVIDER_NAMES

    return [(name, PROVIDER_HELP.get(name, "")) for name in PROVIDER_NAMES if name.startswith(incomplete)]


# What --provider's completion says of each (the registry imports no provider: no cost here).
PROVIDER_HELP = {
    "netns": "network namespaces (Linux, root): the fastest",
    "qemu": "QEMU VMs from netlab's Debian image: every tunnel type",
    "libvirt": "Vagrant + vagrant-libvirt",
    "virtualbox": "Vagrant + VirtualBox",
    "ssh": "machines that exist already, from an Ansible inventory (--inventory)",
}

LabArg = Annotated[str, typer.Argument(help="a catalog lab (see netlab list), a lab file path, or a lab that is up "
                                       "(see netlab ls)", autocompletion=complete_lab, metavar="LAB")]
HostArg = Annotated[str, typer.Argument(help="a host, router or tenant (see netlab status LAB)",
                                        autocompletion=complete_host,
                                        metavar="HOST")]


def _provider_metavar() -> str:
    from netlab.providers import PROVIDER_NAMES

    return "|".join(PROVIDER_NAMES)


ProviderOpt = Annotated[
    str | None,
    typer.Option("--provider", "-p", metavar=_provider_metavar(), autocompletion=complete_provider,
                 help="where the machines run. Default: the provider the lab is up with, else $NETLAB_PROVIDER, "
                 "else the first that can run the lab here (virtualbox, netns, qemu; netlab says why)",
                 envvar=None, show_default=False),
]


# -- global options ----------------------------------------------------------------------------------
def _version(value: bool) -> None:
    if value:
        from netlab import __version__

        out.print(f"netlab {__version__}", highlight=False, markup=False)
        raise typer.Exit()


@app.callback(epilog=examples("sudo netlab up lab10 && sudo netlab verify lab10", "netlab graph lab10 -o lab10.svg"))
def main_options(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="print netlab's version and exit")] = False,
    verbose_: Annotated[bool, typer.Option("--verbose", "-v", help="also print every external command as it "
                                           "runs (all are kept in the lab's log: netlab log LAB)")] = False,
    quiet_: Annotated[bool, typer.Option("--quiet", "-q", help="print only results and errors")] = False,
) -> None:
    """Virtual labs for overlay networks: bring them up, configure them, prove they work."""
    from netlab.cmdlog import recording

    if verbose_ and quiet_:
        fail(NetlabError("-v and -q contradict each other", hint="give one of them"))
    Verbosity.level = 1 if verbose_ else -1 if quiet_ else 0

    def echo(line: str) -> None:
        err.print(f"  {line}", style="cyan", highlight=False, markup=False)

    invocation = Verbosity.argv if Verbosity.argv is not None else [ctx.invoked_subcommand or ""]
    ctx.with_resource(recording(invocation, echo if verbose_ else None))


def fail(exc: NetlabError) -> NoReturn:
    from netlab.cmdlog import active

    log = active()
    if log is not None:
        log.note(f"error: {exc.message}" + (f"\nfix: {exc.hint}" if getattr(exc, "hint", None) else ""))
    if isinstance(exc, LabError):
        err.print(exc.message, markup=False, highlight=False)
    else:
        err.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
        if exc.hint:
            err.print(f"  [bold]fix:[/] {escape(exc.hint)}", highlight=False)
        if log is not None and log.path is not None and log.path.exists():
            command = shlex.join(["netlab", "log", log.path.parent.name])
            err.print(f"  every command netlab ran is in: {escape(command)}",
                      style="dim", highlight=False)
    raise typer.Exit(exc.exit_code)


def open_session(lab: str, provider: str | None, must_be_up: bool = False, salvage: bool = False,
                 name: str | None = None) -> Session:
    from netlab.cmdlog import active
    from netlab.lifecycle import open_lab

    if provider is not None:
        check_provider_name(provider)
    session = open_lab(lab, provider, must_be_up=must_be_up, salvage=salvage, name=name)
    log = active()
    if log is not None:
        log.attach(session.provider.state.dir)
    return session


def load_lab_ref(ref: str) -> Lab:
    """A catalog lab, a lab file, or (when neither) the lab of that name that is up on this machine."""
    from netlab import catalog
    from netlab.model import Lab
    from netlab.model.lab import LAB_NAME_RE
    from netlab.state import LabState

    try:
        return catalog.load(ref)
    except LabError:
        raise
    except NetlabError:
        if LAB_NAME_RE.fullmatch(ref):
            state = LabState(ref)
            if state.exists:
                record = state.read()
                if record.model is not None:
                    return Lab.model_validate(record.model)
        raise


def check_provider_name(provider: str) -> None:
    from netlab.providers import PROVIDER_NAMES

    if provider not in PROVIDER_NAMES:
        raise NetlabError(f"unknown provider {provider!r}", hint=f"use one of: {', '.join(PROVIDER_NAMES)}")


def check_box(box: str | None) -> None:
    """--box reaches the Vagrantfile (Ruby): it must be a box name as the lab file's `box` is."""
    from netlab.model.lab import BOX_RE

    if box is not None and not BOX_RE.fullmatch(box):
        raise NetlabError(f"--box {box!r} is not a Vagrant box name", hint="use a name like ubuntu/jammy64")
