"""Convergence of what a bridged tunnel adds on a host: its bridge, the tunnel as the bridge's
port, the tenants' cables, and (static mode) the entries given instead of learned. A tunnel and
all it carries on a host are one unit: when the tunnel or its bridge differs from the lab, the unit is
rebuilt; a tenant's cable or a static entry that differs is remade alone."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from netlab.macs import tenant_mac
from netlab.model import Lab, Tunnel
from netlab.render.tenants import TENANT_IFNAME, bridge_mac, macs_behind, veth_name

FLOOD_MAC = "00:00:00:00:00:00"  # head-end replication: the all-zeros entry per peer


def unit_devices(lab: Lab, host: str, t: Tunnel) -> list[str]:
    """The devices of tunnel `t`'s unit on `host`: the tunnel, its bridge, the tenants' veths."""
    devices = [t.name]
    if t.bridge:
        devices.append(t.bridge)
        devices += [veth_name(name) for name in lab.tenants_of(t.name, host)]
    return devices


def bridge_differences(lab: Lab, host: str, t: Tunnel, links: dict[str, dict[str, Any]],
                       tenant_links: dict[str, dict[str, Any] | None]) -> list[str]:
    """Why the bridge of `t` on `host` is not what the lab says (empty: it is)."""
    if t.bridge is None:
        return []
    bridge = links.get(t.bridge)
    if bridge is None:
        return [f"bridge {t.bridge} missing"]
    why = []
    if (bridge.get("linkinfo") or {}).get("info_kind") != "bridge":
        why.append(f"{t.bridge} is not a bridge")
    if bridge.get("address") != bridge_mac(lab, host, t):
        why.append(f"{t.bridge}'s MAC is {bridge.get('address')}")
    if "UP" not in bridge.get("flags", []):
        why.append(f"{t.bridge} is down")
    want = {ipaddress.ip_interface(t.endpoints[host])} if t.endpoints[host] else set()
    have = global_addresses(bridge)
    if have != want:
        why.append(f"{t.bridge} has {', '.join(sorted(map(str, have))) or 'no address'}")
    return why


def port_differences(t: Tunnel, links: dict[str, dict[str, Any]]) -> list[str]:
    """Why the tunnel device is not the port of its bridge the lab says (remade with the device)."""
    if t.bridge is None:
        return []
    why = []
    port = links.get(t.name, {})
    if port.get("master") != t.bridge:
        why.append(f"{t.name} is not a port of {t.bridge}")
    flags = (port.get("linkinfo") or {}).get("info_slave_data") or {}
    if t.arp_suppress and not flags.get("neigh_suppress"):
        why.append(f"neigh_suppress is off on {t.name}")
    return why


def of_bridge(line: str, bridge: str) -> bool:
    """Whether a line of a bridged tunnel's commands makes its bridge (which a rebuilt tunnel
    device joins again as it is: its tenants stay plugged in)."""
    return line.startswith((f"ip link add {bridge} ", f"ip link set {bridge} ")) \
        or (line.startswith("ip addr add ") and line.endswith(f" dev {bridge}"))


def tenant_differences(lab: Lab, host: str, t: Tunnel, links: dict[str, dict[str, Any]],
                       tenant_links: dict[str, dict[str, Any] | None]) -> dict[str, str]:
    """{tenant: why} for each tenant of `t` on `host` whose cable (veth, eth0) differs from the lab.
    A tenant is its own part of the unit: its cable is remade alone, the others keep theirs."""
    mtu = t.effective_mtu(lab.underlay.mtu)
    why: dict[str, str] = {}
    for name in lab.tenants_of(t.name, host):
        veth = links.get(veth_name(name))
        inside = tenant_links.get(name)
        if veth is None or inside is None:
            why[name] = f"tenant {name}'s cable missing"
        elif veth.get("master") != t.bridge or "UP" not in veth.get("flags", []):
            why[name] = f"tenant {name}'s cable is not an up port of {t.bridge}"
        elif inside.get("mtu") != mtu or "UP" not in inside.get("flags", []) \
                or global_addresses(inside) != {lab.tenants[name].interface} \
                or inside.get("address") != tenant_mac(name):
            why[name] = f"tenant {name}'s {TENANT_IFNAME} differs"
    return why


def static_differences(lab: Lab, host: str, t: Tunnel, entries: list[dict[str, Any]] | None) -> list[str]:
    """static mode: the permanent entries on the tunnel device, each MAC to its VTEP."""
    missing, extra = static_changes(lab, host, t, entries)
    why = [f"{len(missing)} static entries missing ({missing[0][0]} dst {missing[0][1]} ...)"] if missing else []
    return why + ([f"{len(extra)} static entries not in the lab ({extra[0][0]} ...)"] if extra else [])


def static_changes(lab: Lab, host: str, t: Tunnel, entries: list[dict[str, Any]] | None,
                   ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """static mode: the (MAC, VTEP) entries missing on the tunnel device, and the permanent ones the
    lab no longer has (a tenant removed or moved)."""
    if t.effective_mode != "static" or entries is None:
        return [], []
    have = {(e.get("mac"), e.get("dst")) for e in entries if "dst" in e and "permanent" in e.get("state", "permanent")}
    want = [(mac, dst) for mac, dst, _ in macs_behind(lab, host, t)]
    missing = [pair for pair in want if pair not in have]
    extra = sorted((str(mac), str(dst)) for mac, dst in have
                   if mac != FLOOD_MAC and (mac, dst) not in want and mac is not None and dst is not None)
    return missing, extra


def static_fix(lab: Lab, host: str, t: Tunnel, entries: list[dict[str, Any]] | None) -> list[str]:
    """Commands that make a static VTEP's entries what the lab says, touching only those that differ
    (the tunnel, its bridge and every other tenant's cable stay as they are)."""
    missing, extra = static_changes(lab, host, t, entries)
    commands = [f"bridge fdb del {mac} dev {t.name} dst {dst} self" for mac, dst in extra]
    on_bridge = {e.get("mac") for e in entries or [] if e.get("master") == t.bridge}
    commands += [f"bridge fdb del {mac} dev {t.name} master" for mac in dict.fromkeys(m for m, _ in extra)
                 if mac in on_bridge]
    if missing and t.bridge:
        ips = {mac: ip for mac, _, ip in macs_behind(lab, host, t)}
        for mac, dst in missing:
            commands.append(f"bridge fdb replace {mac} dev {t.name} dst {dst} self permanent")
            if t.arp_suppress and ips.get(mac):
                commands.append(f"bridge fdb replace {mac} dev {t.name} master static")
                commands.append(f"ip neigh replace {ips[mac]} lladdr {mac} dev {t.bridge} nud permanent")
    return commands


def tenant_query(lab: Lab, host: str, prefix: str) -> list[tuple[str, str]]:
    """(tenant, namespace as the host names it) of every tenant on `host`."""
    return [(name, prefix + name) for name, tenant in lab.tenants.items() if tenant.host == host]


def parse_links(text: str) -> dict[str, dict[str, Any]]:
    try:
        return {link["ifname"]: link for link in json.loads(text or "[]")}
    except (ValueError, KeyError, TypeError):
        return {}


def global_addresses(link: dict[str, Any]) -> set[ipaddress.IPv4Interface | ipaddress.IPv6Interface]:
    return {
        ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}")
        for a in link.get("addr_info", [])
        if "local" in a and a.get("scope") == "global"
    }
