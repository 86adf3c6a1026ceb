"""The verify report: the causes first, then a table of checks × hosts, then every failure in one
line and the evidence (short) of those no cause explains; `verbose` shows every failure's whole
evidence. Or one JSON object (`as_json`), which always has every failure's evidence."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from netlab.model import Lab
from netlab.verify.checks import CHECKS
from netlab.verify.redact import SHOW_ALL, Redactor
from netlab.verify.runner import VerifyResult


def _summary(outcome: Any, hints: bool) -> str:
    return outcome.summary if hints or outcome.student is None else outcome.student


def redactor(lab: Lab, hints: bool) -> Redactor:
    """What the report shows of the lab's values: all of them, or (--no-hints) none."""
    return SHOW_ALL if hints else Redactor(lab)


def print_report(console: Console, lab: Lab, result: VerifyResult, verbose: bool = False,
                 hints: bool = True) -> None:
    if not result.cases:
        console.print("[yellow]no check applies to this lab with these options[/]")
        return
    hide = redactor(lab, hints)
    if result.causes:
        console.print(f"[bold]{'Cause' if len(result.causes) == 1 else 'Causes'}, most failures first:[/]")
        for n, cause in enumerate(result.causes, 1):
            text = hide(cause.summary if hints else cause.student)
            count = len(cause.explains)
            shown = cause.explains if verbose else cause.explains[:8]
            console.print(f"[bold red]{n}.[/] [bold]{escape(cause.host)}[/]: {escape(text)}", highlight=False)
            console.print(f"   [dim]explains {count} failed result{'s' if count != 1 else ''}: "
                          f"{escape(hide(', '.join(shown)))}{' ...' if count > len(shown) else ''}[/]",
                          highlight=False)
        console.print()
    table = Table(title=f"netlab verify {lab.name}")
    table.add_column("check")
    for host in lab.hosts:
        table.add_column(host, justify="center")
    table.add_column("proves", style="dim")
    by_check: dict[str, dict[str, list[bool]]] = {}
    for case in result.cases:
        by_check.setdefault(case.check, {}).setdefault(case.host, []).append(result.outcome(case).passed)
    for name, check in CHECKS.items():
        if name not in by_check:
            continue
        cells = []
        for host in lab.hosts:
            on_host = by_check[name].get(host, [])
            ok = sum(on_host)
            if not on_host:
                cells.append("[dim]–[/]")
            elif ok == len(on_host):
                cells.append(f"[green]✓ {ok}/{len(on_host)}[/]")
            else:
                cells.append(f"[bold red]✗ {ok}/{len(on_host)}[/]")
        table.add_row(name, *cells, check.proves)
    console.print(table)
    failed = result.failed
    # A cause already says what went wrong for the failures it explains: repeating each one's
    # evidence buried the failures no cause explains (one wrong VNI printed 89 lines). So by
    # default an explained failure is one line naming its cause; -v shows its evidence too.
    cause_of = {i: n for n, cause in reversed(list(enumerate(result.causes, 1))) for i in cause.explains}
    quiet_evidence = 0
    for case in failed:
        outcome = result.outcome(case)
        cause = cause_of.get(case.id)
        console.print(f"[bold red]FAIL[/] {escape(hide(case.id))} on {escape(case.host)}: "
                      f"{escape(hide(_summary(outcome, hints)))}"
                      + (f" [dim](cause {cause})[/]" if cause is not None else ""),
                      highlight=False)
        if cause is not None and not verbose:
            quiet_evidence += bool(outcome.evidence)
            continue
        for ev in outcome.evidence:
            console.print("  " + hide(ev.render(verbose)).replace("\n", "\n    "), markup=False, highlight=False,
                          style="dim")
    if quiet_evidence:
        console.print(f"[dim]evidence of the failures a cause explains: netlab verify {escape(lab.name)} -v[/]",
                      highlight=False)
    passed = len(result.cases) - len(failed)
    verdict = "[green]all checks pass[/]" if not failed else f"[bold red]{len(failed)} failed[/]"
    console.print(f"{passed} passed, {len(failed)} failed in {result.seconds:.2f} s: {verdict}")


def as_json(lab: Lab, provider: str, result: VerifyResult, verbose: bool = False, hints: bool = True,
            note: str | None = None) -> dict[str, Any]:
    """The report as one JSON object (the teaching interface's shape)."""
    results = []
    for case in result.cases:
        outcome = result.outcome(case)
        results.append({
            "id": case.id, "check": case.check, "host": case.host,
            "target": case.peer_tenant or case.peer or case.other_tunnel or case.tunnel,
            "passed": outcome.passed, "summary": _summary(outcome, hints),
            "evidence": [e.render(verbose) for e in outcome.evidence],
        })
    failed = len(result.failed)
    data: dict[str, Any] = {
        "lab": lab.name, "provider": provider, "passed": len(result.cases) - failed, "failed": failed,
        "seconds": round(result.seconds, 3), "results": results,
        "causes": [c.as_json(hints) for c in result.causes],
    }
    if note:
        data["note"] = note
    return redactor(lab, hints).data(data)
