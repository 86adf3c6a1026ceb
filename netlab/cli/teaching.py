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
    list_faults: Annotated[bool, typer.Option("--list", help="the faults that apply to this lab")] = False,
    reveal: Annotated[bool, typer.Option("--reveal", help="say which faults the lab has (for the teacher)")] = False,
    provider: ProviderOpt = None,
) -> None:
    """Apply a named fault to a running lab, for a student to find and fix.

    Without FAULT one is picked at random and not named (`--reveal` tells the teacher).
    `netlab reset LAB` brings the lab's exact configuration back."""
    from netlab import faults

    try:
        session = open_session(lab, provider, must_be_up=True)
        model, state = session.lab, session.provider.state
        if host is not None and host in model.routers:  # not "no host": say what a router can break
            nic = next(iter(model.router_nics(host).values()))
            raise NetlabError(f"{host} is a router of lab {model.name}: netlab break's faults are on the hosts' "
                              "tunnels, and a router has none (it only forwards)",
                              hint=f"break a host ({', '.join(model.hosts)}), or the router by hand, e.g. cut "
                                   f"a segment off: netlab exec {lab} {host} -- ip link set {nic} down")
        if list_faults:
            table = Table(title=f"faults for {model.name}")
            for col in ("fault", "what it does", "where"):
                table.add_column(col)
            for name, targets in faults.applicable(model, host).items():
                where = ", ".join(dict.fromkeys(f"{t.host} {t.tunnel}" for t in targets))
                table.add_row(name, faults.FAULTS[name].what, escape(where))
            out.print(table)
            return
        if reveal:
            recorded = state.read().faults
            if not recorded:
                out.print(f"lab {escape(model.name)} has no fault from netlab break", highlight=False)
            for f in recorded:
                out.print(f"{f['fault']} on {f['host']} {f['tunnel']}: {faults.FAULTS[f['fault']].what}",
                          markup=False, highlight=False)
            return
        name, target = faults.choose(model, fault, host, random.SystemRandom())
        with state.locked():
            # Recorded first: a reset after a crash here still knows there may be a fault.
            state.set(faults=[*state.read().faults, {"fault": name, "host": target.host, "tunnel": target.tunnel}])
            faults.apply(session.provider, name, target)
    except NetlabError as exc:
        fail(exc)
    if fault is None:
        verify = shlex.join(["netlab", "verify", lab])
        out.print(f"lab {escape(model.name)} has a fault now: find it ({escape(verify)}), fix it, "
                  "verify again", highlight=False)
    else:
        out.print(f"applied {name} to {target.host} {target.tunnel}", markup=False, highlight=False)


@app.command(epilog=examples("sudo netlab reset lab10"))
def reset(lab: LabArg, provider: ProviderOpt = None) -> None:
    """Bring back the lab's exact configuration on every host, and remove what was added to it
    (an extra bridge, a stray address). Undoes `netlab break`."""
    from netlab.configure.ipbatch import apply_ip_batch

    try:
        session = open_session(lab, provider, must_be_up=True)
        state = session.provider.state

        with state.locked():
            # The fast path on every provider: it converges over the provider's own way in
            # (ip -batch through netns or ssh), so every device that differs is rebuilt.
            changes = apply_ip_batch(session.provider, info, prune=True)
            state.set(faults=[])
    except NetlabError as exc:
        fail(exc)
    what = "nothing to reset" if not changes else f"{len(changes)} change{'s' if len(changes) != 1 else ''}"
    out.print(f"lab {escape(session.lab.name)} is back to its lab file ({what})", highlight=False)


@app.command(epilog=examples("sudo netlab grade alice bob carol --csv grades.csv", "sudo netlab grade alice --json",
                             "sudo netlab grade alice bob --lab labs/lab10.yml"))
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
