"""VXLAN: Ethernet in UDP, point-to-point, over IP multicast, or with head-end replication."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import TYPE_CHECKING

from netlab.errors import LabIssue
from netlab.tunnels.base import ETHERNET_HEADER, IPV4_HEADER, UDP_HEADER, TunnelType, peers

if TYPE_CHECKING:
    from netlab.model import Lab, Tunnel

MULTICAST = ipaddress.IPv4Network("224.0.0.0/4")
# Link-local multicast (224.0.0.0/24) is never forwarded and is used by routing protocols.
LINK_LOCAL_MULTICAST = ipaddress.IPv4Network("224.0.0.0/24")
VXLAN_HEADER = 8


class Vxlan(TunnelType):
    name = "vxlan"
    title = "VXLAN: Ethernet in UDP"
    carries = "ethernet"
    headers = (("outer IPv4", IPV4_HEADER), ("UDP", UDP_HEADER), ("VXLAN", VXLAN_HEADER),
               ("inner Ethernet", ETHERNET_HEADER))
    probe = "type vxlan id 1 dstport 4789"
    wire_marker = "VXLAN"
    has_vni = True
    default_dstport = 4789
    modes = ("p2p", "multicast", "flood", "static")
    mode_help = ("p2p (default without group), multicast (default with group), "
                 "flood (static head-end replication to every peer), static (no learning: head-end "
                 "replication and a permanent forwarding entry for every MAC netlab gives elsewhere)")
    has_group = True
    learns_macs = True

    def effective_mode(self, t: Tunnel) -> str:
        if t.mode:
            return t.mode
        return "multicast" if t.group else "p2p"

    def lists_peers(self, t: Tunnel) -> bool:
        # flood, static: one all-zeros fdb entry per peer (head-end replication).
        return self.effective_mode(t) in ("flood", "static")

    def rules(self, lab: Lab, path: str, t: Tunnel) -> Iterator[LabIssue]:
        mode = self.effective_mode(t)
        if mode == "multicast" and t.group is None:
            yield LabIssue(f"{path}.group", "mode multicast needs a group, e.g. 239.255.0.1")
        if mode != "multicast" and t.group is not None:
            yield LabIssue(f"{path}.group", f"mode {mode} takes no group: remove it or use mode multicast")
        if t.group is not None:
            group = ipaddress.IPv4Address(t.group)
            if group not in MULTICAST:
                yield LabIssue(f"{path}.group", f"{group} is not a multicast address (224.0.0.0/4)")
            elif group in LINK_LOCAL_MULTICAST:
                yield LabIssue(
                    f"{path}.group",
                    f"{group} is link-local multicast, reserved for protocols: use e.g. 239.255.0.1",
                )

    def endpoint_params(self, lab: Lab, host: str, t: Tunnel) -> dict[str, set[str]]:
        want = {"link": {lab.underlay.interface}}
        mode = self.effective_mode(t)
        if mode == "multicast":
            want["group"] = {str(t.group)}
        elif mode == "p2p":
            want["remote"] = {lab.hosts[peers(t, host)[0]].ip}
        else:  # flood, static: the peers are fdb entries, the device knows only its own address
            want["local"] = {lab.hosts[host].ip}
        if mode == "static":
            # iproute2 prints the flag as a JSON boolean: the device must not learn.
            want["learning"] = {"False"}
        return want

    def udp_wire(self, local: str, t: Tunnel) -> tuple[list[str], list[str]]:
        # Always say it is VXLAN: tcpdump picks a decoder by port, VXLAN only on 4789, and a random
        # source port can win (49152 decodes as BCM-LI-SHIM). The filter keeps only the tunnel's.
        return ["-T", "vxlan"], [self.wire_marker, f"IP {local}.", f"vni {t.vni}"]


TYPE = Vxlan()
