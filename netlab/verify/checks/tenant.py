"""tenant: every tenant reaches every other tenant of its tunnel, from inside its own namespace.

A tenant is a namespace on its VTEP (netlab.<lab>.<tenant> on netns, <tenant> inside a VM);
its commands run in its host's batch through `ip netns exec` (`Context.in_tenant`), so a host
with many tenants still costs one remote command. Each tenant pings all the others of its
tunnel with one fping, across hosts and on its own host; fdb reads the tables that traffic
fills (stage 1).
"""

from __future__ import annotations

import functools
import ipaddress

from netlab.model import Lab, Tenant
from netlab.verify.checks.base import Case, Check, Seen
from netlab.verify.checks.ping import fping_label, fping_lines, parse_fping, ping_probe
from netlab.verify.context import Context, Evidence, Outcome, Probe


def tenant_ip(tenant: Tenant) -> str:
    return _ip(tenant.ip)


@functools.cache
def _ip(interface: str) -> str:
    # Parsed once per address: a 256-tenant lab has 65280 pairs to judge.
    return str(ipaddress.ip_interface(interface).ip)


def tenant_targets(lab: Lab, name: str) -> dict[str, str]:
    """{other tenant on name's tunnel: its address}, those after `name` in the lab file first,
    then from the first on: each tenant's first ARP requests go to different tenants, and a
    pair's second side mostly finds the first's MAC already learned from its request (as the
    ping check orders hosts: see `peer_targets`)."""
    ring = list(lab.tenants_of(lab.tenants[name].tunnel))
    me = ring.index(name)
    return {n: tenant_ip(lab.tenants[n]) for n in ring[me + 1:] + ring[:me]}


def tenant_probe(ctx: Context, name: str) -> Probe:
    """The one fping from tenant `name` to every other tenant of its tunnel (tenant, fdb and
    isolation share it)."""
    key = ("tenant_probe", name)
    known, probe = ctx.recall(key)
    if not known:
        ping = ping_probe(ctx, list(dict.fromkeys(tenant_targets(ctx.lab, name).values())))
        probe = Probe(ctx.in_tenant(name, ping.command), ping.budget, self_bounded=True)
        ctx.remember(key, probe)
    return probe  # type: ignore[no-any-return]


def tenant_replied(ctx: Context, seen: Seen, name: str) -> tuple[dict[str, bool], Evidence, dict[str, str]]:
    """{address: replied} from the tenant's fping, its evidence, and fping's lines per address."""
    ev = seen[(ctx.lab.tenants[name].host, tenant_probe(ctx, name))]
    key = ("tenant_alive", name)
    known, parsed = ctx.recall(key)
    if not known:
        targets = list(tenant_targets(ctx.lab, name).values())
        parsed = (parse_fping(ev.output, targets), fping_lines(ev.output))
        ctx.remember(key, parsed)
    return parsed[0], ev, parsed[1]


def tenant_cases(name: str, lab: Lab) -> list[Case]:
    """One case per pair of tenants of a tunnel (both directions)."""
    return [
        Case(name, t.host, f"{src}->{dst}", t.tunnel, lab.tenants[dst].host, tenant=src, peer_tenant=dst)
        for src, t in lab.tenants.items()
        for dst in tenant_targets(lab, src)
    ]


class TenantCheck(Check):
    name = "tenant"
    proves = "every tenant reaches every other tenant of its tunnel, across hosts and on its own"

    def cases(self, lab: Lab) -> list[Case]:
        return tenant_cases(self.name, lab)

    def probes(self, ctx: Context, case: Case) -> list[tuple[str, Probe]]:
        return [(case.host, tenant_probe(ctx, case.tenant))]  # type: ignore[arg-type]

    def judge(self, ctx: Context, case: Case, seen: Seen) -> Outcome:
        src, dst = case.tenant, case.peer_tenant
        target = tenant_ip(ctx.lab.tenants[dst])  # type: ignore[index]
        alive, ev, lines = tenant_replied(ctx, seen, src)  # type: ignore[arg-type]
        ok = alive.get(target, False)
        where = f"{dst} ({target} on {case.peer})"
        return Outcome(ok, f"{where} {'replies' if ok else 'does not reply'} to {src}",
                       [ev.brief(lines.get(target, "(fping said nothing about it)"),
                                 f"[in {src}] {fping_label(ev)}")],
                       student=None if ok else f"{dst} does not reply to {src}")
