"""Rules that relate fields of a lab to each other. Each finding names the field path."""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterator

from netlab.errors import LabIssue
from netlab.model import Lab, Tunnel

MULTICAST = ipaddress.IPv4Network("224.0.0.0/4")
# Link-local multicast (224.0.0.0/24) is never forwarded and is used by routing protocols.
LINK_LOCAL_MULTICAST = ipaddress.IPv4Network("224.0.0.0/24")


def check_lab(lab: Lab) -> list[LabIssue]:
    return list(_underlay_and_hosts(lab)) + [
        issue for i, tunnel in enumerate(lab.tunnels) for issue in _tunnel(lab, i, tunnel)
    ] + list(_across_tunnels(lab)) + list(_checks(lab))


def _underlay_and_hosts(lab: Lab) -> Iterator[LabIssue]:
    net = lab.underlay.network
    if net.prefixlen > 30:
        yield LabIssue("underlay.subnet", f"{net} has no room for hosts: use a /30 or larger")
    seen: dict[ipaddress.IPv4Address, str] = {}
    for host, spec in lab.hosts.items():
        ip = ipaddress.IPv4Address(spec.ip)
        path = f"hosts.{host}.ip"
        if ip not in net:
            yield LabIssue(path, f"{ip} is outside underlay.subnet {net}")
        elif ip in (net.network_address, net.broadcast_address):
            what = "network" if ip == net.network_address else "broadcast"
            yield LabIssue(path, f"{ip} is the {what} address of {net}: pick a host address")
        if ip in seen:
            yield LabIssue(path, f"{ip} is already used by host {seen[ip]}")
        seen[ip] = host
    lowered: dict[str, str] = {}
    for host in lab.hosts:
        # Hostnames are case-insensitive (DNS, Vagrant machine directories on macOS/Windows).
        if host.lower() in lowered:
            yield LabIssue(f"hosts.{host}", f"differs only in case from host {lowered[host.lower()]}")
        lowered[host.lower()] = host


def _tunnel(lab: Lab, i: int, t: Tunnel) -> Iterator[LabIssue]:
    p = f"tunnels[{i}]"
    kind = t.kind
    if t.name == lab.underlay.interface:
        yield LabIssue(f"{p}.name", f"{t.name!r} is the underlay interface's name: pick another")
    if kind.has_vni and t.vni is None:
        yield LabIssue(f"{p}.vni", f"{t.type} needs a vni (1..16777215)")
    if not kind.has_vni and t.vni is not None:
        yield LabIssue(f"{p}.vni", f"{t.type} has no vni; vni is for vxlan and geneve")
    if not kind.has_key and t.key is not None:
        yield LabIssue(f"{p}.key", f"{t.type} has no key; key is for gre and gretap")
    if not kind.is_udp and t.dstport is not None:
        yield LabIssue(f"{p}.dstport", f"{t.type} does not use UDP; dstport is for vxlan and geneve")
    if t.type != "vxlan" and t.mode not in (None, "p2p"):
        yield LabIssue(f"{p}.mode", f"{t.type} is point-to-point; mode {t.mode} is for vxlan only")
    if t.type != "vxlan" and t.group is not None:
        yield LabIssue(f"{p}.group", f"{t.type} has no multicast group; group is for vxlan")

    mode = t.effective_mode
    if t.type == "vxlan" and mode == "multicast" and t.group is None:
        yield LabIssue(f"{p}.group", "mode multicast needs a group, e.g. 239.255.0.1")
    if t.type == "vxlan" and mode != "multicast" and t.group is not None:
        yield LabIssue(f"{p}.group", f"mode {mode} takes no group: remove it or use mode multicast")
    if t.group is not None:
        group = ipaddress.IPv4Address(t.group)
        if group not in MULTICAST:
            yield LabIssue(f"{p}.group", f"{group} is not a multicast address (224.0.0.0/4)")
        elif group in LINK_LOCAL_MULTICAST:
            yield LabIssue(
                f"{p}.group",
                f"{group} is link-local multicast, reserved for protocols: use e.g. 239.255.0.1",
            )

    count = len(t.endpoints)
    point_to_point = kind.point_to_point or mode == "p2p"
    if point_to_point and count != 2:
        yield LabIssue(
            f"{p}.endpoints",
            f"{t.type} {'mode p2p ' if t.type == 'vxlan' else ''}connects exactly two hosts, "
            f"got {count}" + (": use mode multicast or flood for more" if t.type == "vxlan" else ""),
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
    if t.type == "sit" and t.mtu is not None and t.mtu < 1280:
        yield LabIssue(f"{p}.mtu", "IPv6 needs an MTU of at least 1280")

    yield from _endpoints(lab, p, t)


def _endpoints(lab: Lab, p: str, t: Tunnel) -> Iterator[LabIssue]:
    family = t.kind.endpoint_family
    networks = set()
    for host in t.endpoints:
        path = f"{p}.endpoints.{host}"
        if host not in lab.hosts:
            yield LabIssue(path, f"no host {host!r}; hosts are: {', '.join(lab.hosts)}")
        iface = t.interface(host)
        if iface.version != family:
            want = "IPv6 (SIT carries IPv6 over IPv4)" if family == 6 else "IPv4"
            yield LabIssue(path, f"{iface} is IPv{iface.version}; {t.type} endpoints need {want}")
            continue
        net = iface.network
        networks.add(net)
        host_bits = net.max_prefixlen - net.prefixlen
        if host_bits >= 2 and iface.ip in (net.network_address, net.broadcast_address):
            what = "network" if iface.ip == net.network_address else "broadcast"
            yield LabIssue(path, f"{iface.ip} is the {what} address of {net}: pick a host address")
        if iface.version == 4 and iface.network.overlaps(lab.underlay.network):
            yield LabIssue(
                path,
                f"{net} overlaps the underlay {lab.underlay.network}: the tunnel would route "
                "over itself; use another subnet",
            )
    if len(networks) > 1:
        yield LabIssue(
            f"{p}.endpoints",
            "endpoints must share one subnet, got " + ", ".join(sorted(map(str, networks))),
        )


def _across_tunnels(lab: Lab) -> Iterator[LabIssue]:
    names: dict[str, int] = {}
    addresses: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str] = {}
    subnets_on_host: dict[str, dict[object, int]] = defaultdict(dict)
    udp_ids: dict[tuple[str, int | None, int | None], int] = {}
    ip_tunnels: dict[tuple[str, str, str, int | None], int] = {}
    for i, t in enumerate(lab.tunnels):
        p = f"tunnels[{i}]"
        if t.name in names:
            yield LabIssue(f"{p}.name", f"{t.name!r} is already the name of tunnels[{names[t.name]}]")
        names.setdefault(t.name, i)
        for host in t.endpoints:
            try:
                iface = t.interface(host)
            except ValueError:
                continue
            path = f"{p}.endpoints.{host}"
            where = f"{host} on tunnels[{i}]"
            if iface.ip in addresses:
                yield LabIssue(path, f"{iface.ip} is already used by {addresses[iface.ip]}")
            addresses.setdefault(iface.ip, where)
            other = subnets_on_host[host].get(iface.network)
            if other is not None:
                yield LabIssue(
                    path,
                    f"{host} already has {iface.network} on tunnels[{other}]: two devices in one "
                    "subnet make routing ambiguous; give one tunnel another subnet",
                )
            subnets_on_host[host].setdefault(iface.network, i)
            if host not in lab.hosts:
                continue
            if t.kind.is_udp:
                # The kernel allows one device per (port, VNI) on a host.
                ident = (t.type, t.effective_dstport, t.vni)
                key = (host, *ident[1:])
                if key in udp_ids and udp_ids[key] != i:
                    yield LabIssue(
                        f"{p}.vni",
                        f"{host} already has a device with vni {t.vni} on port "
                        f"{t.effective_dstport} (tunnels[{udp_ids[key]}]): the kernel refuses two",
                    )
                udp_ids.setdefault(key, i)  # type: ignore[arg-type]
            elif len(t.endpoints) == 2:
                peer = next(h for h in t.endpoints if h != host)
                family = "gre" if t.type in ("gre", "gretap") else t.type
                key4 = (family, host, peer, t.key)
                if key4 in ip_tunnels:
                    yield LabIssue(
                        f"{p}.key" if t.kind.has_key else f"{p}.type",
                        f"{host}-{peer} already has a {family} tunnel (tunnels[{ip_tunnels[key4]}]) "
                        "with the same key: the kernel cannot tell them apart"
                        + ("; give each a different key" if t.kind.has_key else ""),
                    )
                ip_tunnels.setdefault(key4, i)


def _checks(lab: Lab) -> Iterator[LabIssue]:
    if lab.checks is None:
        return
    seen: set[str] = set()
    for i, check in enumerate(lab.checks):
        if check in seen:
            yield LabIssue(f"checks[{i}]", f"{check} is listed twice")
        seen.add(check)
