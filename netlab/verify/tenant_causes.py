"""The diagnosis of tenants' faults: each cause names the tenant, its bridge and its host.

The bridge check reports what is wrong with a host's bridge and its ports (`BridgeProblem`),
mtu a tenant whose eth0 MTU is not its tunnel's (`TenantMtu`), fdb a static entry a VTEP lacks
(`MissingStatic`). Each becomes a cause here, with the failed results it explains: a tenant cut
off fails every check to and from it; a tenant on another tunnel's bridge also answers there
(it leaks into that segment, and may hold one of its addresses).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from netlab.macs import tenant_mac
from netlab.model import Lab, Tunnel
from netlab.verify.cause import RANK, Cause
from netlab.verify.checks import Case
from netlab.verify.checks.bridge import BridgeProblem
from netlab.verify.checks.fdb import MissingStatic
from netlab.verify.checks.mtu import TenantMtu
from netlab.verify.context import Outcome

if TYPE_CHECKING:
    from netlab.verify.diagnosis import Diagnosis

Scope = Callable[[Case, Outcome], bool]
TENANT_CHECKS = ("tenant", "mtu", "wire", "isolation", "fdb", "bridge")


def about_tenant(lab: Lab, name: str) -> Scope:
    """Failures from or to tenant `name`, and those naming it (an fdb entry, an answer from its MAC)."""
    mac = tenant_mac(name)

    def scope(case: Case, outcome: Outcome) -> bool:
        if name in (case.tenant, case.peer_tenant):
            return True
        return case.check in ("fdb", "isolation") and (f"{name} (" in outcome.summary or mac in outcome.summary
                                                         or f"({name}'s)" in outcome.summary)
    return scope


def on_segment(lab: Lab, host: str, tunnel: str) -> Scope:
    """Failures of tenants' checks on `tunnel` that involve `host`'s side of it."""
    mine = set(lab.tenants_of(tunnel, host))

    def scope(case: Case, outcome: Outcome) -> bool:
        if case.tunnel != tunnel or case.check not in TENANT_CHECKS:
            return False
        if host in (case.host, case.peer) or {case.tenant, case.peer_tenant} & mine:
            return True
        return case.check == "fdb" and any(f"{n} (" in outcome.summary for n in mine)
    return scope


def either(*scopes: Scope) -> Scope:
    return lambda c, o: any(s(c, o) for s in scopes)


def tenant_causes(d: Diagnosis) -> None:
    """Every tenant fault the checks' findings show, as causes of `d`."""
    for case, outcome in d.failed:
        t = d.ctx.tunnels.get(case.tunnel or "")
        if t is None:
            continue
        for f in outcome.findings:
            if isinstance(f, BridgeProblem):
                d.add(*bridge_cause(d.lab, case, f, t.name, RANK), case)
            elif isinstance(f, TenantMtu):
                d.add(*mtu_cause(d.lab, f, t, RANK), case)
            elif isinstance(f, MissingStatic):
                d.add(*static_cause(d.lab, case, f, t, RANK), case)


def mtu_cause(lab: Lab, f: TenantMtu, t: Tunnel, rank: dict[str, int]) -> tuple[Cause, Scope]:
    """A tenant's eth0 MTU is not its tunnel's: larger frames vanish on the bridge."""
    host = lab.tenants[f.tenant].host
    larger = f.actual is not None and f.actual > f.expected
    more = (f": {f.tenant} sends frames up to {f.actual} bytes, {t.bridge} on {host} drops the larger ones "
            f"without a word (no ICMP 'too big' comes back)" if larger else "")
    text = (f"tenant {f.tenant} on {host}: eth0 has MTU {f.actual}, its tunnel {t.name} carries {f.expected} "
            f"(underlay {lab.underlay.mtu} minus {t.overhead} bytes of encapsulation){more} "
            f"(netlab exec {lab.name} {f.tenant} -- ip link set eth0 mtu {f.expected})")
    student = (f"tenant {f.tenant} on {host}: eth0's MTU is "
               + (f"larger than what {t.name} carries" if larger else "wrong"))
    return (Cause(host, "mtu", text, student, device="eth0", param="mtu", rank=rank["mtu"], tenant=f.tenant,
                  bridge=t.bridge),
            lambda c, o: c.check == "mtu" and f.tenant in (c.tenant, c.peer_tenant))


def static_cause(lab: Lab, case: Case, f: MissingStatic, t: Tunnel, rank: dict[str, int]) -> tuple[Cause, Scope]:
    """A static VTEP lacks a permanent entry: it floods that MAC's frames to every peer."""
    host = case.host
    text = (f"{t.name} on {host} lacks the static entry for {f.what} ({f.mac} dst {f.dst} self permanent): "
            f"{host} does not know where {f.what} lives and floods its frames for it to every peer "
            f"(bridge fdb replace {f.mac} dev {t.name} dst {f.dst} self permanent)")
    student = f"{t.name} on {host} lacks the static entry for {f.what}"
    return (Cause(host, "fdb", text, student, device=t.name, param="static", rank=rank["flood"],
                  tenant=f.what if f.what in lab.tenants else None, bridge=t.bridge),
            lambda c, o: False)  # the fdb case itself (`itself`)


def bridge_cause(lab: Lab, case: Case, f: BridgeProblem, tunnel: str, rank: dict[str, int]) -> tuple[Cause, Scope]:
    host = case.host
    if f.kind in ("tenant-master", "tenant-missing", "tenant-down"):
        name = str(f.tenant)
        scope = about_tenant(lab, name)
        text = f.text
        if f.kind == "tenant-master":
            other = next((t for t in lab.tunnels if t.bridge and t.bridge == f.actual), None)
            if other is not None:
                text += (f": {name} is on {other.name}'s segment (VNI {other.vni}) instead of {tunnel}'s, cut off "
                         f"from its own tenants and visible to {other.name}'s")
                scope = either(scope, lambda c, o, n=other.name: c.check in ("tenant", "isolation") and c.tunnel == n)
            else:
                text += f": {name} is cut off (ip link set {f.device} master {f.bridge})"
        student = f"tenant {name} on {host}: its cable {f.device} is not as the lab says ({f.kind.split('-')[1]})"
        return (Cause(host, "bridge", text, student, device=f.device, param=f.kind, rank=rank["state"],
                      tenant=name, bridge=f.bridge), scope)
    scope = on_segment(lab, host, tunnel)
    return (Cause(host, "bridge", f.text, f"{f.bridge} on {host}: {f.kind.replace('-', ' ')}", device=f.device,
                  param=f.kind, rank=rank["state"] if f.kind != "learning" and f.kind != "suppress" else rank["other"],
                  bridge=f.bridge), scope)
