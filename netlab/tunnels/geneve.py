"""GENEVE: Ethernet in UDP with options (always point-to-point here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netlab.tunnels.base import ETHERNET_HEADER, IPV4_HEADER, UDP_HEADER, TunnelType, peers

if TYPE_CHECKING:
    from netlab.model import Lab, Tunnel

GENEVE_HEADER = 8


class Geneve(TunnelType):
    name = "geneve"
    title = "GENEVE: Ethernet in UDP with options"
    carries = "ethernet"
    headers = (("outer IPv4", IPV4_HEADER), ("UDP", UDP_HEADER), ("Geneve", GENEVE_HEADER),
               ("inner Ethernet", ETHERNET_HEADER))
    probe = "type geneve id 1 remote 192.0.2.1"
    wire_marker = "Geneve"
    has_vni = True
    default_dstport = 6081

    def endpoint_params(self, lab: Lab, host: str, t: Tunnel) -> dict[str, set[str]]:
        # A geneve device has no local address: the kernel picks the source by route.
        return {"remote": {lab.hosts[peers(t, host)[0]].ip}}

    def udp_wire(self, local: str, t: Tunnel) -> tuple[list[str], list[str]]:
        if t.effective_dstport == self.default_dstport:
            return [], [self.wire_marker, f"IP {local}.", f"vni 0x{t.vni:x}"]
        # tcpdump decodes Geneve only on 6081: on another port it shows plain UDP.
        return [], [f"{local}.", f".{t.effective_dstport}:"]


TYPE = Geneve()
