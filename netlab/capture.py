"""`netlab capture`: tcpdump on the underlay, printing outer and inner headers (or a pcap)."""

from __future__ import annotations

import ipaddress

from netlab.errors import NetlabError
from netlab.model import Lab
from netlab.providers.base import Provider


def default_filter(lab: Lab) -> list[str]:
    """Everything but IPv6 noise: outer IPv6 (the machines' own), and inner IPv6 of the Ethernet
    tunnels (router solicitations and MLD reports each tunnel device sends when it comes up)."""
    inner = dict.fromkeys(f for t in lab.tunnels if (f := t.kind.inner_ipv6_filter(t)))
    return " and ".join(["not ip6", *(f"not {f}" for f in inner)]).split()


def ping_target(lab: Lab, source: str, target: str) -> str:
    """`target` as an address `source` can ping: an IP as given, or a host's address on a tunnel
    both are on (its underlay address when they share none)."""
    if source not in lab.hosts:
        raise NetlabError(f"--ping: lab {lab.name} has no host {source!r}", hint=f"hosts: {', '.join(lab.hosts)}")
    if target == source:
        other = next((h for h in lab.hosts if h != source), "HOST")
        raise NetlabError(f"--ping {source} {target}: a host pinging itself sends nothing over the underlay",
                          hint=f"ping another host: --ping {source} {other}")
    try:
        return str(ipaddress.ip_address(target))
    except ValueError:
        pass
    if target not in lab.hosts:
        raise NetlabError(f"--ping: {target!r} is neither a host of lab {lab.name} nor an IP address",
                          hint=f"hosts: {', '.join(lab.hosts)}")
    shared = next((t for t in lab.tunnels if source in t.endpoints and target in t.endpoints), None)
    return str(shared.interface(target).ip) if shared else lab.hosts[target].ip


def capture_argv(
    provider: Provider, host: str | None, count: int, pcap: bool, filter_words: list[str],
    segment: str | None = None,
) -> list[str]:
    lab = provider.lab
    if count < 1:
        raise NetlabError("--count must be at least 1")
    if host is not None and host not in lab.machines:
        raise NetlabError(f"lab {lab.name} has no host {host!r}", hint=f"hosts: {', '.join(lab.machines)}")
    if segment is not None and segment not in lab.underlay.networks:
        raise NetlabError(f"lab {lab.name} has no underlay segment {segment!r}",
                          hint=f"segments: {', '.join(lab.underlay.networks)}")
    # -n: numbers, not names; -e: MACs, so learned fdb entries can be matched to frames;
    # -l: line-buffered, so output appears as packets arrive; -U: each packet written at once.
    tcpdump = ["tcpdump", "-n", "-e", "-l", "-c", str(count)]
    tcpdump += ["-U", "-w", "-"] if pcap else ["-v"]
    words = filter_words or default_filter(lab)
    segment_bridge = getattr(provider, "segment_bridge", None)
    if host is None and segment_bridge is not None:
        # netns: the switch sees every machine of a segment at once.
        bridge = segment_bridge(segment or next(iter(lab.underlay.networks)))
        return provider.switch_argv([*tcpdump, "-i", bridge, *words])  # type: ignore[attr-defined]
    machine, nic = _machine_on(lab, host, segment)
    return provider.host_argv(machine, [*tcpdump, "-i", nic, *words])


def _machine_on(lab: Lab, host: str | None, segment: str | None) -> tuple[str, str]:
    """Where to capture: the host's underlay NIC, or a router's NIC on `segment`, or a host's."""
    if host is not None and host in lab.routers:
        nics = lab.router_nics(host)
        return host, nics[segment] if segment in nics else next(iter(nics.values()))
    if host is not None:
        return host, lab.underlay.interface
    for router in lab.routers:  # a router sees every segment it joins
        if segment in lab.router_nics(router):
            return router, lab.router_nics(router)[segment]
    on_segment = [h for h, spec in lab.hosts.items() if segment is None or lab.underlay.segment_of(spec.ip) == segment]
    return (on_segment or list(lab.hosts))[0], lab.underlay.interface
