"""bridge: on each endpoint of a bridged tunnel, the bridge is up, the tunnel device and every
local tenant's cable (`tn-<tenant>`) are its ports and up, and learning is as the mode says.

It reads the device list every host reports anyway (LINKS: `ip -d -j addr show`, whose
`linkinfo` has a port's `info_slave_data`), so it adds no command. A static tunnel's device does
not learn (`learning` false in its `info_data`); with arp_suppress the tunnel port answers
ARP from the bridge's neighbour table (`neigh_suppress` in its `info_slave_data`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netlab.model import Lab, Tunnel
from netlab.render.tenants import veth_name
from netlab.verify.checks.base import LINKS, Case, Check, Seen, host_links, host_tunnels
from netlab.verify.context import Context, Outcome, Probe


@dataclass(frozen=True)
class BridgeProblem:
    """One way a host's bridge differs from the lab. `kind`: bridge-missing, bridge-down,
    uplink (the tunnel device is not its port), tenant-missing, tenant-master (the tenant's cable
    is a port of another bridge, or of none), tenant-down, learning, suppress."""

    kind: str
    bridge: str
    device: str
    text: str
    tenant: str | None = None
    actual: str | None = None  # tenant-master: the bridge it is on (None: none)


def is_up(link: dict[str, Any]) -> bool:
    return "UP" in link.get("flags", [])


def slave_data(link: dict[str, Any]) -> dict[str, Any]:
    return (link.get("linkinfo") or {}).get("info_slave_data") or {}


def bridge_problems(lab: Lab, host: str, t: Tunnel, links: dict[str, dict[str, Any]]) -> list[BridgeProblem]:
    """What differs between host's bridge of t (with its ports) and the lab."""
    br = str(t.bridge)
    bridge = links.get(br)
    local = ", ".join(lab.tenants_of(t.name, host))
    cut = f"{local} there reach{'es' if ', ' not in local else ''} nobody" if local else "it forwards nothing"
    if bridge is None:
        return [BridgeProblem("bridge-missing", br, br, f"no bridge {br} on {host}: {cut}")]
    out = []
    if not is_up(bridge):
        out.append(BridgeProblem("bridge-down", br, br, f"bridge {br} on {host} is down: {cut} "
                                                         f"(ip link set {br} up)"))
    uplink = links.get(t.name)
    if uplink is not None and uplink.get("master") != br:
        on = f"a port of {uplink['master']}" if uplink.get("master") else "a port of no bridge"
        who = local or f"{host}'s {br}"
        out.append(BridgeProblem("uplink", br, t.name, f"{t.name} on {host} is {on}, not of {br}: {who} "
                                 f"reach{'es' if ', ' not in who else ''} no other host "
                                 f"(ip link set {t.name} master {br})",
                                 actual=uplink.get("master")))
    for name in lab.tenants_of(t.name, host):
        veth = veth_name(name)
        link = links.get(veth)
        if link is None:
            out.append(BridgeProblem("tenant-missing", br, veth, f"tenant {name}'s cable {veth} is missing on "
                                                                  f"{host}", tenant=name))
            continue
        if link.get("master") != br:
            on = f"a port of {link['master']}" if link.get("master") else "a port of no bridge"
            out.append(BridgeProblem("tenant-master", br, veth, f"tenant {name}'s cable {veth} on {host} is {on}, "
                                     f"not of {br} (the bridge of {t.name})", tenant=name,
                                     actual=link.get("master")))
        if not is_up(link):
            out.append(BridgeProblem("tenant-down", br, veth, f"tenant {name}'s cable {veth} on {host} is down: "
                                     f"{name} is cut off (ip link set {veth} up)", tenant=name))
    if uplink is not None:
        out += learning_problems(host, t, uplink)
    return out


def learning_problems(host: str, t: Tunnel, uplink: dict[str, Any]) -> list[BridgeProblem]:
    """The tunnel device learns unless the mode is static; arp_suppress sets neigh_suppress."""
    br = str(t.bridge)
    out = []
    data = (uplink.get("linkinfo") or {}).get("info_data") or {}
    learns = t.effective_mode != "static"
    if "learning" in data and bool(data["learning"]) != learns:
        want = "learning" if learns else "nolearning"
        out.append(BridgeProblem("learning", br, t.name, f"{t.name} on {host} has learning "
                                 f"{'on' if data['learning'] else 'off'}, mode {t.effective_mode} says {want}"))
    suppress = bool(slave_data(uplink).get("neigh_suppress"))
    if uplink.get("master") == br and suppress != t.arp_suppress:
        out.append(BridgeProblem("suppress", br, t.name, f"{t.name} on {host} has neigh_suppress "
                                 f"{'on' if suppress else 'off'}, lab says arp_suppress {str(t.arp_suppress).lower()}"))
    return out


class BridgeCheck(Check):
    name = "bridge"
    proves = "the bridge is up, the tunnel and each local tenant's cable are its ports, learning as the mode says"

    def cases(self, lab: Lab) -> list[Case]:
        return [Case(self.name, h, f"{h} {t.bridge}", t.name) for h, t in host_tunnels(lab) if t.bridge]

    def probes(self, ctx: Context, case: Case) -> list[tuple[str, Probe]]:
        return [(case.host, LINKS)]

    def judge(self, ctx: Context, case: Case, seen: Seen) -> Outcome:
        t = ctx.tunnels[case.tunnel]  # type: ignore[index]
        links, ev = host_links(ctx, seen, case.host)
        if ev is None:
            return Outcome(False, "not run")
        if links is None:
            return Outcome(False, f"could not list {case.host}'s devices", [ev])
        found = bridge_problems(ctx.lab, case.host, t, links)
        ports = [n for n, link in links.items() if link.get("master") == t.bridge]
        brief = ev.brief(f"{t.bridge}: {'UP' if is_up(links.get(str(t.bridge), {})) else 'DOWN'}, "
                         f"ports {' '.join(ports) or 'none'}" if t.bridge in links else f"no {t.bridge}")
        if found:
            return Outcome(False, "; ".join(p.text for p in found), [brief], findings=found)
        tenants = len(ctx.lab.tenants_of(t.name, case.host))
        return Outcome(True, f"{t.bridge} up with {t.name} and {tenants} tenant port(s)", [brief])
