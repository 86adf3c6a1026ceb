"""Break-and-fix for a class: break, reset."""

from __future__ import annotations

import random
import shlex
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from netlab.cli.app import (
    LabArg,
    ProviderOpt,
    app,
    complete_host,
    examples,
    fail,
    info,
    open_session,
    out,
    print_json,
)
from netlab.errors import NetlabError


@app.command("break", epilog=examples("sudo netlab break lab10 wrong-vni --host boxB",
                                      "sudo netlab break lab10 && sudo netlab break lab10 --reveal"))
def break_lab(
    lab: LabArg,
    fault: Annotated[str | None, typer.Argument(help="a fault from --list; default: one at random")] = None,
    host: Annotated[str | None, typer.Option("--host", help="break this host (default: any)",
                                             autocompletion=complete_host)] = None,
    list_faults: Annotated[bool, typer.Option("--list", help="the faults that apply to this lab now")] = False,
    reveal: Annotated[bool, typer.Option("--reveal", help="say which faults the lab has now (for the teacher)")]
    = False,
    provider: ProviderOpt = None,
) -> None:
    """Apply a named fault to a running lab, for a student to find and fix.

    Without FAULT one is picked at random and not named (`--reveal` tells the teacher). Faults
    apply to what exists: in an exercise lab (up --no-overlay) to the devices the students built.
    `netlab reset LAB` undoes them."""
    from netlab import faults

    try:
        session = open_session(lab, provider, must_be_up=True)
        model, state = session.lab, session.provider.state
        if host is not None and host in model.routers:  # not "no host": say what a router can break
            nic = next(iter(model.router_nics(host).values()))
            raise NetlabError(f"{host} is a router of lab {model.name}: netlab break's faults are on the hosts' "
                              "tunnels, and a router has none (it only forwards)",
                              hint=f"break a host ({', '.join(model.hosts)}), or the router by hand, e.g. cut "
                                   f"a segment off: "
                                   + shlex.join(["netlab", "exec", lab, host, "--", "ip", "link", "set", nic, "down"]))
        record = state.read()
        if list_faults or reveal:
            faults.check_host(model, host)
            seen = faults.survey(session.provider, record.faults, exercise=not record.overlay)
            if list_faults:
                _print_list(faults.listing(model, seen, host, lab))
            else:
                _print_lines(faults.revealed(model, seen))
            return
        with state.locked():
            # Looked at under the lock: another break may be changing the lab.
            seen = faults.survey(session.provider, state.read().faults, exercise=not record.overlay)
            name, target = faults.choose(model, seen, fault, host, random.SystemRandom(), lab)
            commands, entry = faults.plan(session.provider, seen, name, target)
            kept = [r for r in seen.broken if (r["host"], r["tunnel"]) != (target.host, target.tunnel)]
            # Recorded first, and kept if it fails half way: a reset still knows there may be a
            # fault (and, in an exercise lab, the student's device as it was); --reveal lists it
            # only if the hosts show it.
            state.set(faults=[*kept, entry])
            faults.run(session.provider, commands, target, name)
    except NetlabError as exc:
        fail(exc)
    if fault is None:
        verify = shlex.join(["netlab", "verify", lab])
        out.print(f"lab {escape(model.name)} has a fault now: find it ({escape(verify)}), fix it, "
                  "verify again", highlight=False)
    else:
        out.print(f"applied {name} to {target.host} {target.tunnel}", markup=False, highlight=False)


def _print_list(listing: tuple[str, list[tuple[str, str, str]]] | str) -> None:
    """A message (nothing applies), or a title and rows: fault, what it does, where."""
    if isinstance(listing, str):
        out.print(listing, markup=False, highlight=False)
        return
    title, rows = listing
    table = Table(title=title)
    for col in ("fault", "what it does", "where"):
        table.add_column(col)
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    out.print(table)


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        out.print(line, markup=False, highlight=False)


@app.command(epilog=examples("sudo netlab reset lab10"))
def reset(lab: LabArg, provider: ProviderOpt = None) -> None:
    """Undo `netlab break`. A lab up with its overlay gets the lab file's exact configuration back
    on every host, and loses what was added to it (an extra bridge, a stray address). An exercise
    lab (up --no-overlay) gets its exercise state back: machines, underlay and routers, no tunnel
    of netlab's; the students' own devices stay, those netlab broke as they were before."""
    from netlab import faults
    from netlab.configure import to_exercise
    from netlab.configure.ipbatch import apply_ip_batch

    try:
        session = open_session(lab, provider, must_be_up=True)
        state = session.provider.state
        with state.locked():
            record = state.read()
            if record.overlay:
                # The fast path on every provider: it converges over the provider's own way in
                # (ip -batch through netns or ssh), so every device that differs is rebuilt.
                changes = apply_ip_batch(session.provider, info, prune=True)
            else:
                broken = faults.survey(session.provider, record.faults, exercise=True).broken
                changes = [*(to_exercise(session.provider, info) or []),
                           *faults.restore(session.provider, broken)]
            state.set(faults=[])
    except NetlabError as exc:
        fail(exc)
    what = "nothing to reset" if not changes else f"{len(changes)} change{'s' if len(changes) != 1 else ''}"
    back = "its lab file" if record.overlay else "its exercise state (no tunnels of netlab's)"
    out.print(f"lab {escape(session.lab.name)} is back to {back} ({what})", highlight=False)


@app.command(epilog=examples("sudo netlab grade alice bob carol --csv grades.csv",
                             "sudo netlab grade alice bob --lab labs/lab10.yml --json"))
def grade(
    labs: Annotated[list[str], typer.Argument(help="labs that are up (names from netlab ls), e.g. alice bob")],
    csv_file: Annotated[str | None, typer.Option("--csv", help="write one row per lab to this CSV file")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON array instead of a table")] = False,
    lab_file: Annotated[str | None, typer.Option("--lab", help="regrade against this lab file as it is now "
                                                 "(default: the definition stored at up)")] = None,
    no_hints: Annotated[bool, typer.Option("--no-hints", help="hide the lab's expected values in the causes")]
    = False,
) -> None:
    """Verify many labs and score each: status, passed, failed, points, max points, first cause, and
    the lab definition it was graded against.

    A check is worth the lab file's `points:` for it (default 1), shared equally among its
    results (per host, tunnel and peer): a lab earns the share of every result that passes.
    Progress goes to standard error, one line per lab as it finishes."""
    from pathlib import Path

    from netlab.grading import RULE, Grade, as_csv, as_rows, grade_all, write_private

    if lab_file is not None:
        from netlab.model import load_lab

        try:
            load_lab(Path(lab_file))  # one clear error before any lab is graded
        except NetlabError as exc:
            fail(exc)

    def progress(done: int, total: int, g: Grade, seconds: float) -> None:
        what = (f"{g.points}/{g.max_points} points" if g.status == "graded" else g.status)
        info(f"graded {g.lab} ({done}/{total}): {what} in {seconds:.1f} s")

    grades = grade_all(labs, lab_file, hints=not no_hints, progress=progress)
    if csv_file is not None:
        try:
            write_private(Path(csv_file), as_csv(grades))
        except OSError as exc:
            fail(NetlabError(f"cannot write --csv {csv_file}: {exc.strerror}",
                             hint="give --csv a file in a directory you can write"))
    if as_json:
        print_json(as_rows(grades))
    else:
        table = Table(title="netlab grade")
        for col in ("lab", "status", "passed", "failed", "points", "first cause", "graded against"):
            table.add_column(col)
        for g in grades:
            graded = g.status == "graded"
            table.add_row(escape(g.lab), g.status, str(g.passed) if graded else "", str(g.failed) if graded else "",
                          f"{g.points}/{g.max_points}" if graded else "", escape(g.first_cause),
                          escape(g.definition))
        out.print(table)
        out.print(RULE, highlight=False, markup=False)
    raise typer.Exit(0 if all(g.status == "graded" and g.failed == 0 and g.max_points for g in grades) else 1)
