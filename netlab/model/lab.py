"""The lab file format (the public contract teachers write against), as pydantic models.

Structure and ranges are checked by pydantic; rules that relate fields to each other
(addresses in subnets, endpoint counts, overlaps) live in `netlab.model.rules`, so that every
problem in a file is reported together.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from netlab.tunnels import TUNNEL_TYPES, TYPE_NAMES, TunnelType, types_with

# The type names a lab file may use, from the registry of tunnel type modules.
TunnelTypeName = Literal[TYPE_NAMES]  # type: ignore[valid-type]
MODES = tuple(dict.fromkeys(m for t in TUNNEL_TYPES.values() for m in t.modes))

CheckName = Literal["ping", "params", "maddr", "fdb", "socket", "mtu", "wire", "isolation", "route", "tenant", "bridge"]
ALL_CHECKS: tuple[str, ...] = CheckName.__args__  # type: ignore[attr-defined]

LAB_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
# Host names become hostnames, Vagrant machine names (Ruby strings), inventory names and
# namespace names: letters, digits and inner hyphens only, so no quoting is ever needed.
HOST_NAME_RE = re.compile(r"^[A-Za-z](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")
# Linux interface names: at most 15 characters; we also keep them shell-safe.
IFNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,14}$")
SEGMENT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
BOX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,63})?$")
# Names Ansible gives a meaning of its own (groups `all`/`ungrouped`, the controller itself).
RESERVED_HOST_NAMES = frozenset({"all", "ungrouped", "localhost"})
# What an address with prefix length is written with; no IPv6 scope ids ("fe80::1%eth0").
ADDRESS_CHARS_RE = re.compile(r"^[0-9A-Fa-f.:/]+$")


def _matching(regex: re.Pattern[str], allowed: str) -> AfterValidator:
    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise ValueError(f"{value!r} is not allowed here: use {allowed}")
        return value

    return AfterValidator(check)


def _host_name(value: str) -> str:
    if value.lower() in RESERVED_HOST_NAMES:
        raise ValueError(f"{value!r} is reserved (Ansible uses it): pick another host name")
    return value


def _one_line(value: str) -> str:
    bad = next((c for c in value if ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise ValueError(f"must be one line of text: it contains {bad!r}")
    return value


# Words `ip link` reads as keywords where a device name may stand: a device named `type` or
# `mtu` makes `ip link add mtu type vxlan ...` fail with a page of usage text.
IP_KEYWORDS = frozenset((
    "address", "alias", "all", "allmulticast", "arp", "broadcast", "carrier", "default", "dev", "down",
    "dstport", "dynamic", "group", "help", "id", "index", "key", "ikey", "okey", "label", "link", "local",
    "master", "mode", "mtu", "multicast", "name", "netns", "nomaster", "numrxqueues", "numtxqueues", "peer",
    "promisc", "protodown", "qlen", "remote", "scope", "state", "to", "tos", "trailers", "ttl", "txqueuelen",
    "type", "up", "vf", "via", "xdp", "addrgenmode",
))


def _not_an_ip_keyword(value: str) -> str:
    if value.lower() in IP_KEYWORDS:
        raise ValueError(f"{value!r} is a keyword of the ip command: pick another name, e.g. {value}0")
    return value


def _text_block(value: str) -> str:
    bad = next((c for c in value if (ord(c) < 32 and c not in "\n\t") or ord(c) == 127), None)
    if bad is not None:
        raise ValueError(f"must be plain text: it contains the control character {bad!r}")
    return value


def _not_bool(value: object) -> object:
    # YAML `true` would otherwise be taken as the number 1.
    if isinstance(value, bool):
        raise ValueError(f"must be a whole number, got {str(value).lower()}")
    return value


def _interface_with_prefix(value: str) -> str:
    if not ADDRESS_CHARS_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an IP address with prefix length like 192.168.60.4/24 or fd00::1/64"
        )
    if "/" not in value:
        raise ValueError(f"{value!r} needs a prefix length, e.g. 192.168.60.4/24 or fd00::1/64")
    try:
        ipaddress.ip_interface(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IP address with prefix length ({exc})") from None
    return value


def _ipv4(value: str) -> str:
    if ":" in value:
        raise ValueError(f"{value!r} is IPv6; the underlay is IPv4 (SIT carries IPv6 inside it)")
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address like 192.168.50.4") from None
    return value


def _ipv4_network(value: str) -> str:
    if ":" in value:
        raise ValueError(f"{value!r} is IPv6; the underlay is IPv4 (SIT carries IPv6 inside it)")
    if "/" not in value:
        raise ValueError(f"{value!r} needs a prefix length, like 192.168.50.0/24")
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        try:
            loose = ipaddress.IPv4Network(value, strict=False)
        except ValueError:
            loose = None
        if loose is not None:
            raise ValueError(f"{value!r} has host bits set: did you mean {loose}?") from None
        raise ValueError(
            f"{value!r} is not an IPv4 subnet like 192.168.50.0/24 ({exc})"
        ) from None
    return value


LabName = Annotated[
    str, _matching(LAB_NAME_RE, "a lowercase letter, then up to 15 of a-z, 0-9 and '-'")
]
HostName = Annotated[
    str,
    _matching(HOST_NAME_RE, "letters, digits and inner '-', starting with a letter, at most 32"),
    AfterValidator(_host_name),
]
OneLine = Annotated[str, AfterValidator(_one_line)]
InterfaceName = Annotated[
    str,
    _matching(IFNAME_RE, "a letter, then up to 14 of letters, digits, '_', '.', '-' (Linux allows 15)"),
    AfterValidator(_not_an_ip_keyword),
]
SegmentName = Annotated[
    str, _matching(SEGMENT_NAME_RE, "letters, digits, '_', '.', '-', at most 32 characters")
]
BoxName = Annotated[str, _matching(BOX_RE, "a Vagrant box name like ubuntu/jammy64")]
IPv4Text = Annotated[str, AfterValidator(_ipv4)]
IPv4NetworkText = Annotated[str, AfterValidator(_ipv4_network)]
InterfaceAddress = Annotated[str, AfterValidator(_interface_with_prefix)]
def _int(ge: int, le: int) -> object:
    """A whole number in ge..le (constraints first, so the JSON Schema shows the range)."""
    # strict: "1500", 100.0 and 1e3 are not whole numbers in a lab file.
    return Annotated[int, Field(ge=ge, le=le, strict=True), BeforeValidator(_not_bool)]


Mtu = _int(576, 9000)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Segment(Strict):
    """One L2 segment of a routed underlay (a bridge, a socket hub, an internal network)."""

    subnet: IPv4NetworkText = Field(description="IPv4 subnet of the segment, e.g. 192.168.51.0/24")

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.subnet)


class Underlay(Strict):
    """The underlay: one shared L2 segment (name + subnet, like VirtualBox's internal network), or
    several segments joined by routers."""

    name: SegmentName | None = Field(default=None, description="name of the one segment (VirtualBox "
                                     "internal network); use segments for several")
    subnet: IPv4NetworkText | None = Field(default=None, description="IPv4 subnet of the one segment, "
                                           "e.g. 192.168.50.0/24")
    segments: dict[SegmentName, Segment] | None = Field(
        default=None, min_length=1, description="several L2 segments by name, joined by routers")
    interface: InterfaceName = Field(
        default="enp0s8", description="name of the underlay NIC inside every host"
    )
    mtu: Mtu = Field(default=1500, description="MTU of the underlay NIC")

    @model_validator(mode="after")
    def _one_form(self) -> Underlay:
        one = self.name is not None or self.subnet is not None
        if one and self.segments is not None:
            raise ValueError("give either name and subnet (one segment) or segments, not both")
        if not one and self.segments is None:
            raise ValueError("needs name and subnet (one segment), or segments")
        if one and (self.name is None or self.subnet is None):
            # Reported at underlay.name / underlay.subnet as "is required" (see netlab.model.load).
            raise PydanticCustomError("missing_field", "is required",
                                      {"field": "subnet" if self.subnet is None else "name"})
        return self

    @property
    def routed(self) -> bool:
        return self.segments is not None

    @property
    def networks(self) -> dict[str, ipaddress.IPv4Network]:
        """Segment name -> subnet; one entry for the one-segment form."""
        if self.segments is not None:
            return {name: seg.network for name, seg in self.segments.items()}
        return {str(self.name): ipaddress.IPv4Network(self.subnet)}

    @property
    def network(self) -> ipaddress.IPv4Network:
        """The subnet of a one-segment underlay (the first segment's of a routed one)."""
        return next(iter(self.networks.values()))

    def segment_of(self, ip: str) -> str | None:
        """The segment whose subnet holds `ip`."""
        address = ipaddress.IPv4Address(ip)
        return next((name for name, net in self.networks.items() if address in net), None)

    def nic_names(self, count: int) -> list[str]:
        """Underlay NIC names of a machine with `count` NICs (a router): the lab's interface, then
        the next ones as a VM names them (enp0s8, enp0s9 ...; eth1, eth2 ...)."""
        match = re.fullmatch(r"(.*?)(\d+)", self.interface)
        if match is None:
            return [self.interface, *(f"{self.interface}{i}" for i in range(1, count))]
        stem, number = match.group(1), int(match.group(2))
        return [f"{stem}{number + i}" for i in range(count)]


class Router(Strict):
    """A machine that forwards IPv4 between the segments it joins (and, with multicast static,
    the lab's multicast groups)."""

    interfaces: dict[SegmentName, IPv4Text] = Field(
        min_length=1, description="segment name -> the router's address on it")
    multicast: Literal["static", "none"] = Field(
        default="static", description="static: route every multicast group of the lab between all its "
        "segments (smcroute); none: unicast only")
    box: BoxName | None = Field(default=None, description="Vagrant box for this router only")


class Host(Strict):
    ip: IPv4Text = Field(description="the host's underlay address, inside underlay.subnet")
    box: BoxName | None = Field(default=None, description="Vagrant box for this host only")


class Tunnel(Strict):
    name: InterfaceName = Field(description="the tunnel device's name on every endpoint")
    type: TunnelTypeName = Field(description=" | ".join(TYPE_NAMES))
    vni: _int(1, 16777215) | None = Field(
        default=None, description=f"{types_with('has_vni', '/')}: the network identifier, 1..16777215"
    )
    key: _int(0, 4294967295) | None = Field(
        default=None, description=f"{types_with('has_key', '/')}: optional key, 0..4294967295"
    )
    vlan: _int(1, 4094) | None = Field(
        default=None, description=f"{types_with('has_vlan', '/')} only: the 802.1Q VLAN id, 1..4094"
    )
    mode: Literal[MODES] | None = Field(  # type: ignore[valid-type]
        default=None, description="; ".join(f"{t.name} only: {t.mode_help}" for t in TUNNEL_TYPES.values()
                                            if t.mode_help),
    )
    group: IPv4Text | None = Field(default=None, description="multicast group, in 224.0.0.0/4")
    ttl: _int(1, 255) | None = Field(
        default=None, description="TTL of the outer packets, 1..255"
    )
    dstport: _int(1, 65535) | None = Field(
        default=None, description="UDP port (" + ", ".join(
            f"{t.name} default {t.default_dstport}" for t in TUNNEL_TYPES.values() if t.is_udp) + ")"
    )
    mtu: Mtu | None = Field(
        default=None, description="tunnel MTU; default: underlay MTU minus encapsulation"
    )
    ipv6: bool = Field(
        default=True, description="false: the device gets no IPv6 link-local address (addrgenmode none), so "
        "no router solicitations or MLD reports cross the tunnel; `bridge fdb` then lists a peer only "
        "after traffic to it (the FDB lesson)")
    bridge: InterfaceName | None = Field(
        default=None, description="Ethernet types: the device is a port of this Linux bridge on every endpoint "
        "(tenants plug into it); endpoint addresses are then optional and, when given, go on the bridge")
    arp_suppress: bool = Field(
        default=False, description="static (and evpn) with a bridge: the VTEP answers its tenants' ARP from "
        "permanent neighbour entries (neigh_suppress); no ARP crosses the tunnel")
    endpoints: dict[HostName, InterfaceAddress | None] = Field(
        description="host name -> the host's address on this tunnel, with prefix length (with a bridge: "
        "optional, ~ for none)"
    )

    @property
    def kind(self) -> TunnelType:
        return TUNNEL_TYPES[self.type]

    @property
    def effective_mode(self) -> str:
        return self.kind.effective_mode(self)

    @property
    def effective_dstport(self) -> int | None:
        return self.dstport if self.dstport is not None else self.kind.default_dstport

    @property
    def overhead(self) -> int:
        return self.kind.overhead(self.key)

    def effective_mtu(self, underlay_mtu: int) -> int:
        return self.mtu if self.mtu is not None else underlay_mtu - self.overhead

    def interface(self, host: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
        address = self.endpoints[host]
        if address is None:
            raise KeyError(f"{host} has no address on {self.name}")
        return ipaddress.ip_interface(address)

    @property
    def addresses(self) -> dict[str, str]:
        """Endpoints that have an address on this tunnel (on a bridged tunnel some may have none)."""
        return {host: address for host, address in self.endpoints.items() if address is not None}

    @property
    def device_with_address(self) -> str:
        """Where an endpoint's address sits: on the bridge (the SVI) when there is one."""
        return self.bridge or self.name


class Tenant(Strict):
    """A workload (a VM or container in a cloud): its own network namespace and hostname on its
    host, one veth (eth0) into its tunnel's bridge."""

    host: HostName = Field(description="the VTEP it runs on (an endpoint of its tunnel)")
    tunnel: InterfaceName = Field(description="the tunnel whose bridge it plugs into")
    ip: InterfaceAddress = Field(description="its address on eth0, with prefix length, e.g. 10.100.0.1/24")

    @property
    def interface(self) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
        return ipaddress.ip_interface(self.ip)


class Lab(Strict):
    """A lab: hosts on one underlay segment and the overlays on top of it."""

    name: LabName = Field(description="prefixes everything netlab creates")
    title: OneLine = Field(default="", max_length=120, description="one line shown by netlab list")
    description: Annotated[str, AfterValidator(_text_block)] = Field(
        default="", description="what the lab teaches and what to look at")
    box: BoxName | None = Field(default=None, description="Vagrant box (virtualbox/libvirt)")
    underlay: Underlay
    hosts: dict[HostName, Host] = Field(min_length=1)
    tunnels: list[Tunnel] = Field(min_length=1)
    checks: list[CheckName] | None = Field(
        default=None, description="checks netlab verify runs; default: every check that applies"
    )
    routers: dict[HostName, Router] = Field(
        default_factory=dict, description="routers between underlay segments (a routed underlay)")
    tenants: dict[HostName, Tenant] = Field(
        default_factory=dict, description="workloads behind the tunnels' bridges: name -> host, tunnel, ip")
    points: dict[CheckName, _int(0, 1000)] | None = Field(  # type: ignore[valid-type]
        default=None, description="netlab grade: points a check earns when all its results pass "
        "(default 1 for every check that applies)")

    @property
    def machines(self) -> list[str]:
        """Every machine a provider makes: hosts, then routers."""
        return [*self.hosts, *self.routers]

    def router_nics(self, router: str) -> dict[str, str]:
        """Segment -> the router's NIC on it."""
        segments = list(self.routers[router].interfaces)
        return dict(zip(segments, self.underlay.nic_names(len(segments)), strict=True))

    def tunnels_of(self, host: str) -> list[Tunnel]:
        return [t for t in self.tunnels if host in t.endpoints]

    @property
    def nodes(self) -> list[str]:
        """Everything a command can reach by name: hosts, routers, then tenants."""
        return [*self.machines, *self.tenants]

    def tunnel(self, name: str) -> Tunnel:
        return next(t for t in self.tunnels if t.name == name)

    def tenants_of(self, tunnel: str, host: str | None = None) -> dict[str, Tenant]:
        """The tenants on `tunnel` (those on `host` only, if given), in the file's order."""
        return {n: t for n, t in self.tenants.items() if t.tunnel == tunnel and (host is None or t.host == host)}
