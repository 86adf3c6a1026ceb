"""Bringing labs up and down, and what they look like: up, down, status."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from netlab.cli.app import LabArg, ProviderOpt, app, check_box, err, fail, open_session, out
from netlab.errors import NetlabError


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
        check_box(box)
        session = open_session(lab, provider)
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
        session = open_session(lab, provider, salvage=True)
        do_down(session, lambda m: err.print(f"  {m}", style="dim", highlight=False, markup=False))
    except NetlabError as exc:
        fail(exc)
    out.print(f"lab {session.lab.name} is down", highlight=False)


@app.command()
def status(lab: LabArg, provider: ProviderOpt = None) -> None:
    """Hosts of a lab, their state and interfaces."""
    try:
        session = open_session(lab, provider)
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


