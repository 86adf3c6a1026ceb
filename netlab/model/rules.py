"""Rules that relate fields of a lab to each other. Each finding names the field path."""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Sequence

from netlab.errors import LabIssue
from netlab.model.lab import Lab, Tunnel
from netlab.model.tenant_rules import bridges_and_tenants
from netlab.model.underlay_rules import underlay_and_machines, unusable
from netlab.tunnels import types_with

IPV6_MIN_MTU = 1280

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def check_lab(
    lab: Lab, positions: Sequence[int] | None = None, unchecked_hosts: Collection[str] = ()
) -> list[LabIssue]:
    """Every rule violation in `lab`.

    `positions[k]` is the index in the file of `lab.tunnels[k]` (when invalid tunnels were left
    out); `unchecked_hosts` are hosts the file has but that failed validation themselves, so an
    endpoint naming one is not reported as an unknown host.
    """
    index = list(positions) if positions is not None else list(range(len(lab.tunnels)))
    return [
        *underlay_and_machines(lab),
        *(issue for k, tunnel in enumerate(lab.tunnels)
          for issue in _tunnel(lab, index[k], tunnel, unchecked_hosts)),
        *_across_tunnels(lab, index),
        *bridges_and_tenants(lab, index),
        *_checks(lab),
    ]


def _tunnel(lab: Lab, i: int, t: Tunnel, unchecked_hosts: Collection[str]) -> Iterator[LabIssue]:
    p = f"tunnels[{i}]"
    kind = t.kind
    if t.name == lab.underlay.interface:
        yield LabIssue(f"{p}.name", f"{t.name!r} is the underlay interface's name: pick another")
    if t.name == "lo":
        yield LabIssue(f"{p}.name", "'lo' is the loopback interface: pick another name")
    if kind.has_vni and t.vni is None:
        yield LabIssue(f"{p}.vni", f"{t.type} needs a vni (1..16777215)")
    if not kind.has_vni and t.vni is not None:
        yield LabIssue(f"{p}.vni", f"{t.type} has no vni; vni is for {types_with('has_vni')}")
    if not kind.has_vlan and t.vlan is not None:
        yield LabIssue(f"{p}.vlan", f"{t.type} has no VLAN id; only {types_with('has_vlan')} tunnels have one")
    if not kind.outer_ip and t.ttl is not None:
        yield LabIssue(f"{p}.ttl", f"{t.type} adds no IP header, so no TTL; ttl is for "
                       f"{types_with('outer_ip', ', ')}")
    if not kind.has_key and t.key is not None:
        yield LabIssue(f"{p}.key", f"{t.type} has no key; key is for {types_with('has_key')}")
    if not kind.is_udp and t.dstport is not None:
        yield LabIssue(f"{p}.dstport", f"{t.type} does not use UDP; dstport is for {types_with('is_udp')}")
    if t.mode is not None and t.mode not in kind.modes:
        what = "is point-to-point" if kind.point_to_point else "takes no mode"
        yield LabIssue(f"{p}.mode", f"{t.type} {what}; mode {t.mode} is for "
                       f"{types_with('mode_help', ', ')} only")
    if not kind.has_group and t.group is not None:
        yield LabIssue(f"{p}.group", f"{t.type} has no multicast group; group is for {types_with('has_group')}")
    yield from kind.rules(lab, p, t)
    if not t.ipv6 and kind.endpoint_family == 6:
        yield LabIssue(f"{p}.ipv6", f"{t.type} carries IPv6: it cannot be IPv4-only (remove ipv6: false)")

    count = len(t.endpoints)
    if t.effective_mode == "p2p" and count != 2:
        others = [m for m in kind.modes if m != "p2p"]
        yield LabIssue(
            f"{p}.endpoints",
            f"{t.type} {'mode p2p ' if others else ''}connects exactly two hosts, "
            f"got {count}" + (f": use mode {' or '.join(others)} for more" if others else ""),
        )
    elif count < 2:
        yield LabIssue(f"{p}.endpoints", f"a tunnel needs at least two endpoints, got {count}")

    max_mtu = lab.underlay.mtu - t.overhead
    if t.mtu is not None and t.mtu > max_mtu:
        yield LabIssue(
            f"{p}.mtu",
            f"{t.mtu} does not fit: underlay MTU {lab.underlay.mtu} minus {t.overhead} bytes of "
            f"{t.type} encapsulation leaves at most {max_mtu}",
        )
    if t.kind.endpoint_family == 6 and t.effective_mtu(lab.underlay.mtu) < IPV6_MIN_MTU:
        if t.mtu is not None:
            yield LabIssue(f"{p}.mtu", f"{t.mtu}: IPv6 needs an MTU of at least {IPV6_MIN_MTU}")
        else:
            yield LabIssue(
                f"{p}.mtu",
                f"underlay MTU {lab.underlay.mtu} minus {t.overhead} bytes of {t.type} leaves "
                f"{t.effective_mtu(lab.underlay.mtu)}; IPv6 needs at least {IPV6_MIN_MTU}: raise "
                "underlay.mtu",
            )

    yield from _endpoints(lab, p, t, unchecked_hosts)


def _endpoints(lab: Lab, p: str, t: Tunnel, unchecked_hosts: Collection[str]) -> Iterator[LabIssue]:
    family = t.kind.endpoint_family
    networks: set[Network] = set()
    for host, address in t.endpoints.items():
        path = f"{p}.endpoints.{host}"
        if host not in lab.hosts and host not in unchecked_hosts:
            known = ", ".join(lab.hosts) or "(none)"
            yield LabIssue(path, f"no host {host!r}; hosts are: {known}")
        if address is None:
            if t.bridge is None:
                yield LabIssue(path, "needs an address with prefix length, e.g. 192.168.60.4/24 (only a tunnel "
                               "with a bridge may leave it out: its tenants carry the addresses)")
            continue
        iface = t.interface(host)
        if iface.version != family:
            want = t.kind.endpoint_family_hint()
            yield LabIssue(path, f"{iface} is IPv{iface.version}; {t.type} endpoints need {want}")
            continue
        net = iface.network
        networks.add(net)
        why = unusable(iface.ip)
        if why:
            yield LabIssue(path, f"{iface.ip} is {why}: use a private address like 10.0.1.1/24")
        host_bits = net.max_prefixlen - net.prefixlen
        if host_bits == 0:
            yield LabIssue(
                path,
                f"{iface} leaves no room for a peer in its subnet: use e.g. /{net.max_prefixlen - 1} "
                f"or /{24 if iface.version == 4 else 64}",
            )
        elif host_bits >= 2 and iface.ip == net.network_address:
            yield LabIssue(path, f"{iface.ip} is the network address of {net}: pick a host address")
        elif host_bits >= 2 and iface.version == 4 and iface.ip == net.broadcast_address:
            yield LabIssue(path, f"{iface.ip} is the broadcast address of {net}: pick a host address")
        for segment in lab.underlay.networks.values():
            if iface.version == 4 and iface.network.overlaps(segment):
                yield LabIssue(
                    path,
                    f"{net} overlaps the underlay {segment}: the tunnel would route "
                    "over itself; use another subnet",
                )
    if len(networks) > 1:
        yield LabIssue(
            f"{p}.endpoints",
            "endpoints must share one subnet, got " + ", ".join(sorted(map(str, networks))),
        )


def _across_tunnels(lab: Lab, index: list[int]) -> Iterator[LabIssue]:
    names: dict[str, int] = {}
    addresses: dict[Address, str] = {}
    subnets_on_host: dict[str, dict[Network, int]] = defaultdict(dict)
    udp_ids: dict[tuple[str, int | None, int | None], int] = {}
    udp_ports: dict[tuple[str, int | None], tuple[str, int]] = {}
    ip_tunnels: dict[tuple[str, str, str, int | None], int] = {}
    vlans: dict[tuple[str, int | None], int] = {}
    flagged: set[str] = set()  # a clash between two tunnels is reported once, not per host

    def once(issue: LabIssue) -> Iterator[LabIssue]:
        if issue.path not in flagged:
            flagged.add(issue.path)
            yield issue

    for k, t in enumerate(lab.tunnels):
        i = index[k]
        p = f"tunnels[{i}]"
        if t.name in names:
            yield LabIssue(f"{p}.name", f"{t.name!r} is already the name of tunnels[{names[t.name]}]")
        names.setdefault(t.name, i)
        for host in t.endpoints:
            path = f"{p}.endpoints.{host}"
            if host in lab.hosts and t.kind.is_udp:
                yield from _udp_clash(p, i, t, host, udp_ids, udp_ports, once)
            elif host in lab.hosts and t.kind.has_vlan:
                yield from _vlan_clash(lab, p, i, t, host, vlans, once)
            elif host in lab.hosts and len(t.endpoints) == 2:
                yield from _ip_clash(p, i, t, host, ip_tunnels, once)
            if t.endpoints[host] is None:
                continue
            iface = t.interface(host)
            where = f"{host} on tunnels[{i}]"
            if iface.ip in addresses:
                yield LabIssue(path, f"{iface.ip} is already used by {addresses[iface.ip]}")
            addresses.setdefault(iface.ip, where)
            for net, other in subnets_on_host[host].items():
                if net.version == iface.network.version and net.overlaps(iface.network):
                    same = "has" if net == iface.network else "has the overlapping subnet"
                    yield LabIssue(
                        path,
                        f"{host} already {same} {net} on tunnels[{other}]: two devices in one "
                        "subnet make routing ambiguous; give one tunnel another subnet",
                    )
                    break
            subnets_on_host[host].setdefault(iface.network, i)


def _udp_clash(p: str, i: int, t: Tunnel, host: str, udp_ids: dict[tuple[str, int | None, int | None], int],
               udp_ports: dict[tuple[str, int | None], tuple[str, int]],
               once: Callable[[LabIssue], Iterator[LabIssue]]) -> Iterator[LabIssue]:
    # The kernel allows one device per (port, VNI) on a host, and one tunnel type per UDP port.
    port = t.effective_dstport
    key = (host, port, t.vni)
    if key in udp_ids:
        yield from once(LabIssue(
            f"{p}.vni",
            f"{host} already has a device with vni {t.vni} on port "
            f"{port} (tunnels[{udp_ids[key]}]): the kernel refuses two",
        ))
    udp_ids.setdefault(key, i)
    user = udp_ports.get((host, port))
    if user is not None and user[0] != t.type:
        yield from once(LabIssue(
            f"{p}.dstport",
            f"{host} already uses UDP port {port} for {user[0]} (tunnels[{user[1]}]): "
            f"{t.type} needs another port",
        ))
    udp_ports.setdefault((host, port), (t.type, i))


def _ip_clash(p: str, i: int, t: Tunnel, host: str, ip_tunnels: dict[tuple[str, str, str, int | None], int],
              once: Callable[[LabIssue], Iterator[LabIssue]]) -> Iterator[LabIssue]:
    peer = next(h for h in t.endpoints if h != host)
    # Types that share an IP protocol are separate in the kernel (the GRE protocol field tells
    # them apart), so only two tunnels of the same type and key collide.
    key4 = (t.type, host, peer, t.key)
    if key4 in ip_tunnels:
        yield from once(LabIssue(
            f"{p}.key" if t.kind.has_key else f"{p}.type",
            f"{host}-{peer} already has a {t.type} tunnel (tunnels[{ip_tunnels[key4]}]) "
            "with the same key: the kernel cannot tell them apart"
            + ("; give each a different key" if t.kind.has_key else ""),
        ))
    ip_tunnels.setdefault(key4, i)


def _vlan_clash(lab: Lab, p: str, i: int, t: Tunnel, host: str, vlans: dict[tuple[str, int | None], int],
                once: Callable[[LabIssue], Iterator[LabIssue]]) -> Iterator[LabIssue]:
    # One device per VLAN id on a NIC: the kernel refuses a second.
    vkey = (host, t.vlan)
    if vkey in vlans:
        yield from once(LabIssue(
            f"{p}.vlan",
            f"{host} already has VLAN {t.vlan} on {lab.underlay.interface} (tunnels[{vlans[vkey]}]): "
            "the kernel refuses two; give each its own VLAN id",
        ))
    vlans.setdefault(vkey, i)


def _checks(lab: Lab) -> Iterator[LabIssue]:
    if lab.checks is None:
        return
    seen: set[str] = set()
    for i, check in enumerate(lab.checks):
        if check in seen:
            yield LabIssue(f"checks[{i}]", f"{check} is listed twice")
        seen.add(check)
