"""Per-host variables: the one description of a host that Ansible, explain and netns all render."""

from __future__ import annotations

import ipaddress
from typing import Any

from netlab.macs import tunnel_mac
from netlab.model import Lab, Tunnel
from netlab.model.routing import routes
from netlab.render.tenants import bridged_vars


def tunnel_vars(lab: Lab, host: str, tunnel: Tunnel) -> dict[str, Any]:
    local = lab.hosts[host].ip
    # Only a tunnel that names its peers gets the list: a host of a 1000-host multicast tunnel
    # must not carry 999 addresses it never uses (that made render grow with the square).
    point_to_point = tunnel.effective_mode == "p2p"
    listed = point_to_point or tunnel.kind.lists_peers(tunnel)
    peers = [lab.hosts[h].ip for h in tunnel.endpoints if h != host] if listed else []
    address = tunnel.endpoints[host]
    return {
        "name": tunnel.name,
        "type": tunnel.type,
        # The template with this type's `ip` commands (roles/overlay/templates/tunnels/).
        "template": tunnel.kind.template,
        "label": tunnel.kind.describe(tunnel),  # "vxlan multicast", "gre": for comments
        "mode": tunnel.effective_mode,
        "vni": tunnel.vni,
        "key": tunnel.key,
        "vlan": tunnel.vlan,
        "group": tunnel.group,
        "ttl": tunnel.ttl,
        "dstport": tunnel.effective_dstport,
        "dev": lab.underlay.interface,
        "local": local,
        "remote": peers[0] if point_to_point and peers else None,
        "peers": peers,
        "address": address,  # None: a bridged tunnel whose host has no address on it
        # Ethernet tunnels get a fixed MAC: after a reboot the peers' ARP and fdb entries still
        # hold, instead of pointing at the random MAC the device had before.
        "mac": tunnel_mac(host, tunnel.name) if tunnel.kind.carries == "ethernet" else None,
        "family": ipaddress.ip_interface(address).version if address else None,
        "ipv6": tunnel.ipv6,
        "mtu": tunnel.mtu,
        "effective_mtu": tunnel.effective_mtu(lab.underlay.mtu),
        "overhead": tunnel.overhead,
        **bridged_vars(lab, host, tunnel),
    }


def host_vars(lab: Lab, host: str) -> dict[str, Any]:
    """Everything the underlay and overlay roles need for `host` (written to host_vars/HOST.yml)."""
    ip = ipaddress.IPv4Address(lab.hosts[host].ip)
    segment = lab.underlay.segment_of(str(ip)) or next(iter(lab.underlay.networks))
    net = lab.underlay.networks[segment]
    return {
        "netlab_lab": lab.name,
        "netlab_underlay": {
            "name": segment,
            "interface": lab.underlay.interface,
            "address": f"{ip}/{net.prefixlen}",
            "ip": str(ip),
            "mtu": lab.underlay.mtu,
            # Routed underlays: the other segments, through the first router on the way.
            "routes": [{"to": str(r.to), "via": r.via} for r in routes(lab, host)],
        },
        "netlab_tunnels": [tunnel_vars(lab, host, t) for t in lab.tunnels_of(host)],
    }


def router_vars(lab: Lab, router: str) -> dict[str, Any]:
    """Everything the router role needs for `router`: addresses, routes, multicast routes."""
    spec = lab.routers[router]
    nics = lab.router_nics(router)
    networks = lab.underlay.networks
    groups = sorted({str(t.group) for t in lab.tunnels if t.effective_mode == "multicast" and t.group})
    multicast = spec.multicast == "static" and len(nics) > 1
    return {
        "netlab_lab": lab.name,
        "netlab_router": {
            "name": router,
            "mtu": lab.underlay.mtu,
            "interfaces": [
                {"name": nics[segment], "segment": segment, "address": f"{ip}/{networks[segment].prefixlen}"}
                for segment, ip in spec.interfaces.items()
            ],
            "routes": [{"to": str(r.to), "via": r.via, "dev": nics[r.segment]} for r in routes(lab, router)],
            "multicast": multicast,
            # Every group of the lab, from each NIC to all the others (smcroute's static routes).
            "mroutes": [
                {"from": nic, "group": group, "to": [other for other in nics.values() if other != nic]}
                for group in groups for nic in nics.values()
            ] if multicast else [],
        },
    }


def machine_vars(lab: Lab, machine: str) -> dict[str, Any]:
    return router_vars(lab, machine) if machine in lab.routers else host_vars(lab, machine)
