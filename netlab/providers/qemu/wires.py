"""A lab's underlay in QEMU: one socket multicast hub per segment, and which NIC joins which.

A host has one underlay NIC (PCI slot 8, on its segment's hub); a router one per segment it
joins, in slots 8, 9, 10 ... in the order of its interfaces, so the guest names them enp0s8,
enp0s9, enp0s10 ... as `Lab.router_nics` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from netlab.model import Lab
from netlab.providers.segments import choose_mcast, segment_hubs, used_mcast
from netlab.state import state_root

Hub = tuple[str, int]


def lab_hubs(lab: Lab, info: dict[str, Any], vm_dir: Path) -> dict[str, Hub]:
    """Segment -> (group, port) of its hub: the ones recorded in the provider data `info` while
    the lab keeps its segments; else a run of ports that neither another lab of this state root
    nor any running QEMU but the lab's own (its VMs' disks are in `vm_dir`) has."""
    segments = list(lab.underlay.networks)
    recorded = info.get("segments") or {}
    if sorted(recorded) == sorted(segments):
        return {s: (str(recorded[s][0]), int(recorded[s][1])) for s in segments}
    if not recorded and info.get("mcast") and len(segments) == 1:  # a lab up since before segments
        return {segments[0]: (str(info["mcast"][0]), int(info["mcast"][1]))}
    taken = used_mcast(lab.name, own_dir=f"{vm_dir}/")
    first = choose_mcast(lab.name, taken, count=len(segments), scope=str(state_root()))
    return segment_hubs(segments, first)


def nic_hubs(lab: Lab, machine: str, hubs: dict[str, Hub]) -> tuple[Hub, ...]:
    """The hubs of a machine's underlay NICs in slot order."""
    if machine in lab.routers:
        return tuple(hubs[s] for s in lab.router_nics(machine))
    underlay = lab.underlay
    return (hubs[underlay.segment_of(lab.hosts[machine].ip) or next(iter(underlay.networks))],)


def underlay_names(lab: Lab, machine: str) -> list[str]:
    """The names the lab gives the machine's underlay NICs, in slot order."""
    if machine in lab.routers:
        return list(lab.router_nics(machine).values())
    return [lab.underlay.interface]
