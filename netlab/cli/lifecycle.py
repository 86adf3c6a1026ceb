"""Bringing labs up and down, and what they look like: up, down, status."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from netlab.cli.app import (
    LabArg,
    ProviderOpt,
    app,
    check_box,
    err,
    examples,
    fail,
    info,
    note,
    open_session,
    out,
    print_json,
    quiet,
)
from netlab.errors import NetlabError
from netlab.providers.base import HostStatus, MachineEvent

if TYPE_CHECKING:
    from netlab.model import Lab


@app.command(epilog=examples("sudo netlab up lab10", "sudo netlab up lab10-routed --provider qemu --no-overlay"))
def up(
    lab: LabArg,
    provider: ProviderOpt = None,
    via: Annotated[str, typer.Option(help="configure with: default (fastest) | ansible", metavar="default|ansible")]
    = "default",
    box: Annotated[str | None, typer.Option(help="Vagrant box for every host (virtualbox/libvirt)")] = None,
    no_overlay: Annotated[bool, typer.Option("--no-overlay", help="machines, underlay and routers only: "
                                             "students build the tunnels (netlab verify grades them)")] = False,
    name: Annotated[str | None, typer.Option("--name", help="run the lab under another name (one per "
                                             "student); every other command then takes that name")] = None,
    inventory: Annotated[str | None, typer.Option("--inventory", help="provider ssh: an Ansible inventory naming "
                                                  "the existing machines that are the lab's hosts")] = None,
) -> None:
    """Create the lab's machines and wires, and configure the overlay.

    Run again after editing the lab file: the running lab is made equal to the file, and netlab
    says what changed. The netns provider (the default on Linux) needs root: run netlab with sudo.
    VMs (qemu) take minutes under emulation: each VM's progress is shown (booting, ssh ready,
    configured), and every command netlab runs is kept in the lab's log (`netlab log LAB`)."""
    import time

    from netlab.cli.progress import UpProgress
    from netlab.configure import VIAS
    from netlab.lifecycle import up as do_up

    if via not in VIAS:
        fail(NetlabError(f"--via {via} is not known", hint="use --via default or --via ansible"))
    start = time.monotonic()
    try:
        check_box(box)
        session = open_session(lab, provider, name=name)
        if inventory is not None and session.provider.name == "ssh" and Path(inventory).is_file():
            # Read before up records anything: a wrong inventory (a netns lab's) leaves no lab behind.
            from netlab.providers.ssh.targets import read_inventory

            read_inventory(Path(inventory).resolve(), list(session.lab.hosts))
        if not quiet():
            out.print(f"using [bold]{session.provider.name}[/]: {escape(session.why)}", highlight=False)
        with UpProgress(session.lab.name, err, quiet=quiet()) as shown:
            def progress(message: str) -> None:
                note(message)
                shown.message(message)

            def machine(event: MachineEvent) -> None:
                note(f"{event.machine}: {event.stage}")
                shown.event(event)

            session.provider.on_machine = machine
            changes = do_up(session, progress, via=via, box=box, overlay=not no_overlay, inventory=inventory)
            shown.configured()
    except NetlabError as exc:
        fail(exc)
    if changes == []:
        what = "nothing changed, it already matched the lab file"
    elif changes is None:
        what = f"{len(session.lab.hosts)} hosts"
    else:
        what = f"{len(changes)} change{'s' if len(changes) != 1 else ''}"
    ref = session.lab.name if name else lab
    out.print(
        f"[green]lab {escape(session.lab.name)} is up[/] ({what}, {time.monotonic() - start:.2f} s); "
        f"check it with: {escape(shlex.join(['netlab', 'verify', ref]))}",
        highlight=False,
    )
    if no_overlay and not quiet():
        out.print(f"exercise mode: no tunnels yet. Build them by hand ({escape(shlex.join(['netlab', 'ssh', ref]))} "
                  f"HOST; `{escape(shlex.join(['netlab', 'explain', lab]))}` is the answer key), then: "
                  f"{escape(shlex.join(['netlab', 'verify', ref]))}",
                  highlight=False)


@app.command(epilog=examples("sudo netlab down lab10", "sudo netlab down lab10-routed"))
def down(lab: LabArg, provider: ProviderOpt = None) -> None:
    """Remove everything the lab created (also after an interrupted up), its log too."""
    from netlab.lifecycle import down as do_down

    try:
        session = open_session(lab, provider, salvage=True)
    except NetlabError as exc:
        # No lab file nor readable record describes it: remove what is left of it, if anything.
        from netlab.leftovers import down as down_leftovers

        try:
            removed = down_leftovers(lab, info)
        except NetlabError as inner:
            fail(inner)
        if not removed:
            fail(exc)
        out.print(f"lab {lab} is down (removed what was left of it)", highlight=False, markup=False)
        return
    try:
        do_down(session, info)
    except NetlabError as exc:
        fail(exc)
    out.print(f"lab {session.lab.name} is down", highlight=False)


@app.command(epilog=examples("sudo netlab status lab10",
                             "sudo netlab status tenants --json | jq '.tenants[] | {tenant, host, state}'"))
def status(
    lab: LabArg,
    provider: ProviderOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object: lab, provider, phase, mode, hosts "
                                          "(host, state, interfaces), tenants (tenant, host, tunnel, bridge, "
                                          "state, interfaces)")] = False,
) -> None:
    """Hosts and tenants of a lab, their state and interfaces (exit 1 when one is not running)."""
    try:
        session = open_session(lab, provider)
        found = session.provider.status()
        tenants = [h for h in found if h.host in session.lab.tenants]
        hosts = [h for h in found if h.host not in session.lab.tenants]
        if session.lab.tenants and not tenants:  # VMs: each tenant is read inside its host
            tenants = session.provider.tenant_status({h.host for h in hosts if h.state == "running"})
    except NetlabError as exc:
        fail(exc)
    record = session.provider.state.read()
    phase = record.phase if session.provider.state.exists else "not up"
    mode = mode_of(record.overlay) if session.provider.state.exists else ""
    running = all(h.state == "running" for h in (*hosts, *tenants))
    if as_json:
        print_json({"lab": session.lab.name, "provider": session.provider.name, "phase": phase, "mode": mode,
                    "running": running,
                    "hosts": [{"host": h.host, "state": h.state, "interfaces": h.interfaces} for h in hosts],
                    "tenants": [{"tenant": h.host, **_tenant_place(session.lab, h.host), "state": h.state,
                                 "interfaces": h.interfaces} for h in tenants]})
        raise typer.Exit(0 if running else 1)
    out.print(f"lab {session.lab.name}: {phase}{', ' + mode if mode else ''} (provider {session.provider.name})",
              highlight=False)
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
    if tenants:
        _print_tenants(session.lab, tenants)
    if not running:
        raise typer.Exit(1)


def _tenant_place(lab: Lab, tenant: str) -> dict[str, str | None]:
    spec = lab.tenants[tenant]
    return {"host": spec.host, "tunnel": spec.tunnel, "bridge": lab.tunnel(spec.tunnel).bridge}


def _print_tenants(lab: Lab, tenants: list[HostStatus]) -> None:
    """One row a tenant: where it lives (host, bridge, tunnel) and its eth0 as it sees it."""
    from netlab.render.tenants import TENANT_IFNAME

    table = Table(title="tenants")
    for col in ("tenant", "host", "bridge", "tunnel", "state", "eth0", "mtu", "address"):
        table.add_column(col)
    for t in tenants:
        place = _tenant_place(lab, t.host)
        eth0 = next((i for i in t.interfaces if i["name"] == TENANT_IFNAME), None)
        table.add_row(t.host, str(place["host"]), str(place["bridge"]), str(place["tunnel"]), t.state,
                      str(eth0["state"]) if eth0 else "missing", str(eth0["mtu"]) if eth0 else "",
                      " ".join(eth0["addresses"]) if eth0 else "")
    out.print(table)


def mode_of(overlay: bool) -> str:
    """Which state a lab is kept in: the students build the tunnels, or netlab has built them."""
    return "full overlay" if overlay else "exercise"


@app.command("ls", epilog=examples("netlab ls", "netlab ls --json"))
def list_running(
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON array")] = False,
) -> None:
    """Every lab up on this machine: name, lab file, provider, phase, mode (exercise or full
    overlay), hosts, since."""
    from netlab.errors import NetlabError as Damaged
    from netlab.state import LabState, active_labs

    rows = []
    for name in active_labs():
        try:
            record = LabState(name).read()
        except Damaged:
            rows.append({"name": name, "lab_file": "", "provider": "?", "phase": "damaged state", "mode": "?",
                         "hosts": 0, "since": ""})
            continue
        hosts = len((record.model or {}).get("hosts", {}))
        rows.append({"name": name, "lab_file": record.source, "provider": record.provider or "?",
                     "phase": record.phase, "mode": mode_of(record.overlay), "hosts": hosts,
                     "since": record.since})
    from netlab.leftovers import orphans

    for orphan in orphans():
        rows.append({"name": orphan.lab, "lab_file": "", "provider": "?", "phase": "orphaned: no state owns it",
                     "hosts": 0, "since": "", "left": orphan.what, "fix": orphan.fix})
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no lab is up on this machine", highlight=False)
        return
    table = Table(title="labs up on this machine")
    # Folded, never cut: a name or a lab file with an ellipsis is one a teacher cannot type.
    # A name is at most 16 characters: whole, on one line; the rest wrap (words) or fold (paths).
    table.add_column("name", no_wrap=True, min_width=max(len(str(r["name"])) for r in rows))
    for col in ("lab file", "provider", "phase", "mode", "hosts", "since (UTC)"):
        table.add_column(col, overflow="fold")
    for row in rows:
        since = str(row.get("since", "")).replace("T", " ")[:16]  # to the minute: 2026-12-03 14:20
        # .get: a row of another kind (an orphan) may have no mode.
        table.add_row(*(escape(str(row.get(k, ""))) for k in ("name", "lab_file", "provider", "phase", "mode",
                                                              "hosts")), escape(since))
    out.print(table)
    for row in rows:
        if "fix" in row:
            out.print(f"left behind: {row['left']}; remove with: {row['fix']}", highlight=False, markup=False)
