"""What every check shares: its cases, the Check interface, and helpers to walk a lab.

A check lists its cases (one per host and tunnel, or per pair of hosts), then runs them all
at once (hosts in parallel) and returns one `Outcome` per case, with the commands and
outputs that prove it. What a check reads from a command's output is a pure function in the
check's module, so it can be tested on recorded output.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from netlab.model import Lab, Tunnel
from netlab.verify.context import Context, Outcome


@dataclass(frozen=True)
class Case:
    check: str
    host: str
    label: str
    tunnel: str | None = None
    peer: str | None = None  # the other host, for checks between two hosts
    other_tunnel: str | None = None  # isolation: the tunnel this host must not reach

    @property
    def id(self) -> str:
        return f"{self.check}[{self.label}]"


class Check(ABC):
    name: ClassVar[str]
    proves: ClassVar[str]

    @abstractmethod
    def cases(self, lab: Lab) -> list[Case]: ...

    @abstractmethod
    def run(self, ctx: Context, cases: list[Case]) -> dict[Case, Outcome]: ...

    def verdicts(self, ctx: Context, cases: list[Case]) -> dict[Case, Outcome]:
        """`run`, with every case whose commands ran out of time failed as such."""
        return {case: no_answer(outcome) for case, outcome in self.run(ctx, cases).items()}


class PerCaseCheck(Check):
    """A check that judges each case on its own; cases run side by side."""

    def run(self, ctx: Context, cases: list[Case]) -> dict[Case, Outcome]:
        return each(ctx, cases, lambda case: self.judge(ctx, case, ctx.tunnels[case.tunnel]))  # type: ignore[index]

    @abstractmethod
    def judge(self, ctx: Context, case: Case, tunnel: Tunnel) -> Outcome: ...


def no_answer(outcome: Outcome) -> Outcome:
    """A case one of whose commands timed out fails, naming the deadline and the command."""
    late = next((e for e in outcome.evidence if e.timed_out), None)
    if late is None:
        return outcome
    return Outcome(False, f"no answer within {late.deadline} s: {late.command}", outcome.evidence)


def each(ctx: Context, cases: list[Case], judge: Callable[[Case], Outcome]) -> dict[Case, Outcome]:
    return dict(zip(cases, ctx.parallel(judge, cases), strict=True))


def peers(t: Tunnel, host: str) -> list[str]:
    return [h for h in t.endpoints if h != host]


def host_tunnels(lab: Lab) -> Iterator[tuple[str, Tunnel]]:
    for host in lab.hosts:
        for t in lab.tunnels_of(host):
            yield host, t


def first_peer_cases(name: str, lab: Lab) -> list[Case]:
    """One case per host and tunnel, towards the tunnel's first other endpoint."""
    return [
        Case(name, h, f"{h}->{peers(t, h)[0]} {t.name}", t.name, peers(t, h)[0])
        for h, t in host_tunnels(lab)
    ]


def by_host(cases: list[Case]) -> dict[str, list[Case]]:
    out: dict[str, list[Case]] = {}
    for case in cases:
        out.setdefault(case.host, []).append(case)
    return out
