"""Proving a lab works, and what this machine can run: verify, doctor."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from netlab.cli.app import LabArg, ProviderOpt, app, fail, open_session, out
from netlab.errors import NetlabError


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
            session = open_session(lab, provider, must_be_up=True)
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


