"""isolation: hosts cannot reach addresses of another tunnel in an overlapping subnet; tenants
cannot reach the tenants of another tunnel (another VNI) in their subnet, even at the very
address one of their own has.

From inside a tenant: an address only the other tunnel's tenants have must not reply; an
address both tunnels use must answer from the MAC of the tenant of the tenant's own tunnel
(each tenant has a MAC of its own), read from the tenant's neighbour table right after one
ping to it, its old entry flushed first.
"""

from __future__ import annotations

import ipaddress
import math
import re
import shlex

from netlab.macs import tenant_mac
from netlab.model import Lab, Tunnel
from netlab.verify.checks.base import Case, Check, Seen, addressed_tunnels
from netlab.verify.checks.ping import fping_label, parse_fping, ping_probe
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


def tenant_isolation(lab: Lab) -> list[tuple[str, str]]:
    """(tenant, another tunnel with tenants in its subnet)."""
    out = []
    for name, tn in lab.tenants.items():
        net = tn.interface.network
        others = dict.fromkeys(o.tunnel for o in lab.tenants.values()
                               if o.tunnel != tn.tunnel and o.interface.version == net.version
                               and o.interface.network.overlaps(net))
        out += [(name, other) for other in others]
    return out


def split_targets(lab: Lab, tenant: str, other: str) -> tuple[list[str], dict[str, str]]:
    """The other tunnel's addresses the tenant pings: those only it has (must not reply), and
    those the tenant's own tunnel has too -> the MAC that must answer (its own tunnel's)."""
    me = lab.tenants[tenant]
    own = {str(t.interface.ip): n for n, t in lab.tenants_of(me.tunnel).items()}
    theirs = dict.fromkeys(str(t.interface.ip) for t in lab.tenants_of(other).values())
    mine = str(me.interface.ip)
    unique = [a for a in theirs if a not in own]
    shared = {a: tenant_mac(own[a]) for a in theirs if a in own and a != mine}
    return unique, shared


def parse_neigh(output: str) -> dict[str, str]:
    """{address: MAC} from `ip neigh show` lines ("10.100.0.2 lladdr 52:54:.. REACHABLE")."""
    out = {}
    for line in output.splitlines():
        m = re.match(r"^(\S+) .*\blladdr ([0-9a-f:]{17})", line)
        if m:
            out[m[1]] = m[2]
    return out


class IsolationCheck(Check):
    name = "isolation"
    proves = "hosts, and tenants, on different VNIs cannot reach each other, even in the same subnet"

    def cases(self, lab: Lab) -> list[Case]:
        return [
            Case(self.name, h, f"{h} {mine.name}-/->{other.name}", mine.name, other_tunnel=other.name)
            for h, mine, other in isolation_pairs(lab)
        ] + [
            Case(self.name, lab.tenants[n].host, f"{n} {lab.tenants[n].tunnel}-/->{other}", lab.tenants[n].tunnel,
                 other_tunnel=other, tenant=n)
            for n, other in tenant_isolation(lab)
        ]

    def tenant_probes(self, ctx: Context, case: Case) -> tuple[Probe | None, Probe | None]:
        """The tenant's pings to the other tunnel's own addresses (no reply expected), and the
        script that asks for each shared address anew and prints who answered."""
        tenant = str(case.tenant)
        unique, shared = split_targets(ctx.lab, tenant, str(case.other_tunnel))
        lone = None
        if unique:
            ping = ping_probe(ctx, unique, expect_reply=False)
            lone = Probe(ctx.in_tenant(tenant, ping.command), ping.budget, self_bounded=True)
        asked = None
        if shared:
            wait = max(1, math.ceil(ctx.reply_timeout * 3))
            addrs = " ".join(shlex.quote(a) for a in shared)
            script = (f"for a in {addrs}; do ip neigh flush dev eth0 to $a; done; "
                      f"for a in {addrs}; do ping -c 1 -W {wait} -w {wait} $a >/dev/null 2>&1 & done; wait; "
                      "ip neigh show dev eth0")
            asked = Probe(ctx.in_tenant(tenant, script), wait, self_bounded=True)
        return lone, asked

    def judge_tenant(self, ctx: Context, case: Case, seen: Seen) -> Outcome:
        tenant, other = str(case.tenant), str(case.other_tunnel)
        unique, shared = split_targets(ctx.lab, tenant, other)
        lone, asked = self.tenant_probes(ctx, case)
        evidence, leaks = [], []
        if lone is not None:
            ev = seen[(case.host, lone)]
            evidence.append(ev.brief(ev.output.strip(), f"[in {tenant}] {fping_label(ev)}"))
            leaks += [f"{a} replies" for a, ok in parse_fping(ev.output, unique).items() if ok]
        if asked is not None:
            ev = seen[(case.host, asked)]
            evidence.append(ev.brief(ev.output.strip(), f"[in {tenant}] ping each of {' '.join(shared)}; ip neigh"))
            answered = parse_neigh(ev.stdout)
            owner = {tenant_mac(n): n for n in ctx.lab.tenants}
            for a, mac in shared.items():
                got = answered.get(a)
                if got is not None and got != mac:
                    leaks.append(f"{a} answers from {got} ({owner.get(got, 'not a tenant')}'s), not {owner[mac]}'s")
        if leaks:
            return Outcome(False, f"{tenant} reaches {other}: " + "; ".join(leaks), evidence)
        verb = "does" if len(unique) == 1 else "do"
        parts = [f"{', '.join(unique)} ({other}'s only) {verb} not reply"] if unique else []
        if asked is not None:
            mine = ctx.lab.tenants[tenant].tunnel
            parts += [f"{a} answers from {owner[mac]} ({mine})" if a in answered else f"{a} does not answer"
                      for a, mac in shared.items()]
        return Outcome(True, "; ".join(parts) or f"{other} has no other address", evidence)

    def targets(self, ctx: Context, case: Case) -> list[str]:
        other = ctx.tunnels[case.other_tunnel]  # type: ignore[index]
        return [address(other, h) for h in other.addresses]

    def probes(self, ctx: Context, case: Case) -> list[tuple[str, Probe]]:
        if case.tenant is not None:
            lone, asked = self.tenant_probes(ctx, case)
            forget = []
            if lone is not None:  # as below: forget the addresses that never answered
                unique, _ = split_targets(ctx.lab, case.tenant, str(case.other_tunnel))
                flush = "; ".join(f"ip neigh flush to {a}" for a in unique)
                forget = [Probe(ctx.in_tenant(case.tenant, flush), stage=1, self_bounded=True)]
            return [(case.host, p) for p in (lone, asked, *forget) if p is not None]
        targets = self.targets(ctx, case)
        # The kernel goes on asking for an address that never answered (its ARP or neighbour
        # solicitations, a second apart): forget those after the pings (stage 1), so verify
        # leaves no traffic behind (a capture a student starts right after shows only theirs).
        forget = "printf '" + "".join(f"neigh flush to {a}\\n" for a in targets) + "' | ip -batch -"
        return [(case.host, ping_probe(ctx, targets, expect_reply=False)),
                (case.host, Probe(forget, stage=1, self_bounded=True))]

    def judge(self, ctx: Context, case: Case, seen: Seen) -> Outcome:
        if case.tenant is not None:
            return self.judge_tenant(ctx, case, seen)
        targets = self.targets(ctx, case)
        ev = seen[(case.host, self.probes(ctx, case)[0][1])]
        alive = parse_fping(ev.output, targets)
        leaks = [a for a, ok in alive.items() if ok]
        other = case.other_tunnel
        if leaks:
            return Outcome(False, f"reaches {', '.join(leaks)} on {other}", [ev])
        return Outcome(True, f"none of {other}'s {len(targets)} addresses reply", [ev])
