"""The `netlab` command line: thin, every command calls into the core and prints the result."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from netlab import catalog
from netlab.errors import LabError, NetlabError
from netlab.images.cli import image_app

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


@app.command("list")
def list_labs() -> None:
    """The lab catalog: name, tunnel types, hosts and title."""
    table = Table(title="netlab catalog")
    for col in ("lab", "tunnels", "hosts", "title"):
        table.add_column(col)
    for entry, lab in catalog.load_all():
        if isinstance(lab, LabError):
            table.add_row(entry.name, "[red]invalid[/]", "", escape(lab.issues[0].message))
            continue
        types = ", ".join(dict.fromkeys(t.kind.describe(t) for t in lab.tunnels))
        table.add_row(lab.name, types, str(len(lab.hosts)), escape(lab.title))
    out.print(table)


@app.command()
def lint(lab: LabArg) -> None:
    """Validate a lab file and create nothing: exit 0 when valid, 2 with every error otherwise."""
    try:
        model = catalog.load(lab)
    except NetlabError as exc:
        fail(exc)
    out.print(
        f"{catalog.resolve(lab)}: ok — lab {model.name}, {len(model.hosts)} hosts, "
        f"{len(model.tunnels)} tunnel{'s' if len(model.tunnels) != 1 else ''}",
        highlight=False,
    )


@app.command()
def explain(lab: LabArg) -> None:
    """Print, host by host, the exact commands that configure the lab, and the MTU budget."""
    from netlab.explain import budgets, scripts

    try:
        model = catalog.load(lab)
    except NetlabError as exc:
        fail(exc)
    out.print(f"[bold]{model.name}[/]: {escape(model.title)}", highlight=False)
    if model.description:
        out.print(model.description.rstrip(), style="dim", highlight=False, markup=False)
    out.print()
    out.print("[bold]Encapsulation[/]")
    for budget in budgets(model):
        out.print("  " + budget.sentence(), highlight=False, markup=False)
    for script in scripts(model):
        out.print()
        out.print(f"[bold]{script.host}[/] ({model.hosts[script.host].ip})", highlight=False)
        for command in script.commands:
            out.print("  " + command, markup=False, highlight=False)


@app.command()
def render(
    lab: LabArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="directory to write")],
    provider: Annotated[str, typer.Option(help="virtualbox | libvirt | qemu | netns")] = "virtualbox",
    box: Annotated[str | None, typer.Option(help="Vagrant box for every host")] = None,
) -> None:
    """Write the Vagrantfile, Ansible inventory, playbook and host_vars for a lab."""
    from netlab.configure.workdir import render_options
    from netlab.render import render as do_render

    try:
        _check_provider_name(provider)
        _check_box(box)
        model = catalog.load(lab)
        written = do_render(model, output, render_options(provider, model, box=box))
    except NetlabError as exc:
        fail(exc)
    out.print(f"rendered {model.name} for {provider} into {output}:", highlight=False, markup=False)
    for path in written:
        out.print(f"  {path}", highlight=False, markup=False)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the lab file format."""
    from netlab.schema import lab_schema_text

    sys.stdout.write(lab_schema_text())


ProviderOpt = Annotated[
    str | None,
    typer.Option("--provider", "-p", help="virtualbox | libvirt | qemu | netns (default: see docs)",
                 envvar=None),
]


def _session(lab: str, provider: str | None, must_be_up: bool = False, salvage: bool = False):  # -> Session
    from netlab.lifecycle import open_lab

    if provider is not None:
        _check_provider_name(provider)
    return open_lab(lab, provider, must_be_up=must_be_up, salvage=salvage)


def _check_provider_name(provider: str) -> None:
    from netlab.providers import PROVIDER_NAMES

    if provider not in PROVIDER_NAMES:
        raise NetlabError(f"--provider {provider!r} is not a provider", hint=f"use one of: {', '.join(PROVIDER_NAMES)}")


def _check_box(box: str | None) -> None:
    """--box reaches the Vagrantfile (Ruby): it must be a box name as the lab file's `box` is."""
    from netlab.model.lab import BOX_RE

    if box is not None and not BOX_RE.fullmatch(box):
        raise NetlabError(f"--box {box!r} is not a Vagrant box name", hint="use a name like ubuntu/jammy64")


@app.command()
def up(
    lab: LabArg,
    provider: ProviderOpt = None,
    via: Annotated[str, typer.Option(help="configure with: default (fastest) | ansible")] = "default",
    box: Annotated[str | None, typer.Option(help="Vagrant box for every host (virtualbox/libvirt)")] = None,
) -> None:
    """Create the lab's machines and wires, and configure the overlay."""
    import time

    from netlab.configure import VIAS
    from netlab.lifecycle import up as do_up

    if via not in VIAS:
        fail(NetlabError(f"--via {via} is not known", hint="use --via default or --via ansible"))
    start = time.monotonic()
    try:
        _check_box(box)
        session = _session(lab, provider)
        out.print(f"using [bold]{session.provider.name}[/]: {escape(session.why)}", highlight=False)
        with err.status(f"bringing {session.lab.name} up") as status:
            def progress(message: str) -> None:
                status.update(escape(f"{session.lab.name}: {message}"))
                err.print(f"  {message}", style="dim", highlight=False, markup=False)

            changes = do_up(session, progress, via=via, box=box)
    except NetlabError as exc:
        fail(exc)
    if changes == []:
        what = "nothing changed, it already matched the lab file"
    elif changes is None:
        what = f"{len(session.lab.hosts)} hosts"
    else:
        what = f"{len(changes)} change{'s' if len(changes) != 1 else ''}"
    out.print(
        f"[green]lab {escape(session.lab.name)} is up[/] ({what}, {time.monotonic() - start:.2f} s); "
        f"check it with: netlab verify {escape(lab)}",
        highlight=False,
    )


@app.command()
def down(lab: LabArg, provider: ProviderOpt = None) -> None:
    """Remove everything the lab created (also after an interrupted up)."""
    from netlab.lifecycle import down as do_down

    try:
        session = _session(lab, provider, salvage=True)
        do_down(session, lambda m: err.print(f"  {m}", style="dim", highlight=False, markup=False))
    except NetlabError as exc:
        fail(exc)
    out.print(f"lab {session.lab.name} is down", highlight=False)


@app.command()
def status(lab: LabArg, provider: ProviderOpt = None) -> None:
    """Hosts of a lab, their state and interfaces."""
    try:
        session = _session(lab, provider)
        hosts = session.provider.status()
    except NetlabError as exc:
        fail(exc)
    phase = session.provider.state.read().phase if session.provider.state.exists else "not up"
    out.print(f"lab {session.lab.name}: {phase} (provider {session.provider.name})", highlight=False)
    table = Table()
    for col in ("host", "state", "interface", "link", "mtu", "addresses"):
        table.add_column(col)
    for h in hosts:
        if not h.interfaces:
            table.add_row(h.host, h.state, "", "", "", "")
        for i, iface in enumerate(h.interfaces):
            table.add_row(
                h.host if i == 0 else "", h.state if i == 0 else "", iface["name"],
                str(iface["state"]), str(iface["mtu"]), " ".join(iface["addresses"]),
            )
    out.print(table)
    if any(h.state != "running" for h in hosts):
        raise typer.Exit(1)


def _run_on_host(lab: str, host: str, provider: str | None, command: list[str],
                 interactive: bool) -> NoReturn:
    import os
    import subprocess

    try:
        session = _session(lab, provider, must_be_up=True)
        if host not in session.lab.hosts:
            raise NetlabError(f"lab {session.lab.name} has no host {host!r}",
                              hint=f"hosts: {', '.join(session.lab.hosts)}")
        argv = session.provider.host_argv(host, command, interactive=interactive)
    except NetlabError as exc:
        fail(exc)
    if interactive:
        os.execvp(argv[0], argv)
    raise typer.Exit(subprocess.call(argv))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec(
    lab: LabArg,
    host: Annotated[str, typer.Argument(help="host name")],
    command: Annotated[list[str], typer.Argument(help="command to run (after --)")],
    provider: ProviderOpt = None,
) -> None:
    """Run a command on a host: netlab exec lab10 boxA -- ip -d link show vxlan0"""
    _run_on_host(lab, host, provider, command, interactive=False)


@app.command()
def ssh(lab: LabArg, host: Annotated[str, typer.Argument(help="host name")],
        provider: ProviderOpt = None) -> None:
    """An interactive shell on a host."""
    # bash when the host has it (every netlab image and Vagrant box does), else sh.
    shell = 'command -v bash >/dev/null && exec bash -l || exec sh -l'
    _run_on_host(lab, host, provider, ["sh", "-c", shell], interactive=True)


@app.command()
def capture(
    lab: LabArg,
    host: Annotated[str | None, typer.Option("--host", help="capture on this host's underlay NIC")] = None,
    count: Annotated[int, typer.Option("-c", "--count", help="stop after N packets")] = 20,
    write: Annotated[Path | None, typer.Option("-w", help="write a pcap file instead of printing")] = None,
    provider: ProviderOpt = None,
    filter: Annotated[list[str] | None, typer.Argument(help="tcpdump filter, e.g. udp port 4789")] = None,
) -> None:
    """tcpdump on the underlay: outer and inner headers of the overlay's packets."""
    import subprocess

    from netlab.capture import capture_argv

    try:
        session = _session(lab, provider, must_be_up=True)
        argv = capture_argv(session.provider, host, count, write, filter or [])
    except NetlabError as exc:
        fail(exc)
    if write is None:
        err.print("  " + " ".join(argv), style="dim", highlight=False, markup=False)
        raise typer.Exit(subprocess.call(argv))
    try:
        sink = write.open("wb")
    except OSError as exc:
        fail(NetlabError(f"cannot write {write}: {exc.strerror}", hint="give -w a file in a directory you can write"))
    err.print("  " + " ".join(argv), style="dim", highlight=False, markup=False)
    with sink:
        code = subprocess.call(argv, stdout=sink)
    out.print(f"wrote {write}", highlight=False, markup=False)
    raise typer.Exit(code)


@app.command()
def verify(
    lab: LabArg,
    provider: ProviderOpt = None,
    junit_xml: Annotated[Path | None, typer.Option("--junit-xml", help="write a JUnit XML report")] = None,
    check: Annotated[list[str] | None, typer.Option("--check", "-k",
                     help="run only this check (repeatable)")] = None,
) -> None:
    """Prove the overlay works: every check for every host and tunnel it applies to."""
    import shutil
    import tempfile

    from netlab.verify.report import print_report
    from netlab.verify.runner import run_verify

    with tempfile.TemporaryDirectory(prefix="netlab-junit-") as tmp:
        # The report is written aside and copied at the end: a path that cannot be written costs
        # the JUnit file, never the results.
        staged = Path(tmp) / "junit.xml" if junit_xml is not None else None
        try:
            session = _session(lab, provider, must_be_up=True)
            result = run_verify(session.lab, session.provider, junit_xml=staged, only=check)
        except NetlabError as exc:
            fail(exc)
        print_report(out, session.lab, result)
        if junit_xml is not None and staged is not None and staged.exists():
            try:
                shutil.copyfile(staged, junit_xml)
            except OSError as exc:
                fail(NetlabError(f"cannot write --junit-xml {junit_xml}: {exc.strerror}",
                                 hint="give --junit-xml a file in a directory you can write"))
    raise typer.Exit(0 if result.passed else 1)


@app.command()
def doctor() -> None:
    """Which providers work on this machine, and what each is missing."""
    from netlab.doctor import diagnose

    table = Table(title="netlab providers on this machine")
    for col in ("provider", "works", "why", "fix"):
        table.add_column(col)
    for name, avail in diagnose():
        table.add_row(name, "[green]yes[/]" if avail.ok else "[red]no[/]", escape(avail.reason), escape(avail.fix))
    out.print(table)


app.add_typer(image_app, name="image", help="The VM image for the qemu provider: netlab image build.")


def main() -> None:
    try:
        app()
    except NetlabError as exc:  # raised outside a command's own handling
        err.print(str(exc), markup=False)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
