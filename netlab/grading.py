"""`netlab grade`: verify many running labs (one per student) and score each.

A check earns its points (the lab file's `points`, default 1) when every one of its results
passes; the first cause of the diagnosis says what to look at first.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass

from netlab.errors import NetlabError
from netlab.lifecycle import open_lab
from netlab.model import Lab
from netlab.verify.runner import VerifyResult, run_verify


@dataclass(frozen=True)
class Grade:
    lab: str
    passed: int
    failed: int
    points: int
    max_points: int
    first_cause: str


def score(lab: Lab, result: VerifyResult) -> tuple[int, int]:
    """(points earned, points possible) for the checks that applied."""
    earned = possible = 0
    for check in dict.fromkeys(c.check for c in result.cases):
        worth = (lab.points or {}).get(check, 1)
        possible += worth
        if all(result.outcome(c).passed for c in result.cases if c.check == check):
            earned += worth
    return earned, possible


def first_cause(result: VerifyResult) -> str:
    causes = getattr(result, "causes", None) or []
    if causes:
        return str(causes[0].summary)
    failed = [c for c in result.cases if not result.outcome(c).passed]
    return f"{failed[0].id} on {failed[0].host}: {result.outcome(failed[0]).summary}" if failed else ""


def grade(ref: str) -> Grade:
    """One lab that is up (a name from netlab ls), verified and scored."""
    session = open_lab(ref, must_be_up=True)
    result = run_verify(session.lab, session.provider)
    passed = sum(result.outcome(c).passed for c in result.cases)
    earned, possible = score(session.lab, result)
    return Grade(session.lab.name, passed, len(result.cases) - passed, earned, possible, first_cause(result))


def grade_all(refs: list[str]) -> list[Grade]:
    grades = []
    for ref in refs:
        try:
            grades.append(grade(ref))
        except NetlabError as exc:
            # A lab that is not up (or is broken beyond checking) scores nothing, and says why.
            grades.append(Grade(ref, 0, 0, 0, 0, f"not graded: {exc.message.splitlines()[0]}"))
    return grades


FIELDS = ("lab", "passed", "failed", "points", "max_points", "first_cause")


def as_csv(grades: list[Grade]) -> str:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for g in grades:
        writer.writerow(asdict(g))
    return text.getvalue()


def as_rows(grades: list[Grade]) -> list[dict[str, object]]:
    return [asdict(g) for g in grades]
