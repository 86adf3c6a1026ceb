"""What every tunnel type module provides: its facts, rules, kernel probe and what the checks expect.

A type is one subclass of `TunnelType` in its own module (`netlab/tunnels/<type>.py`) plus one
template (`roles/overlay/templates/tunnels/<type>.j2`) that renders its `ip` commands. Nothing
outside this package names a type: the rest of netlab asks the type.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from netlab.errors import LabIssue

if TYPE_CHECKING:
    from netlab.model import Lab, Tunnel

# Outer headers on an IPv4 underlay, in bytes.
IPV4_HEADER = 20
UDP_HEADER = 8
ETHERNET_HEADER = 14
GRE_HEADER = 4
GRE_KEY = 4

Carries = Literal["ethernet", "ipv4", "ipv6"]


class TunnelType:
    """One tunnel type. Subclasses set the facts; the methods have the common behaviour."""

    name: ClassVar[str]
    title: ClassVar[str]
    carries: ClassVar[Carries]  # what the tunnel transports
    # (header, bytes) added on an IPv4 underlay, without optional fields (a GRE key).
    headers: ClassVar[tuple[tuple[str, int], ...]]
    # `ip link add NAME <probe>` that this kernel accepts only if it has the type.
    probe: ClassVar[str]
    # What tcpdump prints for the encapsulation on the underlay.
    wire_marker: ClassVar[str]
    has_vni: ClassVar[bool] = False
    has_key: ClassVar[bool] = False
    has_vlan: ClassVar[bool] = False  # an 802.1Q VLAN id (`vlan:`) instead of an outer IP header
    default_dstport: ClassVar[int | None] = None  # UDP-based types only
    ip_protocol: ClassVar[int | None] = None  # IP-based types: the outer header's protocol number
    # Modes a lab may set (`mode:`); point-to-point types have only p2p.
    modes: ClassVar[tuple[str, ...]] = ("p2p",)
    mode_help: ClassVar[str] = ""  # what each mode means, for the lab format's documentation
    has_group: ClassVar[bool] = False
    # The kernel learns peers' MACs in a forwarding table (`bridge fdb`) that the fdb check reads.
    learns_macs: ClassVar[bool] = False
    # Devices the kernel makes by itself in every namespace once this type's module is loaded
    # (fallback devices: gre0 ...): never the lab's, never a student's, never to be removed.
    kernel_devices: ClassVar[tuple[str, ...]] = ()
    # Its capture filter cannot be or-ed with another tunnel's of the same capture (libpcap's
    # `vlan` keyword shifts the offsets of everything after it): the wire check captures alone.
    wire_alone: ClassVar[bool] = False

    # -- facts ------------------------------------------------------------------------------------
    @property
    def template(self) -> str:
        """The Jinja2 template (under roles/overlay/templates/) with this type's `ip` commands."""
        return f"tunnels/{self.name}.j2"

    @property
    def base_overhead(self) -> int:
        return sum(size for _, size in self.headers)

    def overhead(self, key: int | None = None) -> int:
        return self.base_overhead + (GRE_KEY if self.has_key and key is not None else 0)

    def overhead_breakdown(self, key: int | None = None) -> str:
        parts = " + ".join(f"{what} {size}" for what, size in self.headers)
        if self.has_key and key is not None:
            parts += f" + GRE key {GRE_KEY}"
        return parts

    @property
    def is_udp(self) -> bool:
        return self.default_dstport is not None

    @property
    def outer_ip(self) -> bool:
        """Whether the type wraps frames in an outer IP header (so has a TTL, a local and a remote)."""
        return self.is_udp or self.ip_protocol is not None

    @property
    def point_to_point(self) -> bool:
        """True when the type always connects exactly two endpoints (no other mode)."""
        return self.modes == ("p2p",)

    @property
    def endpoint_family(self) -> int:
        return 6 if self.carries == "ipv6" else 4

    def effective_mode(self, t: Tunnel) -> str:
        return "p2p"

    def lists_peers(self, t: Tunnel) -> bool:
        """Whether the host's commands name every peer (not only for point-to-point)."""
        return False

    def describe(self, t: Tunnel) -> str:
        """The type as a list or a table shows it ("vxlan multicast", "gre")."""
        return self.name if self.point_to_point else f"{self.name} {self.effective_mode(t)}"

    def probe_commands(self, device: str) -> list[str]:
        """Commands that make a throw-away `device` of this type, run in a throw-away namespace:
        they succeed only if the kernel has the type."""
        return [f"ip link add {device} {self.probe}"]

    # -- the lab file -----------------------------------------------------------------------------
    def rules(self, lab: Lab, path: str, t: Tunnel) -> Iterator[LabIssue]:
        """Rules only this type has (the common ones live in netlab.model.rules)."""
        return iter(())

    def endpoint_family_hint(self) -> str:
        """What an endpoint of the wrong address family is told."""
        return "IPv4"

    # -- verify -----------------------------------------------------------------------------------
    def expected_params(self, lab: Lab, host: str, t: Tunnel) -> dict[str, set[str]]:
        """info_data fields (as text) that `ip -d -j link show` must report for this tunnel."""
        want: dict[str, set[str]] = {}
        if self.has_vni:
            want["id"] = {str(t.vni)}
            want["port"] = {str(t.effective_dstport)}
        want.update(self.endpoint_params(lab, host, t))
        if t.ttl is not None:
            want["ttl"] = {str(t.ttl)}
        if self.has_key and t.key is not None:
            want["ikey"] = key_forms(t.key)
            want["okey"] = key_forms(t.key)
        return want

    def differences(self, lab: Lab, host: str, t: Tunnel, link: dict[str, Any]) -> list[str]:
        """What differs between a device as `ip -d -j addr show` reports it and the lab (empty:
        nothing), in words a student reads: "id is 101, lab says 100"."""
        problems = []
        info = link.get("linkinfo", {})
        if info.get("info_kind") != t.type:
            problems.append(f"type is {info.get('info_kind')}, lab says {t.type}")
        data = info.get("info_data", {}) or {}
        want = self.expected_params(lab, host, t)
        if "link" in want and "link" not in data and "link" in link:
            # Some iproute2 versions print the lower device beside info_data, not in it.
            data = {**data, "link": link["link"]}
        for key, allowed in want.items():
            actual = data.get(key)
            if actual is None or str(actual) not in allowed:
                problems.append(f"{key} is {actual}, lab says {sorted(allowed)[0]}")
        if "UP" not in link.get("flags", []):
            problems.append("the device is down")
        if not t.ipv6 and link.get("inet6_addr_gen_mode") not in (None, "none"):
            problems.append(f"addrgenmode is {link.get('inet6_addr_gen_mode')}, lab says none (IPv4 only)")
        mtu = t.effective_mtu(lab.underlay.mtu)
        if link.get("mtu") != mtu:
            problems.append(f"mtu is {link.get('mtu')}, expected {mtu}")
        if t.bridge is not None or t.endpoints[host] is None:
            return problems  # a bridged tunnel's address sits on its bridge (see the bridge check)
        address = ipaddress.ip_interface(t.endpoints[host])
        have = {
            ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}")
            for a in link.get("addr_info", [])
            if "local" in a
        }
        if address not in have:
            has = ", ".join(sorted(map(str, have))) or "none"
            problems.append(f"address {address} missing (has {has})")
        return problems

    def inner_ipv6_filter(self, t: Tunnel) -> str | None:
        """A capture filter matching this tunnel's packets whose inner frame is IPv6 (the router
        solicitations and MLD reports every Ethernet tunnel sends: noise in a capture). None for
        tunnels that carry IP: there the inner IPv6 is what the lesson is about (SIT)."""
        if self.carries != "ethernet":
            return None
        outer = {"outer IPv4", "UDP", "inner Ethernet"}
        encap = sum(size for what, size in self.headers if what not in outer)
        encap += GRE_KEY if self.has_key and t.key is not None else 0
        ethertype = encap + 12  # inner Ethernet: two MACs, then the type
        if self.is_udp:
            return f"(udp port {t.effective_dstport} and udp[{UDP_HEADER + ethertype}:2] = 0x86dd)"
        return f"(ip proto {self.ip_protocol} and ip[{IPV4_HEADER + ethertype}:2] = 0x86dd)"

    def endpoint_params(self, lab: Lab, host: str, t: Tunnel) -> dict[str, set[str]]:
        """The addresses the device must carry: by default this host's local and the peer's remote."""
        return {"remote": {lab.hosts[peers(t, host)[0]].ip}, "local": {lab.hosts[host].ip}}

    def wire_filter(self, lab: Lab, host: str, peer: str, t: Tunnel) -> tuple[list[str], str, list[str]]:
        """tcpdump options, a filter catching this host's encapsulated packets to `peer`, and the
        text each such packet shows. Other checks ping at the same time, so the filter names both
        ends."""
        local = lab.hosts[host].ip
        ends = f"src host {local} and dst host {lab.hosts[peer].ip}"
        # tcpdump writes UDP sources as ADDRESS.PORT, other protocols as ADDRESS.
        if self.is_udp:
            options, expect = self.udp_wire(local, t)
            return options, f"udp dst port {t.effective_dstport} and {ends}", expect
        expect = [self.wire_marker.strip(), f"IP {local} >"]
        if self.has_key and t.key is not None:
            expect.append(f"key=0x{t.key:x}")
        return [], f"ip proto {self.ip_protocol} and {ends}", expect

    def wire_header(self, lab: Lab, host: str, peer: str, t: Tunnel) -> list[str]:
        """How tcpdump starts a packet of host's tunnel t to peer (after the timestamp): literal
        parts, with the UDP source port between them (see netlab.verify.checks.wire)."""
        local, remote = lab.hosts[host].ip, lab.hosts[peer].ip
        if self.is_udp:
            return [f"IP {local}.", f" > {remote}.{t.effective_dstport}: "]
        return [f"IP {local} > {remote}: {self.wire_marker}"]

    def udp_wire(self, local: str, t: Tunnel) -> tuple[list[str], list[str]]:
        """tcpdump options and expected text for a UDP-based type."""
        return [], [self.wire_marker.strip(), f"IP {local}."]


def peers(t: Tunnel, host: str) -> list[str]:
    return [h for h in t.endpoints if h != host]


def key_forms(key: int) -> set[str]:
    # iproute2 prints GRE keys as a dotted quad (0.0.0.42); accept the number too.
    return {str(key), str(ipaddress.IPv4Address(key))}
