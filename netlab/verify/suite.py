"""The pytest module `netlab verify --via pytest` runs in-process: one test function per check.

Each function is parametrized (by netlab.verify.pytest_run's plugin) with that check's hosts: one pytest test
per check and host (`ping[boxA]`), judging all of that host's cases of the check. (One test
per case cost about 0.3 ms each in pytest alone: 1.3 s for a 64-host lab.) The JUnit report
still has one testcase per case (netlab writes it). The checks reach hosts through testinfra
(netns:// or ssh:// backends).
"""

from __future__ import annotations

from collections.abc import Callable

from netlab.verify.checks import Case, render_evidence
from netlab.verify.context import Outcome

Judge = Callable[[Case], Outcome]


def _assert(cases: list[Case], judge: Judge) -> None:
    failed = [(c, judge(c)) for c in cases]
    failed = [(c, o) for c, o in failed if not o.passed]
    assert not failed, "\n".join(f"{c.id} on {c.host}: {o.summary}\n{render_evidence(o.evidence, verbose=False)}"
                                 for c, o in failed)


def route(netlab_group: list[Case], netlab_judge: Judge) -> None:
    _assert(netlab_group, netlab_judge)


def ping(netlab_group: list[Case], netlab_judge: Judge) -> None:
    _assert(netlab_group, netlab_judge)


def tenant(netlab_group: list[Case], netlab_judge: Judge) -> None:
    _assert(netlab_group, netlab_judge)


def bridge(netlab_group: list[Case], netlab_judge: Judge) -> None:
    _assert(netlab_group, netlab_judge)


def params(netlab_group: list[Case], netlab_judge: Judge) -> None:
    _assert(netlab_group, netlab_judge)


def maddr(netlab_group: list[Case], netlab_judge: Judge) -> None:
    _assert(netlab_group, netlab_judge)


def fdb(netlab_group: list[Case], netlab_judge: Judge) -> None:
    _assert(netlab_group, netlab_judge)


def socket(netlab_group: list[Case], netlab_judge: Judge) -> None:
    _assert(netlab_group, netlab_judge)


def mtu(netlab_group: list[Case], netlab_judge: Judge) -> None:
    _assert(netlab_group, netlab_judge)


def wire(netlab_group: list[Case], netlab_judge: Judge) -> None:
    _assert(netlab_group, netlab_judge)


def isolation(netlab_group: list[Case], netlab_judge: Judge) -> None:
    _assert(netlab_group, netlab_judge)
