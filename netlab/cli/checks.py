"""Proving a lab works: verify."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from netlab.cli.app import LabArg, ProviderOpt, app, fail, open_session, out
from netlab.errors import NetlabError

if TYPE_CHECKING:
    from netlab.definition import Definition
    from netlab.model import Lab
    from netlab.state import LabState


def unfinished_up(state: LabState, name: str) -> str | None:
    """What to say first when the lab's last `up` did not finish (its phase is not "up")."""
    try:
        phase = state.read().phase
    except Exception:  # a damaged or missing state: open_session has its own words for that
        return None
    if phase == "up":
        return None
    return f"lab {name}'s last `up` did not finish (phase {phase}): run `netlab up {name}` to finish it"


def against(lab: Lab, state: LabState, source: str) -> Definition | None:
    """Which definition verify used: the one stored at up (`verify NAME`) or the file now."""
    from netlab.definition import of

    try:
        return of(lab, state.read(), source)
    except Exception:  # a damaged state: open_session has its own words for that
        return None


@app.command()
def verify(
    lab: LabArg,
    provider: ProviderOpt = None,
    junit_xml: Annotated[Path | None, typer.Option("--junit-xml", help="write a JUnit XML report")] = None,
    check: Annotated[list[str] | None, typer.Option("--check", "-k",
                     help="run only this check (repeatable)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object: results and causes")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="every failure's whole evidence (default: the short "
                     "evidence of failures no cause explains)")]
    = False,
    no_hints: Annotated[bool, typer.Option("--no-hints", help="hide the lab's expected values (for students)")]
    = False,
    via: Annotated[str, typer.Option(help="run the checks with: default (fastest) | pytest (as pytest tests, "
                                     "same results)", metavar="default|pytest")] = "default",
) -> None:
    """Prove the overlay works: every check for every host and tunnel it applies to."""
    import json
    import shutil
    import tempfile

    from netlab.verify.report import as_json, print_report
    from netlab.verify.runner import run_verify

    with tempfile.TemporaryDirectory(prefix="netlab-junit-") as tmp:
        # The report is written aside and copied at the end: a path that cannot be written costs
        # the JUnit file, never the results.
        staged = Path(tmp) / "junit.xml" if junit_xml is not None else None
        try:
            session = open_session(lab, provider, must_be_up=True)
            note = unfinished_up(session.provider.state, session.lab.name)
            definition = against(session.lab, session.provider.state, session.source)
            if note and not json_out:
                out.print(f"[bold yellow]{escape(note)}[/]", highlight=False)
            result = run_verify(session.lab, session.provider, junit_xml=staged, only=check, via=via,
                                hints=not no_hints)
        except NetlabError as exc:
            fail(exc)
        if json_out:
            data = as_json(session.lab, session.provider.name, result, verbose, not no_hints, note)
            if definition is not None:
                data["definition"] = definition.as_json()
            print(json.dumps(data, indent=1))
        else:
            print_report(out, session.lab, result, verbose=verbose, hints=not no_hints)
            if definition is not None:
                out.print(escape(definition.describe()), highlight=False)
            if note:
                out.print(f"[bold yellow]{escape(note)}[/]", highlight=False)
        if junit_xml is not None and staged is not None and staged.exists():
            try:
                shutil.copyfile(staged, junit_xml)
            except OSError as exc:
                fail(NetlabError(f"cannot write --junit-xml {junit_xml}: {exc.strerror}",
                                 hint="give --junit-xml a file in a directory you can write"))
    raise typer.Exit(0 if result.passed and note is None else 1)
