"""The verify report: a table of checks × hosts, then the evidence for every failure."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from netlab.model import Lab
from netlab.verify.checks import CHECKS
from netlab.verify.runner import VerifyResult


def print_report(console: Console, lab: Lab, result: VerifyResult) -> None:
    if not result.cases:
        console.print("[yellow]no check applies to this lab with these options[/]")
        return
    table = Table(title=f"netlab verify {lab.name}")
    table.add_column("check")
    for host in lab.hosts:
        table.add_column(host, justify="center")
    table.add_column("proves", style="dim")
    for name, check in CHECKS.items():
        mine = [c for c in result.cases if c.check == name]
        if not mine:
            continue
        cells = []
        for host in lab.hosts:
            on_host = [c for c in mine if c.host == host]
            ok = sum(result.outcome(c).passed for c in on_host)
            if not on_host:
                cells.append("[dim]–[/]")
            elif ok == len(on_host):
                cells.append(f"[green]✓ {ok}/{len(on_host)}[/]")
            else:
                cells.append(f"[bold red]✗ {ok}/{len(on_host)}[/]")
        table.add_row(name, *cells, check.proves)
    console.print(table)
    failed = [c for c in result.cases if not result.outcome(c).passed]
    for case in failed:
        outcome = result.outcome(case)
        console.print(f"[bold red]FAIL[/] {escape(case.id)} on {escape(case.host)}: {escape(outcome.summary)}",
                      highlight=False)
        for ev in outcome.evidence:
            console.print("  " + ev.render().replace("\n", "\n    "), markup=False, highlight=False,
                          style="dim")
    passed = len(result.cases) - len(failed)
    verdict = "[green]all checks pass[/]" if not failed else f"[bold red]{len(failed)} failed[/]"
    console.print(f"{passed} passed, {len(failed)} failed in {result.seconds:.2f} s: {verdict}")
