"""What every check shares: its cases, the Check interface, and helpers to walk a lab.

A check lists its cases (one per host and tunnel, or per pair of hosts), says which commands
(`Probe`s) each case needs on which host, and judges each case from what those commands
printed. The runner gathers the probes of every check and runs each host's as one batch (see
netlab.verify.context), so checks never wait on hosts themselves. What a check reads from a
command's output is a pure function in the check's module, testable on recorded output.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from netlab.model import Lab, Tunnel
from netlab.verify.context import Context, Evidence, Outcome, Probe

# What the probes printed: (host, probe) -> evidence.
Seen = dict[tuple[str, Probe], Evidence]

# Every device of a host with its parameters and addresses: params, fdb and the diagnosis read it.
LINKS = Probe("ip -d -j addr show", self_bounded=True)


@dataclass(frozen=True)
class Case:
    check: str
    host: str
    label: str
    tunnel: str | None = None
    peer: str | None = None  # the other host, for checks between two hosts
    other_tunnel: str | None = None  # isolation: the tunnel this host must not reach
    tenant: str | None = None  # checks from inside a tenant (on `host`, its VTEP): the tenant
    peer_tenant: str | None = None  # the other tenant, for checks between two tenants

    @property
    def id(self) -> str:
        return f"{self.check}[{self.label}]"


class Check(ABC):
    name: ClassVar[str]
    proves: ClassVar[str]

    @abstractmethod
    def cases(self, lab: Lab) -> list[Case]: ...

    @abstractmethod
    def probes(self, ctx: Context, case: Case) -> list[tuple[str, Probe]]:
        """(host, command) pairs the case needs run."""

    @abstractmethod
    def judge(self, ctx: Context, case: Case, seen: Seen) -> Outcome: ...

    def run(self, ctx: Context, cases: list[Case]) -> dict[Case, Outcome]:
        """This check alone: its probes, then its verdicts (the runner batches all checks)."""
        wanted: dict[str, list[Probe]] = {}
        for case in cases:
            for host, probe in self.probes(ctx, case):
                wanted.setdefault(host, []).append(probe)
        return self.judge_all(ctx, cases, ctx.run_probes(wanted))

    def judge_all(self, ctx: Context, cases: list[Case], seen: Seen) -> dict[Case, Outcome]:
        """Every case judged; a case whose commands ran out of time fails as such."""
        return {case: no_answer(self.judge(ctx, case, seen)) for case in cases}

    def verdicts(self, ctx: Context, cases: list[Case]) -> dict[Case, Outcome]:
        return self.run(ctx, cases)


def no_answer(outcome: Outcome) -> Outcome:
    """A case one of whose commands timed out fails, naming the deadline and the command."""
    late = next((e for e in outcome.evidence if e.timed_out), None)
    if late is None:
        return outcome
    return Outcome(False, f"no answer within {late.deadline} s: {late.command}", outcome.evidence)


def peers(t: Tunnel, host: str) -> list[str]:
    return [h for h in t.endpoints if h != host]


def host_tunnels(lab: Lab) -> Iterator[tuple[str, Tunnel]]:
    for host in lab.hosts:
        for t in lab.tunnels_of(host):
            yield host, t


def addressed_peers(t: Tunnel, host: str) -> list[str]:
    """The other endpoints that have an address on t (a bridged tunnel's may have none)."""
    return [h for h in t.addresses if h != host]


def addressed_tunnels(lab: Lab) -> Iterator[tuple[str, Tunnel]]:
    """(host, tunnel) where the host has an address on the tunnel (on its bridge, when bridged)."""
    for host, t in host_tunnels(lab):
        if host in t.addresses:
            yield host, t


def first_peer_cases(name: str, lab: Lab) -> list[Case]:
    """One case per host and tunnel, towards the tunnel's first other endpoint; both ends need
    an address (a bridged tunnel's endpoints may have none: its tenants speak instead)."""
    return [
        Case(name, h, f"{h}->{addressed_peers(t, h)[0]} {t.name}", t.name, addressed_peers(t, h)[0])
        for h, t in addressed_tunnels(lab) if addressed_peers(t, h)
    ]


def by_host(cases: list[Case]) -> dict[str, list[Case]]:
    out: dict[str, list[Case]] = {}
    for case in cases:
        out.setdefault(case.host, []).append(case)
    return out


def parse_links(stdout: str) -> dict[str, dict[str, Any]]:
    """{device name: device} from `ip -d -j addr show` output ({} when it is not that)."""
    try:
        parsed = json.loads(stdout)
    except ValueError:
        return {}
    if not isinstance(parsed, list):
        return {}
    return {d["ifname"]: d for d in parsed if isinstance(d, dict) and isinstance(d.get("ifname"), str)}


def host_links(ctx: Context, seen: Seen, host: str) -> tuple[dict[str, dict[str, Any]] | None, Evidence | None]:
    """A host's devices as LINKS saw them (None when the command failed), and its evidence."""
    ev = seen.get((host, LINKS))
    if ev is None or ev.rc != 0:
        return None, ev
    key = ("links", host)
    known, links = ctx.recall(key)
    if not known:
        links = parse_links(ev.stdout)
        ctx.remember(key, links)
    return links, ev
