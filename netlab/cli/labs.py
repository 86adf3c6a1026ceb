"""Commands on lab files, creating nothing: list, lint, explain, render, schema."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from netlab import catalog
from netlab.cli.app import LabArg, app, check_box, check_provider_name, fail, out
from netlab.errors import LabError, NetlabError


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


@app.command()
def explain(lab: LabArg) -> None:
    """Print, host by host, the exact commands that configure the lab, and the MTU budget."""
    from netlab.explain import budgets, router_scripts, scripts

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
        check_provider_name(provider)
        check_box(box)
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


