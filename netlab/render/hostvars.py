"""Per-host variables: the one description of a host that Ansible, explain and netns all render."""

from __future__ import annotations

import ipaddress
from typing import Any

from netlab.macs import stable_mac
from netlab.model import Lab, Tunnel


def tunnel_vars(lab: Lab, host: str, tunnel: Tunnel) -> dict[str, Any]:
    local = lab.hosts[host].ip
    # Only a tunnel that names its peers gets the list: a host of a 1000-host multicast tunnel
    # must not carry 999 addresses it never uses (that made render grow with the square).
    point_to_point = tunnel.effective_mode == "p2p"
    listed = point_to_point or tunnel.kind.lists_peers(tunnel)
    peers = [lab.hosts[h].ip for h in tunnel.endpoints if h != host] if listed else []
    iface = tunnel.interface(host)
    return {
        "name": tunnel.name,
        "type": tunnel.type,
        # The template with this type's `ip` commands (roles/overlay/templates/tunnels/).
        "template": tunnel.kind.template,
        "label": tunnel.kind.describe(tunnel),  # "vxlan multicast", "gre": for comments
        "mode": tunnel.effective_mode,
        "vni": tunnel.vni,
        "key": tunnel.key,
        "group": tunnel.group,
        "ttl": tunnel.ttl,
        "dstport": tunnel.effective_dstport,
        "dev": lab.underlay.interface,
        "local": local,
        "remote": peers[0] if point_to_point and peers else None,
        "peers": peers,
        "address": str(iface),
        # Ethernet tunnels get a fixed MAC: after a reboot the peers' ARP and fdb entries still
        # hold, instead of pointing at the random MAC the device had before.
        "mac": stable_mac(lab.name, host, tunnel.name) if tunnel.kind.carries == "ethernet" else None,
        "family": iface.version,
        "mtu": tunnel.mtu,
        "effective_mtu": tunnel.effective_mtu(lab.underlay.mtu),
        "overhead": tunnel.overhead,
    }


def host_vars(lab: Lab, host: str) -> dict[str, Any]:
    """Everything the underlay and overlay roles need for `host` (written to host_vars/HOST.yml)."""
    net = lab.underlay.network
    ip = ipaddress.IPv4Address(lab.hosts[host].ip)
    return {
        "netlab_lab": lab.name,
        "netlab_underlay": {
            "name": lab.underlay.name,
            "interface": lab.underlay.interface,
            "address": f"{ip}/{net.prefixlen}",
            "ip": str(ip),
            "mtu": lab.underlay.mtu,
        },
        "netlab_tunnels": [tunnel_vars(lab, host, t) for t in lab.tunnels_of(host)],
    }
