"""isolation: hosts cannot reach addresses of another tunnel in an overlapping subnet."""

from __future__ import annotations

import ipaddress

from netlab.model import Lab, Tunnel
from netlab.verify.checks.base import Case, PerCaseCheck, host_tunnels
from netlab.verify.checks.ping import ping_many
from netlab.verify.context import Context, Outcome, address


def isolation_pairs(lab: Lab) -> list[tuple[str, Tunnel, Tunnel]]:
    """(host, its tunnel, another tunnel in an overlapping subnet the host is not on)."""
    out = []
    for host, mine in host_tunnels(lab):
        net = ipaddress.ip_interface(mine.endpoints[host]).network
        for other in lab.tunnels:
            if other is mine or host in other.endpoints:
                continue
            nets = {ipaddress.ip_interface(a).network for a in other.endpoints.values()}
            if any(n.version == net.version and n.overlaps(net) for n in nets):
                out.append((host, mine, other))
    return out


class IsolationCheck(PerCaseCheck):
    name = "isolation"
    proves = "hosts on different VNIs cannot reach each other, even in the same subnet"

    def cases(self, lab: Lab) -> list[Case]:
        return [
            Case(self.name, h, f"{h} {mine.name}-/->{other.name}", mine.name, other_tunnel=other.name)
            for h, mine, other in isolation_pairs(lab)
        ]

    def judge(self, ctx: Context, case: Case, t: Tunnel) -> Outcome:
        other = ctx.tunnels[case.other_tunnel]  # type: ignore[index]
        targets = [address(other, h) for h in other.endpoints]
        alive, ev = ping_many(ctx, case.host, targets, expect_reply=False)
        leaks = [a for a, ok in alive.items() if ok]
        if leaks:
            return Outcome(False, f"reaches {', '.join(leaks)} on {other.name}", [ev])
        return Outcome(True, f"none of {other.name}'s {len(targets)} addresses reply", [ev])
