"""params: the device has the lab's type, VNI/key, port, group, TTL, local/remote, dev, MTU, address.

The comparison itself is the tunnel type's (`TunnelType.differences`, which `netlab up` uses
to converge); this check adds what only a running lab shows: another endpoint's address on
this host, and a key the lab does not have.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any

from netlab.model import Lab, Tunnel
from netlab.verify.checks.base import LINKS, Case, Check, Seen, host_links, host_tunnels
from netlab.verify.context import Context, Evidence, Outcome, Probe

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Problem:
    """One way a device differs from the lab."""

    param: str  # id, port, group, ttl, link, local, remote, key, type, state, mtu, address, duplicate, missing
    actual: str | None
    expected: str | None
    text: str  # with the lab's value: "id is 101, lab says 100"
    student: str  # without it (--no-hints): "id is wrong"
    other: str | None = None  # duplicate: the host that also has the address


def parse_link(stdout: str) -> dict[str, Any] | None:
    """The device from `ip -d -j addr show dev DEV` output, or None (no device, not JSON)."""
    try:
        parsed = json.loads(stdout)
    except ValueError:
        return None
    if not isinstance(parsed, list) or not parsed or not isinstance(parsed[0], dict):
        return None
    return parsed[0]


def key_number(value: Any) -> str:
    """A GRE key as the lab writes it: 0.0.0.12 -> 12; none when absent."""
    if value is None:
        return "none"
    try:
        return str(int(ipaddress.IPv4Address(str(value))))
    except ValueError:
        return str(value)


def ttl_words(value: str | None, multicast: bool) -> str:
    """What a TTL setting means on the wire ("0" is not a TTL a packet leaves with)."""
    if value in (None, "None", "0", "inherit"):
        shown = "inherit" if value in (None, "None", "inherit") else "0"
        if multicast:
            return f"{shown} (= inherit, so multicast leaves with TTL 1)"
        return f"{shown} (= inherit: the route's default TTL)"
    return value


_SAYS = re.compile(r"^(?P<key>\S+) is (?P<actual>.*), lab says (?P<want>.*)$")
_MTU = re.compile(r"^mtu is (?P<actual>.*), expected (?P<want>.*)$")
_ADDRESS = re.compile(r"^address (?P<want>\S+) missing \(has (?P<actual>.*)\)$")


def problems(lab: Lab, host: str, t: Tunnel, link: dict[str, Any],
             links: dict[str, dict[str, Any]] | None = None) -> list[Problem]:
    """What differs between the device and the lab, structured (see Problem)."""
    out: list[Problem] = []
    keys: list[tuple[str, str]] = []
    multicast = t.effective_mode == "multicast"
    for text in t.kind.differences(lab, host, t, link):
        if text == "the device is down":
            out.append(Problem("state", "down", "up", text, text))
        elif m := _MTU.match(text):
            out.append(Problem("mtu", m["actual"], m["want"], text, "mtu is wrong"))
        elif m := _ADDRESS.match(text):
            out.append(address_problem(lab, host, t, m["want"], m["actual"]))
        elif (m := _SAYS.match(text)) and m["key"] in ("ikey", "okey"):
            keys.append((m["actual"], m["want"]))
        elif m := _SAYS.match(text):
            key, actual = m["key"], m["actual"]
            if key == "ttl":
                text = f"ttl is {ttl_words(actual, multicast)}, lab says {m['want']}"
            out.append(Problem(key, actual, m["want"], text, f"{key} is wrong"))
        else:
            out.append(Problem("other", None, None, text, text))
    data = (link.get("linkinfo") or {}).get("info_data") or {}
    if keys:
        have, want = key_number(keys[0][0] if keys[0][0] != "None" else None), key_number(keys[0][1])
        out.append(Problem("key", have, want, f"key is {have}, lab says {want}", "key is wrong"))
    elif t.kind.has_key and t.key is None and (data.get("ikey") or data.get("okey")):
        have = key_number(data.get("okey") or data.get("ikey"))
        if have != "0":
            out.append(Problem("key", have, "none", f"key is {have}, lab says none", "key is wrong"))
    if t.bridge is not None and host in t.addresses:
        out += bridge_address(lab, host, t, (links or {}).get(t.bridge))
    out += duplicates(lab, host, t, links or {t.name: link})
    return out


def bridge_address(lab: Lab, host: str, t: Tunnel, bridge: dict[str, Any] | None) -> list[Problem]:
    """A bridged endpoint's address sits on the bridge (the SVI), not on the tunnel device:
    what differs there (the bridge check says whether the bridge itself is right)."""
    if bridge is None:
        text = f"no bridge {t.bridge} to carry the address {t.addresses[host]}"
        return [Problem("address", None, t.addresses[host], text, f"no bridge {t.bridge}")]
    want = ipaddress.ip_interface(t.addresses[host])
    have = {ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}") for a in bridge.get("addr_info", [])
            if "local" in a}
    if want in have:
        return []
    has = ", ".join(sorted(map(str, have))) or "none"
    p = address_problem(lab, host, t, str(want), has)
    return [Problem(p.param, p.actual, p.expected, f"{t.bridge}: {p.text}", f"{t.bridge}: {p.student}", p.other)]


def compare(lab: Lab, host: str, t: Tunnel, link: dict[str, Any]) -> list[str]:
    """What differs between the device and the lab, as a report prints it (empty: nothing)."""
    return [p.text for p in problems(lab, host, t, link)]


def address_problem(lab: Lab, host: str, t: Tunnel, want: str, has: str) -> Problem:
    """The lab's address is not on the device: another mask, another endpoint's, or another."""
    wanted = ipaddress.ip_interface(want)
    found = [ipaddress.ip_interface(a) for a in has.split(", ") if a != "none"]
    # The kernel's own IPv6 link-local address is not one a student set.
    found = [a for a in found if a.version == wanted.version and not a.ip.is_link_local]
    has = ", ".join(map(str, found)) or "none"
    same_ip = next((a for a in found if a.ip == wanted.ip), None)
    if same_ip is not None:
        return Problem("mask", f"/{same_ip.network.prefixlen}", f"/{wanted.network.prefixlen}",
                       f"mask is /{same_ip.network.prefixlen} ({same_ip}), lab says /{wanted.network.prefixlen}",
                       f"mask is wrong ({same_ip})")
    owners = others_addresses(t, host)
    for a in found:
        if a.ip in owners:
            return Problem("duplicate", str(a), want,
                           f"has {a}, which is {owners[a.ip]}'s address: {a.ip} is also on {owners[a.ip]} "
                           f"(lab says {want})",
                           f"has {a}: {a.ip} is also on {owners[a.ip]}", other=owners[a.ip])
    return Problem("address", has, want, f"address is {has}, lab says {want}", f"address is wrong (has {has})")


def others_addresses(t: Tunnel, host: str) -> dict[IPAddress, str]:
    """The tunnel's other endpoints' addresses: address -> host."""
    return {ip: h for ip, h in _owners(tuple(t.addresses.items())).items() if h != host}


@functools.cache
def _owners(endpoints: tuple[tuple[str, str], ...]) -> dict[IPAddress, str]:
    # Parsed once per tunnel, not once per host (n² parses: 4032 at 64 hosts).
    return {ipaddress.ip_interface(a).ip: h for h, a in endpoints}


def duplicates(lab: Lab, host: str, t: Tunnel, links: dict[str, dict[str, Any]]) -> list[Problem]:
    """Another endpoint's tunnel address that this host carries as well (on any device)."""
    owners = others_addresses(t, host)
    mine = t.addresses.get(host)
    own = ipaddress.ip_interface(mine).ip if mine else None
    out = []
    for name, link in links.items():
        ips = [ipaddress.ip_address(a["local"]) for a in link.get("addr_info", []) if "local" in a]
        if name == t.device_with_address and own not in ips:
            continue  # the device lacks its own address: address_problem names what it has instead
        for ip in ips:
            if ip in owners:
                where = f"{ip} is also on {owners[ip]} ({name} on {host} has it too)"
                out.append(Problem("duplicate", str(ip), None, f"{where}: two hosts answer for it", where,
                                   other=owners[ip]))
    return out


def describe(link: dict[str, Any]) -> str:
    """A device in one line: its type's parameters, MTU, state and addresses."""
    info = link.get("linkinfo") or {}
    data = info.get("info_data") or {}
    wanted = ("id", "group", "remote", "local", "link", "port", "ttl", "ikey", "okey")
    params = " ".join(f"{k} {data[k]}" for k in wanted if k in data)
    if "link" not in data and link.get("link"):
        params += f" link {link['link']}"
    addrs = " ".join(f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])
                     if "local" in a and a.get("scope") != "link")
    state = "UP" if "UP" in link.get("flags", []) else "DOWN"
    return f"{link.get('ifname')}: {info.get('info_kind', '?')} {params} mtu {link.get('mtu')} {state} {addrs}".strip()


def show_link(ctx: Context, host: str, device: str) -> tuple[dict[str, Any] | None, Evidence]:
    """`ip -d -j addr show dev DEVICE` on host, on its own (outside a verify run)."""
    ev = ctx.sh(host, f"ip -d -j addr show dev {device}")
    return (parse_link(ev.stdout) if ev.rc == 0 else None), ev


class ParamsCheck(Check):
    name = "params"
    proves = "the device has the lab's type, VNI/key, port, group, TTL, local/remote, dev, MTU, address"

    def cases(self, lab: Lab) -> list[Case]:
        return [Case(self.name, h, f"{h} {t.name}", t.name) for h, t in host_tunnels(lab)]

    def probes(self, ctx: Context, case: Case) -> list[tuple[str, Probe]]:
        return [(case.host, LINKS)]

    def judge(self, ctx: Context, case: Case, seen: Seen) -> Outcome:
        t = ctx.tunnels[case.tunnel]  # type: ignore[index]
        links, ev = host_links(ctx, seen, case.host)
        if ev is None:
            return Outcome(False, "not run")
        link = (links or {}).get(t.name)
        if link is None:
            text = f"no device {t.name} on {case.host}"
            return Outcome(False, text, [ev.brief(ev.output if links is None else "(not among its devices)")],
                           findings=[Problem("missing", None, t.name, text, text)])
        found = problems(ctx.lab, case.host, t, link, links)
        brief = [ev.brief(describe(link))]
        if not found:
            return Outcome(True, f"{t.type} as the lab says", brief)
        return Outcome(False, "; ".join(p.text for p in found), brief,
                       student="; ".join(p.student for p in found), findings=found)
