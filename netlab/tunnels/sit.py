"""SIT: IPv6 in IPv4 (6in4)."""

from __future__ import annotations

from netlab.tunnels.base import IPV4_HEADER, TunnelType


class Sit(TunnelType):
    name = "sit"
    title = "SIT: IPv6 in IPv4"
    carries = "ipv6"
    headers = (("outer IPv4", IPV4_HEADER),)
    probe = "type sit local 192.0.2.2 remote 192.0.2.1"
    wire_marker = "IP6 "
    ip_protocol = 41
    kernel_devices = ("sit0", "ip6tnl0")

    def endpoint_family_hint(self) -> str:
        return "IPv6 (SIT carries IPv6 over IPv4)"


TYPE = Sit()
