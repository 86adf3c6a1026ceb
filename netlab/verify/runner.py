"""Run every check of a lab and collect one outcome per case, then the causes.

All checks' commands for a host run as one batch there (netlab.verify.context), every host at
once; each check then judges its cases from what the hosts printed, and the diagnosis groups
the failures into causes. `via="pytest"` runs the same through pytest (netlab.verify.pytest_run).
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from netlab.errors import NetlabError
from netlab.model import Lab
from netlab.providers.base import Provider
from netlab.verify.checks import CHECKS, LINKS, Case, Seen, plan
from netlab.verify.context import Context, Evidence, Outcome, Probe

if TYPE_CHECKING:
    from netlab.verify.diagnosis import Cause


@dataclass
class VerifyResult:
    cases: list[Case]
    outcomes: dict[Case, Outcome] = field(default_factory=dict)
    seconds: float = 0.0
    causes: list[Cause] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.cases) and all(self.outcomes.get(c, _NOT_RUN).passed for c in self.cases)

    def outcome(self, case: Case) -> Outcome:
        return self.outcomes.get(case, _NOT_RUN)

    @property
    def failed(self) -> list[Case]:
        return [c for c in self.cases if not self.outcome(c).passed]


_NOT_RUN = Outcome(False, "not run")


def judge_all(ctx: Context, cases: list[Case], seen: Seen) -> dict[Case, Outcome]:
    """Every check's verdicts from what the hosts printed; a check that breaks fails its cases."""
    outcomes: dict[Case, Outcome] = {}
    for name in dict.fromkeys(c.check for c in cases):
        mine = [c for c in cases if c.check == name]
        try:
            outcomes.update(CHECKS[name].judge_all(ctx, mine, seen))
        except Exception as exc:  # a broken host must fail its checks, never crash verify
            detail = "".join(traceback.format_exception_only(exc)).strip()
            evidence = [Evidence(mine[0].host, "(netlab)", 1, traceback.format_exc())]
            outcomes.update({c: Outcome(False, f"check could not run: {detail}", evidence) for c in mine})
    return outcomes


def probes_of(ctx: Context, cases: list[Case]) -> dict[str, list[Probe]]:
    """Each host's commands for all cases, plus its device list (the diagnosis reads it)."""
    wanted: dict[str, list[Probe]] = {h: [LINKS] for h in ctx.lab.hosts}
    for case in cases:
        for host, probe in CHECKS[case.check].probes(ctx, case):
            wanted.setdefault(host, []).append(probe)
    return wanted


def gather(ctx: Context, cases: list[Case]) -> tuple[dict[Case, Outcome], Seen]:
    """Every host's batch, side by side, then every case's verdict from what they printed."""
    seen = ctx.run_probes(probes_of(ctx, cases))
    return judge_all(ctx, cases, seen), seen


# How verify runs the checks: netlab itself (default), or as pytest tests (same outcomes).
VIAS = ("default", "pytest")


def run_verify(
    lab: Lab, provider: Provider, junit_xml: Path | None = None, only: list[str] | None = None,
    via: str = "default", hints: bool = True,
) -> VerifyResult:
    """`hints=False` (--no-hints): the JUnit report hides the lab's expected values."""
    from netlab.verify.diagnosis import diagnose
    from netlab.verify.junit import write_junit
    from netlab.verify.redact import SHOW_ALL, Redactor

    unknown = sorted(set(only or []) - set(CHECKS))
    if unknown:
        raise NetlabError(f"no check named {', '.join(unknown)}", hint=f"checks: {', '.join(CHECKS)}")
    if via not in VIAS:
        raise NetlabError(f"--via {via} is not known", hint="use --via default or --via pytest")
    start = time.monotonic()
    cases = plan(lab, only)
    result = VerifyResult(cases)
    if not cases:
        return result
    ctx = Context(lab, provider)
    if via == "pytest":
        from netlab.verify.pytest_run import run_pytest

        result.outcomes, seen = run_pytest(ctx, cases, gather)
    else:
        result.outcomes, seen = gather(ctx, cases)
    result.causes = diagnose(ctx, result, seen)
    result.seconds = time.monotonic() - start
    if junit_xml is not None:
        write_junit(junit_xml, lab.name, result, SHOW_ALL if hints else Redactor(lab))
    return result
