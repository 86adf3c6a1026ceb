"""`netlab grade`: verify many running labs (one per student) and score each.

The rule (DESIGN.md: points are earned per result): a check is worth the lab file's `points`
for it (default 1), shared equally among its results (one per host, tunnel and peer); a lab earns
the share of every result that passes. So a student with boxA done and boxB half done earns about
half the points, not nothing.

Each lab is graded against the definition stored when it was brought up (or, with `--lab FILE`,
the file as it is now), and says which. A name that is not up is "missing"; a lab whose machines
are gone (a namespace deleted, a VM stopped) is "lab broken": that is the lab's failure, not the
student's, and it scores nothing either way. Labs are graded side by side.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

from netlab.definition import Definition
from netlab.definition import of as definition_of
from netlab.errors import NetlabError
from netlab.model import Lab, load_lab
from netlab.verify.redact import Redactor
from netlab.verify.runner import VerifyResult, run_verify

RULE = ("points: each check is worth its `points:` in the lab file (default 1), shared equally among "
        "its results (one per host, tunnel and peer); a lab earns the share of every result that passes")

# Labs graded at once. A broken lab spends most of its time waiting (pings that get no reply,
# captures that see nothing), not computing: on 2 cores 8 at once graded 30 broken labs in 11 s,
# 4 at once in 19 s (docs/performance.md). Bounded, so a class of 100 does not start 100
# verifies (each runs one batch per host) on a teacher's laptop.
WORKERS = max(2, min(8, 4 * (os.cpu_count() or 1)))


@dataclass(frozen=True)
class Grade:
    lab: str
    status: str  # graded | missing | lab broken | error
    passed: int | None
    failed: int | None
    points: float | None
    max_points: int | None
    first_cause: str
    definition: str = ""


def _number(value: float) -> float | int:
    """3.0 -> 3, 3.3333 -> 3.33: what a grade sheet shows."""
    rounded = round(value, 2)
    return int(rounded) if rounded == int(rounded) else rounded


def score(lab: Lab, result: VerifyResult) -> tuple[float | int, int]:
    """(points earned, points possible) for the checks that applied: each check's points shared
    among its results."""
    earned = 0.0
    possible = 0
    for check in dict.fromkeys(c.check for c in result.cases):
        worth = (lab.points or {}).get(check, 1)
        cases = [c for c in result.cases if c.check == check]
        possible += worth
        earned += worth * sum(result.outcome(c).passed for c in cases) / len(cases)
    return _number(earned), possible


def first_cause(result: VerifyResult, hints: bool = True) -> str:
    causes = getattr(result, "causes", None) or []
    if causes:
        return str(causes[0].summary if hints else causes[0].student)
    failed = [c for c in result.cases if not result.outcome(c).passed]
    if not failed:
        return ""
    outcome = result.outcome(failed[0])
    summary = outcome.summary if hints or outcome.student is None else outcome.student
    return f"{failed[0].id} on {failed[0].host}: {summary}"


def missing(ref: str, why: str) -> Grade:
    return Grade(ref, "missing", None, None, None, None, why)


def grade(ref: str, lab_file: str | None = None, hints: bool = True) -> Grade:
    """One lab that is up (a name from netlab ls), verified against its definition and scored."""
    from netlab.lifecycle import renamed
    from netlab.model.lab import LAB_NAME_RE
    from netlab.providers import provider_class
    from netlab.state import LabState

    if not LAB_NAME_RE.fullmatch(ref):
        return missing(ref, f"not graded: {ref!r} is not a lab name (netlab ls lists the labs that are up)")
    state = LabState(ref)
    if not state.exists:
        return missing(ref, f"not graded: no lab named {ref} is up (misspelt? netlab ls lists them)")
    record = state.read()
    if record.model is None or record.provider is None:
        return Grade(ref, "lab broken", None, None, None, None,
                     f"lab broken: its state has no lab definition (netlab down {ref}, then up again)")
    if lab_file is not None:
        lab = load_lab(Path(lab_file))
        lab = lab if lab.name == ref else renamed(lab, ref)
        definition = definition_of(lab, record, str(Path(lab_file).resolve()))
    else:
        lab = Lab.model_validate(record.model)
        definition = definition_of(lab, record)
    provider = provider_class(record.provider)(lab, state)
    result = run_verify(lab, provider)
    passed = sum(result.outcome(c).passed for c in result.cases)
    gone = [] if result.passed else [s.host for s in provider.status() if s.state != "running"]
    if gone:
        return Grade(ref, "lab broken", None, None, None, None,
                     f"lab broken: {', '.join(gone)} {'is' if len(gone) == 1 else 'are'} gone (not the student's "
                     f"doing; `netlab up {ref}` brings {'it' if len(gone) == 1 else 'them'} back)", _text(definition))
    earned, possible = score(lab, result)
    cause = first_cause(result, hints)
    return Grade(ref, "graded", passed, len(result.cases) - passed, earned, possible,
                 cause if hints else Redactor(lab)(cause), _text(definition))


def _text(definition: Definition) -> str:
    return definition.describe().removeprefix("lab definition: ")


Progress = Callable[[int, int, Grade, float], None]


def grade_all(refs: list[str], lab_file: str | None = None, hints: bool = True,
              progress: Progress | None = None, workers: int = WORKERS) -> list[Grade]:
    """Every lab, side by side (at most `workers` at once), in the order given; `progress` hears
    of each as it finishes (done so far, total, its grade, its seconds)."""
    def one(ref: str) -> tuple[Grade, float]:
        start = time.monotonic()
        try:
            return grade(ref, lab_file, hints), time.monotonic() - start
        except NetlabError as exc:
            # A lab that cannot be checked scores nothing, and says why.
            return (Grade(ref, "error", None, None, None, None, f"not graded: {exc.message.splitlines()[0]}"),
                    time.monotonic() - start)

    grades: dict[int, Grade] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(refs)))) as pool:
        futures = {pool.submit(one, ref): n for n, ref in enumerate(refs)}
        for future in as_completed(futures):
            graded, seconds = future.result()
            grades[futures[future]] = graded
            if progress is not None:
                progress(len(grades), len(refs), graded, seconds)
    return [grades[n] for n in range(len(refs))]


FIELDS = ("lab", "status", "passed", "failed", "points", "max_points", "first_cause", "definition")


def as_csv(grades: list[Grade]) -> str:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for g in grades:
        writer.writerow({k: "" if v is None else v for k, v in asdict(g).items()})
    return text.getvalue()


def write_private(path: Path, text: str) -> None:
    """A grade sheet is the students' marks: readable by its owner only (0600), whatever the
    umask, also when the file was there before."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(text)


def as_rows(grades: list[Grade]) -> list[dict[str, object]]:
    return [asdict(g) for g in grades]

