"""gretap: Ethernet in GRE, with an optional key."""

from __future__ import annotations

from netlab.tunnels.base import ETHERNET_HEADER, GRE_HEADER, IPV4_HEADER, TunnelType


class Gretap(TunnelType):
    name = "gretap"
    title = "gretap: Ethernet in GRE"
    carries = "ethernet"
    headers = (("outer IPv4", IPV4_HEADER), ("GRE", GRE_HEADER), ("inner Ethernet", ETHERNET_HEADER))
    probe = "type gretap local 192.0.2.2 remote 192.0.2.1"
    wire_marker = "GREv0"
    has_key = True
    ip_protocol = 47  # the GRE protocol field (0x6558, Ethernet) tells it from gre
    kernel_devices = ("gretap0", "erspan0")


TYPE = Gretap()
