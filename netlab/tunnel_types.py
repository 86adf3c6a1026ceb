"""What netlab knows about each tunnel type: the facts every stage (model, explain, verify) shares.

The `ip` commands themselves live in one Jinja2 template per type under
`roles/overlay/templates/tunnels/`; this table holds only what those templates cannot say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TunnelTypeName = Literal["vxlan", "geneve", "gre", "gretap", "ipip", "sit"]

# Outer headers on an IPv4 underlay, in bytes.
IPV4_HEADER = 20
UDP_HEADER = 8
ETHERNET_HEADER = 14
GRE_HEADER = 4
GRE_KEY = 4


@dataclass(frozen=True)
class TunnelType:
    name: TunnelTypeName
    title: str
    carries: Literal["ethernet", "ipv4", "ipv6"]  # what the tunnel transports
    point_to_point: bool  # True: exactly two endpoints, each the other's `remote`
    has_vni: bool
    has_key: bool
    default_dstport: int | None  # UDP-based types only
    wire_marker: str  # what tcpdump prints for the encapsulation on the underlay
    base_overhead: int  # bytes added on an IPv4 underlay, without optional fields

    def overhead(self, key: int | None = None) -> int:
        return self.base_overhead + (GRE_KEY if self.has_key and key is not None else 0)

    @property
    def is_udp(self) -> bool:
        return self.default_dstport is not None

    @property
    def endpoint_family(self) -> int:
        return 6 if self.carries == "ipv6" else 4

    def overhead_breakdown(self, key: int | None = None) -> str:
        parts = {
            "vxlan": "outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14",
            "geneve": "outer IPv4 20 + UDP 8 + Geneve 8 + inner Ethernet 14",
            "gre": "outer IPv4 20 + GRE 4",
            "gretap": "outer IPv4 20 + GRE 4 + inner Ethernet 14",
            "ipip": "outer IPv4 20",
            "sit": "outer IPv4 20",
        }[self.name]
        if self.has_key and key is not None:
            parts += " + GRE key 4"
        return parts


TUNNEL_TYPES: dict[str, TunnelType] = {
    t.name: t
    for t in (
        TunnelType(
            "vxlan", "VXLAN: Ethernet in UDP", "ethernet", False, True, False, 4789, "VXLAN",
            IPV4_HEADER + UDP_HEADER + 8 + ETHERNET_HEADER,
        ),
        TunnelType(
            "geneve", "GENEVE: Ethernet in UDP with options", "ethernet", True, True, False, 6081,
            "Geneve", IPV4_HEADER + UDP_HEADER + 8 + ETHERNET_HEADER,
        ),
        TunnelType(
            "gre", "GRE: IP in GRE", "ipv4", True, False, True, None, "GREv0",
            IPV4_HEADER + GRE_HEADER,
        ),
        TunnelType(
            "gretap", "gretap: Ethernet in GRE", "ethernet", True, False, True, None, "GREv0",
            IPV4_HEADER + GRE_HEADER + ETHERNET_HEADER,
        ),
        TunnelType(
            "ipip", "IPIP: IPv4 in IPv4", "ipv4", True, False, False, None, "IP ",
            IPV4_HEADER,
        ),
        TunnelType(
            "sit", "SIT: IPv6 in IPv4", "ipv6", True, False, False, None, "IP6 ",
            IPV4_HEADER,
        ),
    )
}
