"""The pytest module `netlab verify` runs in-process: one test function per check.

Each function is parametrized (by netlab's plugin) with that check's cases, so test ids read
`ping[boxA->boxB vxlan0]` in the report and in JUnit XML. The checks reach hosts through
testinfra (netns:// or ssh:// backends).
"""

from __future__ import annotations

from collections.abc import Callable

from netlab.verify.checks import Case, render_evidence
from netlab.verify.context import Outcome

Judge = Callable[[Case], Outcome]


def _assert(case: Case, judge: Judge) -> None:
    outcome = judge(case)
    assert outcome.passed, f"{case.id} on {case.host}: {outcome.summary}\n{render_evidence(outcome.evidence)}"


def ping(netlab_case: Case, netlab_judge: Judge) -> None:
    _assert(netlab_case, netlab_judge)


def params(netlab_case: Case, netlab_judge: Judge) -> None:
    _assert(netlab_case, netlab_judge)


def maddr(netlab_case: Case, netlab_judge: Judge) -> None:
    _assert(netlab_case, netlab_judge)


def fdb(netlab_case: Case, netlab_judge: Judge) -> None:
    _assert(netlab_case, netlab_judge)


def socket(netlab_case: Case, netlab_judge: Judge) -> None:
    _assert(netlab_case, netlab_judge)


def mtu(netlab_case: Case, netlab_judge: Judge) -> None:
    _assert(netlab_case, netlab_judge)


def wire(netlab_case: Case, netlab_judge: Judge) -> None:
    _assert(netlab_case, netlab_judge)


def isolation(netlab_case: Case, netlab_judge: Judge) -> None:
    _assert(netlab_case, netlab_judge)
