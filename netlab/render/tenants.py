"""What a bridged tunnel puts on one host: its bridge, its tenants' veths, and the entries a
static VTEP is given instead of learning them."""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from netlab.macs import tenant_mac, tunnel_mac
from netlab.model import Lab, Tunnel

TENANT_IFNAME = "eth0"


def veth_name(tenant: str) -> str:
    """The host-side end of a tenant's cable (at most 15 characters, never an ip keyword)."""
    if len(tenant) <= 12:
        return f"tn-{tenant}"
    return f"tn-{tenant[:6]}{hashlib.sha256(tenant.encode()).hexdigest()[:6]}"


def bridge_mac(lab: Lab, host: str, t: Tunnel) -> str | None:
    return tunnel_mac(host, t.bridge) if t.bridge else None


def macs_behind(lab: Lab, host: str, t: Tunnel) -> list[tuple[str, str, str | None]]:
    """(MAC, VTEP underlay address, IP or None) of everything on `t` that lives on another host:
    its tenants, and the bridges (SVIs) and tunnel devices that carry an address."""
    out: list[tuple[str, str, str | None]] = []
    for name, tenant in lab.tenants_of(t.name).items():
        if tenant.host != host:
            out.append((tenant_mac(name), lab.hosts[tenant.host].ip, str(tenant.interface.ip)))
    for peer, address in t.endpoints.items():
        if peer == host:
            continue
        device_mac = bridge_mac(lab, peer, t) or tunnel_mac(peer, t.name)
        ip = str(ipaddress.ip_interface(address).ip) if address else None
        out.append((device_mac, lab.hosts[peer].ip, ip))
    return out


def bridged_vars(lab: Lab, host: str, t: Tunnel) -> dict[str, Any]:
    """The bridge, tenants and static entries of tunnel `t` on `host`, for overlay.sh.j2."""
    mtu = t.effective_mtu(lab.underlay.mtu)
    static = t.effective_mode == "static"
    entries = macs_behind(lab, host, t) if static else []
    return {
        "bridge": {"name": t.bridge, "mac": bridge_mac(lab, host, t), "mtu": mtu} if t.bridge else None,
        "arp_suppress": t.arp_suppress,
        "static": [{"mac": mac, "dst": dst} for mac, dst, _ in entries],
        "neighbours": [{"mac": mac, "ip": ip} for mac, _, ip in entries if ip and t.arp_suppress],
        "tenants": [
            {"name": name, "veth": veth_name(name), "mac": tenant_mac(name),
             "address": tenant.ip, "mtu": mtu}
            for name, tenant in lab.tenants_of(t.name, host).items()
        ],
    }
