"""GRE: IP in GRE, with an optional key."""

from __future__ import annotations

from netlab.tunnels.base import GRE_HEADER, IPV4_HEADER, TunnelType


class Gre(TunnelType):
    name = "gre"
    title = "GRE: IP in GRE"
    carries = "ipv4"
    headers = (("outer IPv4", IPV4_HEADER), ("GRE", GRE_HEADER))
    probe = "type gre local 192.0.2.2 remote 192.0.2.1"
    wire_marker = "GREv0"
    has_key = True
    ip_protocol = 47
    kernel_devices = ("gre0", "erspan0", "ip6gre0")


TYPE = Gre()
