"""Routes of a routed underlay: shortest paths through routers, computed from the lab alone.

Segments are the nodes, routers the edges (a router joins every pair of its segments). Every
machine gets a route to each segment it is not on, through the first router of a shortest
path (fewest router hops; ties go to the router listed first).
"""

from __future__ import annotations

import ipaddress
from collections import deque
from dataclasses import dataclass

from netlab.model.lab import Lab


@dataclass(frozen=True)
class Route:
    to: ipaddress.IPv4Network
    via: str  # the next router's address, on a segment this machine is on
    segment: str  # that segment (the machine's NIC on it carries the route)


def machine_segments(lab: Lab, machine: str) -> list[str]:
    """The segments a host or router is plugged into."""
    if machine in lab.routers:
        return list(lab.routers[machine].interfaces)
    segment = lab.underlay.segment_of(lab.hosts[machine].ip)
    return [segment] if segment else []


def _search(lab: Lab, start: list[str]) -> dict[str, tuple[str, str] | None]:
    """Breadth-first from `start`: segment -> (segment before it, router between), None at a start."""
    parent: dict[str, tuple[str, str] | None] = {s: None for s in start}
    queue = deque(start)
    while queue:
        here = queue.popleft()
        for name, router in lab.routers.items():
            if here not in router.interfaces:
                continue
            for there in router.interfaces:
                if there not in parent:
                    parent[there] = (here, name)
                    queue.append(there)
    return parent


def path(lab: Lab, start: list[str], target: str) -> list[tuple[str, str]] | None:
    """(router, segment it is entered from) for each hop from `start` to `target`; None if no
    router joins them, [] if `target` is one of `start`."""
    parent = _search(lab, start)
    if target not in parent:
        return None
    hops: list[tuple[str, str]] = []
    step = parent[target]
    while step is not None:
        before, router = step
        hops.append((router, before))
        step = parent[before]
    return list(reversed(hops))


def routes(lab: Lab, machine: str) -> list[Route]:
    """The static routes `machine` needs: one per segment it is not on and can reach."""
    mine = machine_segments(lab, machine)
    out = []
    for segment, network in lab.underlay.networks.items():
        if segment in mine:
            continue
        hops = path(lab, mine, segment)
        if not hops:
            continue
        router, entered_from = hops[0]
        out.append(Route(network, lab.routers[router].interfaces[entered_from], entered_from))
    return out


def routers_between(lab: Lab, a: str, b: str) -> list[str] | None:
    """Routers a packet from machine `a` to machine `b` crosses, in order (None: no path)."""
    start = machine_segments(lab, a)
    target = machine_segments(lab, b)
    if not start or not target:
        return None
    best = None
    for segment in target:
        hops = path(lab, start, segment)
        if hops is not None and (best is None or len(hops) < len(best)):
            best = hops
    return None if best is None else [router for router, _ in best]
