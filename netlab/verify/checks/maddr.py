"""maddr: the underlay NIC has joined the tunnel's multicast group (`ip maddr show dev NIC`)."""

from __future__ import annotations

import re

from netlab.model import Lab, Tunnel
from netlab.verify.checks.base import Case, PerCaseCheck, host_tunnels
from netlab.verify.context import Context, Outcome


def joined(maddr_output: str, group: str) -> bool:
    """Whether `ip maddr show dev NIC` lists `group` as an `inet` membership."""
    # A line reads "inet  239.255.0.1", with " users N" when several sockets joined.
    return re.search(rf"^\s*inet\s+{re.escape(group)}(?=\s|$)", maddr_output, re.MULTILINE) is not None


class MaddrCheck(PerCaseCheck):
    name = "maddr"
    proves = "the underlay NIC has joined the VXLAN multicast group"

    def cases(self, lab: Lab) -> list[Case]:
        return [
            Case(self.name, h, f"{h} {t.name} {t.group}", t.name)
            for h, t in host_tunnels(lab)
            if t.effective_mode == "multicast"
        ]

    def judge(self, ctx: Context, case: Case, t: Tunnel) -> Outcome:
        dev = ctx.lab.underlay.interface
        ev = ctx.sh(case.host, f"ip maddr show dev {dev}")
        ok = joined(ev.stdout, str(t.group))
        return Outcome(ok, f"{t.group} {'joined' if ok else 'not joined'} on {dev}", [ev])
