"""Rules for bridges, learning modes and tenants: what a tunnel's bridge may be, and where a tenant
may live. Each finding names the field path."""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterator

from netlab.errors import LabIssue
from netlab.model.lab import Lab, Tunnel
from netlab.model.underlay_rules import unusable
from netlab.tunnels import TUNNEL_TYPES

# A tenant's namespace holds its name, and so does its host-side veth (see netlab.tenants).
TENANT_NAME_MAX = 32


def bridges_and_tenants(lab: Lab, index: list[int]) -> Iterator[LabIssue]:
    bridge_of: dict[tuple[str, str], int] = {}
    for k, t in enumerate(lab.tunnels):
        p = f"tunnels[{index[k]}]"
        yield from _bridge(lab, p, t)
        if t.bridge is None:
            continue
        for host in t.endpoints:
            other = bridge_of.setdefault((host, t.bridge), index[k])
            if other != index[k]:
                yield LabIssue(f"{p}.bridge", f"{host} already has bridge {t.bridge} for tunnels[{other}]: give "
                               "each tunnel its own bridge (one bridge is one L2 segment: two tunnels on one "
                               "bridge would join their VNIs, and this kernel has no VLAN filtering to keep them "
                               "apart)")
    positions = {t.name: index[k] for k, t in enumerate(lab.tunnels)}
    yield from _tenants(lab, positions)


def _bridge(lab: Lab, p: str, t: Tunnel) -> Iterator[LabIssue]:
    mode = t.effective_mode
    if t.arp_suppress and t.bridge is None:
        yield LabIssue(f"{p}.arp_suppress", "needs a bridge: neigh_suppress is a flag of a bridge port "
                       "(add bridge: br0 and tenants behind it)")
    elif t.arp_suppress and mode not in ("static", "evpn"):
        yield LabIssue(f"{p}.arp_suppress", f"mode {mode} learns addresses by flooding, so no VTEP knows them in "
                       "advance: use mode static (netlab writes the neighbour entries) or evpn")
    if t.bridge is None:
        return
    if t.kind.carries != "ethernet":
        ethernet = ", ".join(n for n, k in TUNNEL_TYPES.items() if k.carries == "ethernet")
        yield LabIssue(f"{p}.bridge", f"{t.type} carries {t.kind.carries.replace('ipv', 'IPv')} packets, not Ethernet "
                       "frames, and a bridge forwards frames: use a type that carries Ethernet "
                       f"({ethernet}) or remove the bridge")
    if t.bridge in (t.name, lab.underlay.interface, "lo") or any(o.name == t.bridge for o in lab.tunnels):
        yield LabIssue(f"{p}.bridge", f"{t.bridge!r} is already a device's name (a tunnel, the underlay NIC or lo): "
                       "pick another, e.g. br" + str(t.vni or 0))


def _tenants(lab: Lab, positions: dict[str, int]) -> Iterator[LabIssue]:
    machines = set(lab.machines)
    addresses: dict[tuple[str, ipaddress.IPv4Address | ipaddress.IPv6Address], str] = {}
    subnets: dict[str, set[ipaddress.IPv4Network | ipaddress.IPv6Network]] = defaultdict(set)
    tunnels = {t.name: t for t in lab.tunnels}
    for name, tenant in lab.tenants.items():
        p = f"tenants.{name}"
        if name in machines:
            yield LabIssue(p, f"{name!r} is already a host or router: a tenant needs a name of its own")
        if len(name) > TENANT_NAME_MAX:
            yield LabIssue(p, f"the name is {len(name)} characters: at most {TENANT_NAME_MAX}")
        t = tunnels.get(tenant.tunnel)
        if t is None:
            yield LabIssue(f"{p}.tunnel", f"no tunnel {tenant.tunnel!r}; tunnels are: "
                           f"{', '.join(tunnels) or '(none)'}")
        elif t.bridge is None:
            yield LabIssue(f"{p}.tunnel", f"{t.name} (tunnels[{positions[t.name]}]) has no bridge for tenants to "
                           f"plug into: add bridge: br{t.vni or 0} to it")
        if tenant.host not in lab.hosts:
            yield LabIssue(f"{p}.host", f"no host {tenant.host!r}; hosts are: {', '.join(lab.hosts)}")
        elif t is not None and tenant.host not in t.endpoints:
            yield LabIssue(f"{p}.host", f"{tenant.host} is not an endpoint of {t.name}: a tenant runs on one of "
                           f"its VTEPs ({', '.join(t.endpoints)})")
        iface = tenant.interface
        why = unusable(iface.ip)
        if why:
            yield LabIssue(f"{p}.ip", f"{iface.ip} is {why}: use a private address like 10.100.0.1/24")
        elif iface.network.num_addresses > 2 and iface.ip in (iface.network.network_address,
                                                             iface.network.broadcast_address):
            yield LabIssue(f"{p}.ip", f"{iface.ip} is the network or broadcast address of {iface.network}: "
                           "pick a host address")
        for segment in lab.underlay.networks.values():
            if iface.version == 4 and iface.network.overlaps(segment):
                yield LabIssue(f"{p}.ip", f"{iface.network} overlaps the underlay {segment}: tenant traffic "
                               "would leave through the underlay; use another subnet")
        if t is None:
            continue
        # A segment is a VNI: the same address may live in two tunnels (that is isolation), not in one.
        owner = addresses.setdefault((t.name, iface.ip), f"tenant {name}")
        if owner != f"tenant {name}":
            yield LabIssue(f"{p}.ip", f"{iface.ip} is already {owner}'s on {t.name}")
        for host, address in t.addresses.items():
            if ipaddress.ip_interface(address).ip == iface.ip:
                yield LabIssue(f"{p}.ip", f"{iface.ip} is {host}'s own address on {t.name}")
        subnets[t.name].add(iface.network)
        svi = {ipaddress.ip_interface(a).network for a in t.addresses.values()}
        if svi and iface.network not in svi:
            yield LabIssue(f"{p}.ip", f"{iface.network} is not the subnet of {t.name}'s bridge addresses "
                           f"({', '.join(sorted(map(str, svi)))}): one segment is one subnet")
    for tunnel, nets in subnets.items():
        if len(nets) > 1:
            first = next(n for n, x in lab.tenants.items() if x.tunnel == tunnel)
            yield LabIssue(f"tenants.{first}.ip", f"the tenants of {tunnel} must share one subnet, got "
                           f"{', '.join(sorted(map(str, nets)))}")
