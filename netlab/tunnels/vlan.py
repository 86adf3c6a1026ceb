"""vlan: an 802.1Q VLAN on the underlay NIC (the seed's lab8): no tunnel at all, a tag.

The device (`enp0s8.100`) sits on the underlay NIC and tags every frame it sends with its
VLAN id; frames of other VLANs never reach it. All endpoints share one L2 segment, like the
hosts of a switch port group, so there are no peers to name and no outer IP header: nothing
to route, no TTL, no local or remote address.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from netlab.errors import LabIssue
from netlab.tunnels.base import TunnelType

if TYPE_CHECKING:
    from netlab.model import Lab, Tunnel

VLAN_TAG = 4


class Vlan(TunnelType):
    name = "vlan"
    title = "VLAN: 802.1Q-tagged Ethernet on the underlay NIC"
    carries = "ethernet"
    # The tag is the whole cost. (A NIC usually carries it beyond 1500 bytes, which is why the
    # kernel gives a VLAN device its parent's MTU; netlab keeps the tunnels' rule, MTU = underlay
    # minus encapsulation, so the lab's arithmetic is the same for every type.)
    headers = (("802.1Q tag", VLAN_TAG),)
    # Not used on its own: a VLAN needs an Ethernet device below it (see probe_commands).
    probe = "type vlan id 1"
    wire_marker = "802.1Q"  # with -e: "ethertype 802.1Q (0x8100), length 102: vlan 100, p 0, ..."
    has_vlan = True
    wire_alone = True
    modes = ()  # no `mode:`: a VLAN is one segment of all its endpoints

    def effective_mode(self, t: Tunnel) -> str:
        return "segment"

    def describe(self, t: Tunnel) -> str:
        return self.name

    def probe_commands(self, device: str) -> list[str]:
        # The loopback device refuses VLANs: make a veth pair in the throw-away namespace first.
        return [f"ip link add {device}a type veth peer name {device}b",
                f"ip link add link {device}a name {device} {self.probe}"]

    def rules(self, lab: Lab, path: str, t: Tunnel) -> Iterator[LabIssue]:
        if t.vlan is None:
            yield LabIssue(f"{path}.vlan", "vlan needs a VLAN id (1..4094), e.g. vlan: 100")
        # A tag crosses no router: every endpoint must be on the same underlay segment.
        segments = {h: lab.underlay.segment_of(lab.hosts[h].ip) for h in t.endpoints if h in lab.hosts}
        if len(set(segments.values())) > 1:
            where = ", ".join(f"{h} on {s}" for h, s in segments.items())
            yield LabIssue(f"{path}.endpoints", f"a VLAN is one L2 segment and crosses no router: {where}; "
                           "put its hosts on one segment")

    def expected_params(self, lab: Lab, host: str, t: Tunnel) -> dict[str, set[str]]:
        # `ip -d -j link show` reports {"protocol": "802.1Q", "id": 100, ...} and the lower
        # device as "link" beside info_data.
        return {"protocol": {"802.1Q"}, "id": {str(t.vlan)}, "link": {lab.underlay.interface}}

    def inner_ipv6_filter(self, t: Tunnel) -> str | None:
        # A tagged IPv6 frame. Not with libpcap's `vlan` keyword, which shifts the offsets of
        # every test after it in the capture filter. A tag the kernel keeps beside the frame (a
        # received frame, or a NIC that tags on sending) leaves the frame plain IPv6: `not ip6`
        # in the capture's filter already drops those.
        return "(ether[12:2] = 0x8100 and ether[16:2] = 0x86dd)"

    def wire_header(self, lab: Lab, host: str, peer: str, t: Tunnel) -> list[str]:
        # With -e a line starts with the MACs (broadcast for an ARP): any start; the flow is told
        # by the VLAN id and the inner addresses that `wire_filter` expects.
        return [""]

    def wire_filter(self, lab: Lab, host: str, peer: str, t: Tunnel) -> tuple[list[str], str, list[str]]:
        # `-e` prints the link-level header, where tcpdump shows the tag ("vlan 100, p 0"). No
        # outer IP header: the filter takes this VLAN's frames from this host's tunnel address
        # to the peer's, which for ARP (sender and target address) is the request for the peer.
        mine, theirs = t.interface(host).ip, t.interface(peer).ip
        return (["-e"], f"vlan {t.vlan} and src host {mine} and dst host {theirs}",
                [self.wire_marker, f"vlan {t.vlan},"])


TYPE = Vlan()
