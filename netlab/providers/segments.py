"""The lab's private underlay wires for VM providers: a multicast group and port per segment.

QEMU's socket hub and libvirt's mcast tunnel both make one L2 segment of every NIC that joins
the same group and port; two labs must never share one. A lab gets one group and a run of
consecutive ports (its first segment on the first port, the next segment on the next ...).

Two labs may have the same name: each `NETLAB_STATE_DIR` has its own labs (a test run, a
student). So the start is a hash of the state root and the name, and before a lab takes a wire,
every hub already in use is skipped: those recorded by the labs of this state root, and those on
the command line of any running QEMU (any state root, any user; libvirt's too).
"""

from __future__ import annotations

import contextlib
import re
import zlib

from netlab.errors import NetlabError
from netlab.state import LabState, active_labs
from netlab.tools.processes import command_lines

PORT_FIRST, PORT_COUNT = 40000, 20000
# `-netdev socket,mcast=G:P,...` (QEMU's own syntax) or `"mcast":"G:P"` (libvirt's JSON netdevs).
MCAST_ARG_RE = re.compile(r"""mcast["']?\s*[=:]\s*["']?(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})""")


def underlay_mcast(lab_name: str, scope: str = "") -> tuple[str, int]:
    """A multicast group and (first) port for the lab's private L2 segments (QEMU socket / libvirt
    mcast). `scope` (the state root) keeps same-named labs of two state roots apart."""
    h = zlib.crc32((f"{scope}\0{lab_name}" if scope else lab_name).encode())
    return f"239.255.{(h >> 8) & 0xFF}.{h & 0xFF or 1}", PORT_FIRST + (h >> 16) % PORT_COUNT


def qemu_hubs(argv_lists: list[list[str]], exclude: str | None = None) -> set[tuple[str, int]]:
    """Multicast hubs named on these QEMU command lines; `exclude`: skip command lines with it
    (the lab's own VMs, by their directory)."""
    hubs = set()
    for argv in argv_lists:
        if exclude and any(exclude in arg for arg in argv):
            continue
        for arg in argv:
            hubs.update((g, int(p)) for g, p in MCAST_ARG_RE.findall(arg))
    return hubs


def running_hubs(exclude: str | None = None) -> set[tuple[str, int]]:
    """Hubs joined by running QEMUs (read from their command lines, never touched)."""
    return qemu_hubs(command_lines("qemu-system"), exclude)


def recorded_hubs(state: dict[str, object]) -> set[tuple[str, int]]:
    """The hubs a lab's provider data records: `segments` {name: [group, port]} and `mcast`."""
    hubs = set()
    segments = state.get("segments")
    if isinstance(segments, dict):
        hubs.update((str(g), int(p)) for g, p in segments.values())
    mcast = state.get("mcast")
    if isinstance(mcast, list | tuple) and len(mcast) == 2:
        hubs.add((str(mcast[0]), int(mcast[1])))
    return hubs


def used_mcast(exclude: str, own_dir: str | None = None, probe: bool = True) -> set[tuple[str, int]]:
    """Hubs another lab has: the other labs of this state root that are up, and (`probe`) every
    running QEMU whose command line does not contain `own_dir` (the lab's own VM directory)."""
    taken: set[tuple[str, int]] = set()
    for name in active_labs():
        if name == exclude:
            continue
        with contextlib.suppress(NetlabError, ValueError, TypeError):
            taken |= recorded_hubs(LabState(name).read().provider_data)
    if probe:
        taken |= running_hubs(own_dir)
    return taken


def choose_mcast(lab: str, taken: set[tuple[str, int]], count: int = 1, scope: str = "") -> tuple[str, int]:
    """The lab's group and first port: `count` consecutive ports (one per segment), none taken."""
    group, port = underlay_mcast(lab, scope)
    for _ in range(PORT_COUNT):
        if port + count > PORT_FIRST + PORT_COUNT:
            port = PORT_FIRST  # the run would leave the range: start again at its bottom
        if not any((group, port + k) in taken for k in range(count)):
            return group, port
        port += 1  # a hash collision with another lab: the next port
    raise NetlabError(f"no free underlay port for lab {lab} on group {group}")


def segment_hubs(segments: list[str], first: tuple[str, int]) -> dict[str, tuple[str, int]]:
    """Segment -> its hub: the lab's group, the first port for the first segment, then the next."""
    group, port = first
    return {segment: (group, port + k) for k, segment in enumerate(segments)}
