"""IPIP: IPv4 in IPv4."""

from __future__ import annotations

from netlab.tunnels.base import IPV4_HEADER, TunnelType


class Ipip(TunnelType):
    name = "ipip"
    title = "IPIP: IPv4 in IPv4"
    carries = "ipv4"
    headers = (("outer IPv4", IPV4_HEADER),)
    probe = "type ipip local 192.0.2.2 remote 192.0.2.1"
    wire_marker = "IP "
    ip_protocol = 4
    kernel_devices = ("tunl0", "ip6tnl0")


TYPE = Ipip()
