"""The lab's private underlay wire for VM providers: a multicast group and port per lab.

QEMU's socket hub and libvirt's mcast tunnel both make one L2 segment of every NIC that joins
the same group and port; two labs must never share one.
"""

from __future__ import annotations

import contextlib
import zlib

from netlab.errors import NetlabError
from netlab.state import LabState, active_labs


def underlay_mcast(lab_name: str) -> tuple[str, int]:
    """A multicast group and port for the lab's private L2 segment (QEMU socket / libvirt mcast)."""
    h = zlib.crc32(lab_name.encode())
    return f"239.255.{(h >> 8) & 0xFF}.{h & 0xFF or 1}", 40000 + (h >> 16) % 20000


def used_mcast(exclude: str) -> set[tuple[str, int]]:
    """Underlay groups of the other qemu labs that are up (two labs must not share a wire)."""
    taken = set()
    for name in active_labs():
        if name == exclude:
            continue
        with contextlib.suppress(NetlabError):
            mcast = LabState(name).read().provider_data.get("mcast")
            if mcast:
                taken.add((mcast[0], int(mcast[1])))
    return taken


def choose_mcast(lab: str, taken: set[tuple[str, int]]) -> tuple[str, int]:
    group, port = underlay_mcast(lab)
    while (group, port) in taken:  # a hash collision with another lab: the next port
        port = 40000 + (port - 40000 + 1) % 20000
    return group, port
