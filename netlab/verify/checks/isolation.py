"""isolation: hosts cannot reach addresses of another tunnel in an overlapping subnet."""

from __future__ import annotations

import ipaddress

from netlab.model import Lab, Tunnel
from netlab.verify.checks.base import Case, Check, Seen, addressed_tunnels
from netlab.verify.checks.ping import parse_fping, ping_probe
from netlab.verify.context import Context, Outcome, Probe, address


def isolation_pairs(lab: Lab) -> list[tuple[str, Tunnel, Tunnel]]:
    """(host, its tunnel, another tunnel in an overlapping subnet the host is not on)."""
    out = []
    for host, mine in addressed_tunnels(lab):
        net = ipaddress.ip_interface(mine.addresses[host]).network
        for other in lab.tunnels:
            if other is mine or host in other.endpoints:
                continue
            nets = {ipaddress.ip_interface(a).network for a in other.addresses.values()}
            if any(n.version == net.version and n.overlaps(net) for n in nets):
                out.append((host, mine, other))
    return out


class IsolationCheck(Check):
    name = "isolation"
    proves = "hosts on different VNIs cannot reach each other, even in the same subnet"

    def cases(self, lab: Lab) -> list[Case]:
        return [
            Case(self.name, h, f"{h} {mine.name}-/->{other.name}", mine.name, other_tunnel=other.name)
            for h, mine, other in isolation_pairs(lab)
        ]

    def targets(self, ctx: Context, case: Case) -> list[str]:
        other = ctx.tunnels[case.other_tunnel]  # type: ignore[index]
        return [address(other, h) for h in other.addresses]

    def probes(self, ctx: Context, case: Case) -> list[tuple[str, Probe]]:
        targets = self.targets(ctx, case)
        # The kernel goes on asking for an address that never answered (its ARP or neighbour
        # solicitations, a second apart): forget those after the pings (stage 1), so verify
        # leaves no traffic behind (a capture a student starts right after shows only theirs).
        forget = "printf '" + "".join(f"neigh flush to {a}\\n" for a in targets) + "' | ip -batch -"
        return [(case.host, ping_probe(ctx, targets, expect_reply=False)),
                (case.host, Probe(forget, stage=1, self_bounded=True))]

    def judge(self, ctx: Context, case: Case, seen: Seen) -> Outcome:
        targets = self.targets(ctx, case)
        ev = seen[(case.host, self.probes(ctx, case)[0][1])]
        alive = parse_fping(ev.output, targets)
        leaks = [a for a, ok in alive.items() if ok]
        other = case.other_tunnel
        if leaks:
            return Outcome(False, f"reaches {', '.join(leaks)} on {other}", [ev])
        return Outcome(True, f"none of {other}'s {len(targets)} addresses reply", [ev])
