"""Commands on lab files, creating nothing: list, lint, explain, render, schema."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from netlab import catalog
from netlab.cli.app import (
    LabArg,
    app,
    check_box,
    check_provider_name,
    complete_provider,
    examples,
    fail,
    load_lab_ref,
    out,
    print_json,
)
from netlab.errors import LabError, NetlabError

if TYPE_CHECKING:
    from netlab.model import Lab


@app.command("list", epilog=examples("netlab list", "netlab list --json | jq -r '.[].name'"))
def list_labs(
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON array: name, file, title, tunnels "
                                          "(name, type, mode), hosts, routers; an invalid lab has its errors")]
    = False,
) -> None:
    """The lab catalog: name, tunnel types, hosts and title."""
    labs = catalog.load_all()
    if as_json:
        print_json([_catalog_row(entry, lab) for entry, lab in labs])
        return
    table = Table(title="netlab catalog")
    for col in ("lab", "tunnels", "hosts", "title"):
        table.add_column(col)
    for entry, lab in labs:
        if isinstance(lab, LabError):
            table.add_row(entry.name, "[red]invalid[/]", "", escape(lab.issues[0].message))
            continue
        types = ", ".join(dict.fromkeys(t.kind.describe(t) for t in lab.tunnels))
        table.add_row(lab.name, types, str(len(lab.hosts)), escape(lab.title))
    out.print(table)


def _catalog_row(entry: catalog.CatalogEntry, lab: Lab | LabError) -> dict[str, Any]:
    if isinstance(lab, LabError):
        return {"name": entry.name, "file": str(entry.path), "valid": False,
                "errors": [issue.message for issue in lab.issues]}
    return {
        "name": lab.name, "file": str(entry.path), "valid": True, "title": lab.title,
        "tunnels": [{"name": t.name, "type": t.type, "mode": t.effective_mode} for t in lab.tunnels],
        "types": list(dict.fromkeys(t.kind.describe(t) for t in lab.tunnels)),
        "hosts": list(lab.hosts), "routers": list(lab.routers),
    }


@app.command(epilog=examples("netlab lint labs/lab10.yml", "netlab lint my-lab.yml && sudo netlab up my-lab.yml"))
def lint(lab: LabArg) -> None:
    """Validate a lab file and create nothing: exit 0 when valid, 2 with every error otherwise."""
    from netlab.model.load import load_lab_with_warnings

    try:
        path = catalog.resolve(lab)
        model, warnings = load_lab_with_warnings(path)
    except NetlabError as exc:
        fail(exc)
    for warning in warnings:
        out.print(f"{warning.format(str(path))} (warning)", highlight=False, markup=False)
    routers = f", {len(model.routers)} router{'s' if len(model.routers) != 1 else ''}" if model.routers else ""
    out.print(
        f"{path}: ok — lab {model.name}, {len(model.hosts)} hosts{routers}, "
        f"{len(model.tunnels)} tunnel{'s' if len(model.tunnels) != 1 else ''}"
        + (f", {len(warnings)} warning{'s' if len(warnings) != 1 else ''}" if warnings else ""),
        highlight=False, markup=False,
    )


@app.command(epilog=examples("netlab explain lab10", "netlab explain lab10-routed --json | jq '.hosts[0].commands'"))
def explain(
    lab: LabArg,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object: budgets, hosts and routers "
                                          "with their commands")] = False,
) -> None:
    """Print, host by host, the exact commands that configure the lab, and the MTU budget."""
    from netlab.explain import budgets, router_scripts, scripts

    try:
        model = load_lab_ref(lab)
    except NetlabError as exc:
        fail(exc)
    if as_json:
        print_json(_explain_json(model))
        return
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
    for router in router_scripts(model):
        joins = ", ".join(f"{seg} {ip}" for seg, ip in model.routers[router.router].interfaces.items())
        out.print()
        out.print(f"[bold]{router.router}[/] (router: {joins})", highlight=False)
        for command in router.commands:
            out.print("  " + command, markup=False, highlight=False)
        if router.mroutes:
            out.print("  # smcroute.conf (smcrouted routes the lab's multicast groups):", markup=False,
                      highlight=False)
            for line in router.mroutes:
                out.print("  " + line, markup=False, highlight=False)


def _explain_json(model: Lab) -> dict[str, Any]:
    from netlab.explain import budgets, router_scripts, scripts
    from netlab.render.scripts import command_lines

    return {
        "lab": model.name, "title": model.title, "description": model.description,
        "budgets": [{"tunnel": b.tunnel.name, "type": b.tunnel.type, "overhead": b.overhead,
                     "breakdown": b.breakdown, "underlay_mtu": b.underlay_mtu, "mtu": b.mtu,
                     "sentence": b.sentence()} for b in budgets(model)],
        "hosts": [{"host": s.host, "ip": model.hosts[s.host].ip, "commands": s.commands,
                   "underlay": command_lines(s.underlay), "overlay": command_lines(s.overlay)}
                  for s in scripts(model)],
        "routers": [{"router": r.router, "interfaces": dict(model.routers[r.router].interfaces),
                     "commands": list(r.commands), "smcroute": list(r.mroutes)} for r in router_scripts(model)],
    }


@app.command(epilog=examples("netlab render lab10 --provider virtualbox -o lab10 && cd lab10 && vagrant up"))
def render(
    lab: LabArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="directory to write")],
    provider: Annotated[str, typer.Option(help="the provider the files are for",
                                          metavar="virtualbox|libvirt|qemu|netns",
                                          autocompletion=complete_provider)] = "virtualbox",
    box: Annotated[str | None, typer.Option(help="Vagrant box for every host")] = None,
) -> None:
    """Write the Vagrantfile, Ansible inventory, playbook and host_vars for a lab."""
    from netlab.configure.workdir import render_options
    from netlab.render import render as do_render

    try:
        check_provider_name(provider)
        check_box(box)
        model = catalog.load(lab)
        written = do_render(model, output, render_options(provider, model, box=box))
    except NetlabError as exc:
        fail(exc)
    out.print(f"rendered {model.name} for {provider} into {output}:", highlight=False, markup=False)
    for path in written:
        out.print(f"  {path}", highlight=False, markup=False)


@app.command(epilog=examples("netlab schema > lab.schema.json"))
def schema() -> None:
    """Print the JSON Schema of the lab file format."""
    from netlab.schema import lab_schema_text

    sys.stdout.write(lab_schema_text())


