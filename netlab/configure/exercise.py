"""Exercise mode (`up --no-overlay`): machines, underlay and routers only; the tunnels are the
students'. Converging to it removes the tunnel devices netlab made and nothing a student made.

A device is netlab's when it carries the lab's name for a tunnel and:
- an Ethernet tunnel: it has the MAC netlab gives that tunnel on that host (netlab.macs: the same
  lab, host and device always get the same one; a student's device gets the kernel's random one,
  or whatever the student sets). A student who replaced netlab's device keeps theirs.
- an IP tunnel (no MAC to tell it by): the lab was a full-overlay lab until now, where netlab
  built every tunnel device; in an exercise lab such a device is the student's.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from netlab.configure.ipbatch import configure_host, configure_router, current_links, run_commands
from netlab.macs import tunnel_mac
from netlab.model import Lab, Tunnel
from netlab.providers.base import Progress, Provider


def netlab_made(lab: Lab, host: str, t: Tunnel, link: dict[str, Any], was_full: bool) -> bool:
    """Whether `link` (named like tunnel `t`, on `host`) is a device netlab built."""
    if t.kind.carries != "ethernet":
        return was_full
    return str(link.get("address", "")).lower() == tunnel_mac(host, t.name)


def remove_netlab_tunnels(provider: Provider, progress: Progress, was_full: bool) -> list[str]:
    """Delete, on every host, the tunnel devices netlab made; returns what changed, one line each.
    `was_full`: the lab was brought up with its overlay before (every tunnel device is netlab's)."""
    lab = provider.lab

    def one(host: str) -> list[str]:
        tunnels = lab.tunnels_of(host)
        if not tunnels:
            return []
        links, _ = current_links(provider, host)
        ours = [t.name for t in tunnels if t.name in links and netlab_made(lab, host, t, links[t.name], was_full)]
        if ours:
            run_commands(provider, host, [f"ip link del {name}" for name in ours])
        return [f"{host}: removed {name} (netlab's: exercise mode has no tunnels)" for name in ours]

    with ThreadPoolExecutor(max_workers=max(1, min(16, len(lab.hosts)))) as pool:
        changes = [c for host_changes in pool.map(one, list(lab.hosts)) for c in host_changes]
    for change in changes:
        progress(change)
    return changes


def configure_machines(provider: Provider, progress: Progress) -> list[str]:
    """The fast path in exercise mode: hosts get their underlay only (nothing of theirs removed);
    routers get the whole lab, so they forward the multicast groups of the tunnels the students
    will build (a router told a lab without tunnels forwards no group)."""
    progress("configuring hosts with ip -batch (exercise mode: no tunnels)")
    lab = provider.lab
    hosts_only = type(provider)(lab.model_copy(update={"tunnels": []}), provider.state)

    def one(machine: str) -> list[str]:
        if machine in lab.routers:
            return configure_router(provider, machine)
        return configure_host(hosts_only, machine, prune=False)

    with ThreadPoolExecutor(max_workers=max(1, min(16, len(lab.machines)))) as pool:
        changes = [c for machine_changes in pool.map(one, lab.machines) for c in machine_changes]
    for change in changes:
        progress(change)
    return changes


def configure_routers(provider: Provider, progress: Progress) -> list[str]:
    """After another configurer ran with a lab without tunnels: the routers as the whole lab says."""
    changes = [c for router in provider.lab.routers for c in configure_router(provider, router)]
    for change in changes:
        progress(change)
    return changes
