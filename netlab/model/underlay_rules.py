"""Rules of the underlay: its segments, the hosts' and routers' addresses on them, and whether
routers join every segment a tunnel crosses. Also the warnings a lab may carry on purpose (a
multicast TTL too low to cross its routers: that is the TTL lesson)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from netlab.errors import LabIssue
from netlab.model.lab import Lab
from netlab.model.routing import path, routers_between

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def unusable(ip: Address) -> str | None:
    """Why `ip` cannot be a host's, router's or tunnel endpoint's address, or None."""
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.version == 4 and ip in ipaddress.IPv4Network("0.0.0.0/8"):
        return "in 0.0.0.0/8 ('this network')"
    if ip.version == 4 and ip.is_reserved:
        return "a reserved address (240.0.0.0/4)"
    if ip.version == 6 and ip.is_link_local:
        return "an IPv6 link-local address (the kernel adds those itself; use e.g. fd00::1/64)"
    return None


def _subnet_path(lab: Lab, segment: str) -> str:
    return "underlay.subnet" if not lab.underlay.routed else f"underlay.segments.{segment}.subnet"


def underlay_and_machines(lab: Lab) -> Iterator[LabIssue]:
    yield from _segments(lab)
    if lab.underlay.interface == "lo":
        yield LabIssue("underlay.interface", "'lo' is the loopback interface: use e.g. enp0s8")
    seen: dict[ipaddress.IPv4Address, str] = {}
    for host, spec in lab.hosts.items():
        yield from _address(lab, f"hosts.{host}.ip", spec.ip, None, f"host {host}", seen)
    for router, spec in lab.routers.items():
        if router in lab.hosts:
            yield LabIssue(f"routers.{router}", f"{router!r} is also a host: machines need distinct names")
        for segment, ip in spec.interfaces.items():
            where = f"routers.{router}.interfaces.{segment}"
            if segment not in lab.underlay.networks:
                known = ", ".join(lab.underlay.networks)
                yield LabIssue(where, f"no underlay segment {segment!r}; segments are: {known}")
                continue
            yield from _address(lab, where, ip, segment, f"router {router}", seen)
    lowered: dict[str, str] = {}
    for machine in lab.machines:
        # Hostnames are case-insensitive (DNS, Vagrant machine directories on macOS/Windows).
        kind = "host" if machine in lab.hosts else "router"
        first = lowered.get(machine.lower())
        if first is not None and first != machine:
            first_kind = "host" if first in lab.hosts else "router"
            yield LabIssue(f"{kind}s.{machine}", f"differs only in case from {first_kind} {first}")
        lowered.setdefault(machine.lower(), machine)
    yield from _reachability(lab)


def _segments(lab: Lab) -> Iterator[LabIssue]:
    networks = lab.underlay.networks
    for segment, net in networks.items():
        where = _subnet_path(lab, segment)
        if net.prefixlen > 30:
            yield LabIssue(where, f"{net} has no room for hosts: use a /30 or larger")
        else:
            why = unusable(net.network_address) or unusable(net.broadcast_address)
            if why:
                yield LabIssue(where, f"{net} is {why}: use a private subnet like 192.168.50.0/24")
    names = list(networks)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if networks[a].overlaps(networks[b]):
                yield LabIssue(_subnet_path(lab, b), f"{networks[b]} overlaps segment {a} ({networks[a]})")


def _address(lab: Lab, where: str, text: str, segment: str | None, who: str,
             seen: dict[ipaddress.IPv4Address, str]) -> Iterator[LabIssue]:
    """An address on the underlay: inside its segment (the named one, or any), a host address,
    used once."""
    ip = ipaddress.IPv4Address(text)
    networks = lab.underlay.networks
    found = segment if segment is not None else lab.underlay.segment_of(text)
    if found is None or ip not in networks[found]:
        if not lab.underlay.routed:
            yield LabIssue(where, f"{ip} is outside underlay.subnet {lab.underlay.network}")
        elif segment is not None:
            yield LabIssue(where, f"{ip} is outside segment {segment} ({networks[segment]})")
        else:
            every = ", ".join(f"{n} {net}" for n, net in networks.items())
            yield LabIssue(where, f"{ip} is in no underlay segment ({every})")
    else:
        net = networks[found]
        if ip in (net.network_address, net.broadcast_address):
            what = "network" if ip == net.network_address else "broadcast"
            yield LabIssue(where, f"{ip} is the {what} address of {net}: pick a host address")
    if ip in seen:
        yield LabIssue(where, f"{ip} is already used by {seen[ip]}")
    seen.setdefault(ip, who)


def _reachability(lab: Lab) -> Iterator[LabIssue]:
    """Every host's segment must be joined to every other host's by routers."""
    if not lab.underlay.routed:
        return
    reported: set[frozenset[str]] = set()
    hosts = [(h, lab.underlay.segment_of(spec.ip)) for h, spec in lab.hosts.items()]
    for i, (a, seg_a) in enumerate(hosts):
        for b, seg_b in hosts[i + 1:]:
            if seg_a is None or seg_b is None or seg_a == seg_b or frozenset((seg_a, seg_b)) in reported:
                continue
            if path(lab, [seg_a], seg_b) is None:
                reported.add(frozenset((seg_a, seg_b)))
                yield LabIssue(f"hosts.{b}.ip", f"no router joins segment {seg_b} (where {b} is) to "
                               f"segment {seg_a} (where {a} is): add a router with an address on both")


def lab_warnings(lab: Lab) -> list[LabIssue]:
    """What is allowed but will not work, said before `up`: a multicast TTL that dies at a router,
    a router on the way that does not route multicast."""
    out = []
    for i, t in enumerate(lab.tunnels):
        if t.effective_mode != "multicast" or not lab.routers:
            continue
        ends = list(t.endpoints)
        worst: tuple[int, str, str, list[str]] | None = None
        for a in ends:
            for b in ends:
                crossed = routers_between(lab, a, b) if a != b and a in lab.hosts and b in lab.hosts else None
                if crossed and (worst is None or len(crossed) > worst[0]):
                    worst = (len(crossed), a, b, crossed)
        if worst is None:
            continue
        hops, a, b, crossed = worst
        ttl = t.ttl or 1  # unset (0, inherit): the kernel sends multicast with TTL 1
        if ttl < hops + 1:
            said = f"ttl {t.ttl}" if t.ttl else "no ttl (multicast leaves with TTL 1)"
            dies = crossed[ttl - 1]
            out.append(LabIssue(
                f"tunnels[{i}].ttl",
                f"{said}: from {a} to {b} crosses {hops} router{'s' if hops != 1 else ''} "
                f"({', '.join(crossed)}) and needs at least ttl {hops + 1}; multicast from {a} dies at "
                f"router {dies}",
            ))
        for router in dict.fromkeys(r for x in ends for y in ends if x != y
                                    for r in (routers_between(lab, x, y) or [])):
            if lab.routers[router].multicast == "none":
                out.append(LabIssue(f"routers.{router}.multicast",
                                    f"multicast: none, but {t.name}'s group {t.group} must cross it"))
    return out
