"""`netlab explain`: the exact commands that configure each host, and what the encapsulation costs."""

from __future__ import annotations

from dataclasses import dataclass

from netlab.model import Lab, Tunnel
from netlab.render.scripts import HostScript, RouterScript, host_script, router_script


@dataclass(frozen=True)
class TunnelBudget:
    tunnel: Tunnel
    overhead: int
    breakdown: str
    mtu: int
    underlay_mtu: int

    def sentence(self) -> str:
        t = self.tunnel
        what = f"{t.name} ({t.kind.title}"
        what += f", VNI {t.vni}" if t.vni is not None else ""
        what += f", key {t.key}" if t.key is not None else ""
        what += f", VLAN {t.vlan}" if t.vlan is not None else ""
        what += ")"
        return (
            f"{what}: each packet carries {self.overhead} bytes of encapsulation "
            f"({self.breakdown}); underlay MTU {self.underlay_mtu} - {self.overhead} = "
            f"{self.underlay_mtu - self.overhead}, tunnel MTU {self.mtu}"
        )


def budgets(lab: Lab) -> list[TunnelBudget]:
    return [
        TunnelBudget(
            t, t.overhead, t.kind.overhead_breakdown(t.key), t.effective_mtu(lab.underlay.mtu),
            lab.underlay.mtu,
        )
        for t in lab.tunnels
    ]


def scripts(lab: Lab) -> list[HostScript]:
    return [host_script(lab, host) for host in lab.hosts]


def router_scripts(lab: Lab) -> list[RouterScript]:
    return [router_script(lab, router) for router in lab.routers]
