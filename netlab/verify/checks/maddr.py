"""maddr: the underlay NIC has joined the tunnel's multicast group (`ip maddr show dev NIC`)."""

from __future__ import annotations

import re

from netlab.model import Lab
from netlab.verify.checks.base import Case, Check, Seen, host_tunnels
from netlab.verify.context import Context, Outcome, Probe


def joined(maddr_output: str, group: str) -> bool:
    """Whether `ip maddr show dev NIC` lists `group` as an `inet` membership."""
    # A line reads "inet  239.255.0.1", with " users N" when several sockets joined.
    return re.search(rf"^\s*inet\s+{re.escape(group)}(?=\s|$)", maddr_output, re.MULTILINE) is not None


class MaddrCheck(Check):
    name = "maddr"
    proves = "the underlay NIC has joined the VXLAN multicast group"

    def cases(self, lab: Lab) -> list[Case]:
        return [
            Case(self.name, h, f"{h} {t.name} {t.group}", t.name)
            for h, t in host_tunnels(lab)
            if t.effective_mode == "multicast"
        ]

    def probes(self, ctx: Context, case: Case) -> list[tuple[str, Probe]]:
        return [(case.host, Probe(f"ip maddr show dev {ctx.lab.underlay.interface}", self_bounded=True))]

    def judge(self, ctx: Context, case: Case, seen: Seen) -> Outcome:
        t = ctx.tunnels[case.tunnel]  # type: ignore[index]
        dev = ctx.lab.underlay.interface
        ev = seen[(case.host, self.probes(ctx, case)[0][1])]
        ok = joined(ev.stdout, str(t.group))
        inet = "\n".join(line for line in ev.output.splitlines() if "inet " in line or "does not" in line)
        return Outcome(ok, f"{t.group} {'joined' if ok else 'not joined'} on {dev}",
                       [ev.brief(inet or "(no IPv4 group joined)")],
                       student=None if ok else f"the group is not joined on {dev}")
