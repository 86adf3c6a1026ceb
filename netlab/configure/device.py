"""One tunnel device, described in the overlay template's own variables (render.hostvars'
tunnel_vars): as the lab file says it should be, or as a host really has it (a student's own
device in an exercise lab). Either can be rebuilt with the template, some variables changed:
that is how `netlab break` makes a wrong device, and how `reset` puts a student's device back.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from netlab.configure.bridged import of_bridge
from netlab.configure.ipbatch import current_links, host_vars_tunnel
from netlab.model import Lab
from netlab.providers.base import Provider
from netlab.render.scripts import command_lines, host_script
from netlab.tunnels import TUNNEL_TYPES, TunnelType


@dataclass
class Device:
    name: str
    vars: dict[str, Any]  # the overlay template's variables for this one device
    up: bool = True
    addresses: list[str] = field(default_factory=list)  # global ones, with their prefix length
    underlay_mtu: int = 1500  # the host's underlay NIC's (the mtu fault raises it)
    master: str | None = None  # a bridge the device is a port of

    @property
    def kind(self) -> TunnelType | None:
        """The tunnel type; None for a device of another kind (a student's bridge named vxlan0)."""
        return TUNNEL_TYPES.get(str(self.vars.get("type")))

    def fact(self, key: str) -> str:
        """One fact as text, for telling whether a fault is still there (see netlab.faults)."""
        if key in ("up", "underlay_mtu"):
            return str(getattr(self, key))
        return str(self.vars.get(key))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Device:
        return cls(**json.loads(text))


def from_lab(lab: Lab, host: str, tunnel: str) -> Device:
    t = next(x for x in lab.tunnels if x.name == tunnel)
    return Device(tunnel, host_vars_tunnel(lab, host, t), addresses=[t.endpoints[host]],
                  underlay_mtu=lab.underlay.mtu)


def from_link(lab: Lab, host: str, link: dict[str, Any], underlay_mtu: int,
              flood_to: list[str] | None = None) -> Device:
    """The device `ip -d -j addr show` reports, in the template's variables: its real type, VNI,
    port, group, TTL, key, ends, MAC, MTU and addresses (not the lab's)."""
    info = link.get("linkinfo") or {}
    data = info.get("info_data") or {}
    kind = TUNNEL_TYPES.get(str(info.get("info_kind")))
    mode = "multicast" if data.get("group") else "p2p" if data.get("remote") else "flood"
    if kind is None or mode not in kind.modes:
        mode = "p2p"
    key = _key(data.get("ikey")) if kind is not None and kind.has_key else None
    addresses = [f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])
                 if "local" in a and a.get("scope") == "global"]
    ttl = data.get("ttl")
    variables = {
        "name": link["ifname"],
        "type": info.get("info_kind"),
        "template": kind.template if kind else None,
        "label": kind.name if kind else "",
        "mode": mode,
        "vni": data.get("id") if kind is None or kind.has_vni else None,
        "vlan": data.get("id") if kind is not None and kind.has_vlan else None,
        "key": key,
        "group": data.get("group"),
        "ttl": ttl if isinstance(ttl, int) and ttl > 0 else None,  # 0 or "inherit": the kernel's
        "dstport": data.get("port"),
        # What the device was made without stays None, and `build` leaves it out.
        "dev": data.get("link") or link.get("link"),
        "local": data.get("local"),
        "remote": data.get("remote"),
        "peers": sorted(flood_to or []) if mode == "flood" else [],
        "address": addresses[0] if addresses else "",
        "mac": link.get("address") if kind and kind.carries == "ethernet" else None,
        "family": ipaddress.ip_interface(addresses[0]).version if addresses else 4,
        "ipv6": link.get("inet6_addr_gen_mode") != "none",
        "mtu": link.get("mtu"),
        "effective_mtu": link.get("mtu"),
        "overhead": kind.overhead(key) if kind else 0,
    }
    return Device(link["ifname"], variables, up="UP" in link.get("flags", []), addresses=addresses,
                  underlay_mtu=underlay_mtu, master=link.get("master"))


def _key(value: Any) -> int | None:
    if value is None:
        return None
    text = str(value)
    return int(ipaddress.IPv4Address(text)) if "." in text else int(text)


NOT_BRIDGED: dict[str, Any] = {"bridge": None, "arp_suppress": False, "static": [], "neighbours": [], "tenants": []}


def build(lab: Lab, host: str, device: Device, changed: dict[str, Any] | None = None,
          replace: bool = True) -> list[str]:
    """The commands that make `device` (with some variables `changed`) from the same template as
    netlab's own devices; `replace`: delete the one there first."""
    # A device read from a host (a student's, or one recorded by an older netlab) says nothing of
    # bridges: it is none's port, with no tenants or entries of its own.
    variables = {**NOT_BRIDGED, **device.vars, **(changed or {})}
    bridge = (variables.get("bridge") or {}).get("name")
    if bridge:
        variables["tenants"] = []  # a port of a bridge: the tenants' cables stay as they are
    lines = command_lines(host_script(lab, host, {"netlab_tunnels": [variables]}).overlay)
    if bridge:
        lines = [line for line in lines if not of_bridge(line, bridge)]
    name = device.name
    # The template names every parameter its type has; a student's device may have been made
    # without one (no `local`, no `dev`): left out again, or the rebuilt device would differ.
    lines = [_without_none(line) if line.startswith(f"ip link add {name} ") else line for line in lines]
    if not variables.get("address"):
        lines = [line for line in lines if not line.startswith("ip addr add  ")]  # it had none
    extra = [f"ip addr add {a} dev {name}" for a in device.addresses[1:] if "address" not in (changed or {})]
    after = [f"ip link set {name} master {device.master}"] if device.master else []
    if not device.up:
        after.append(f"ip link set {name} down")
    return [*([f"ip link del {name}"] if replace else []), *lines, *extra, *after]


def _without_none(command: str) -> str:
    words = command.split()
    kept: list[str] = []
    for word in words:
        if word == "None" and kept:
            kept.pop()  # the parameter's name before it
        else:
            kept.append(word)
    return " ".join(kept)


@dataclass
class HostView:
    """What one host has now: its devices by name, and its underlay NIC's MTU."""

    links: dict[str, dict[str, Any]]
    underlay_mtu: int


def look(provider: Provider, host: str) -> HostView:
    lab = provider.lab
    links, _ = current_links(provider, host)
    underlay = links.get(lab.underlay.interface) or {}
    return HostView(links, int(underlay.get("mtu") or lab.underlay.mtu))


def on_host(provider: Provider, host: str, view: HostView, name: str) -> Device | None:
    """The device `name` as `host` really has it (with its flood list), or None."""
    link = view.links.get(name)
    if link is None:
        return None
    data = (link.get("linkinfo") or {}).get("info_data") or {}
    flood_to = None
    if not data.get("group") and not data.get("remote") and "id" in data:
        flood_to = _flood_list(provider, host, name)
    return from_link(provider.lab, host, link, view.underlay_mtu, flood_to)


def _flood_list(provider: Provider, host: str, name: str) -> list[str]:
    """Destinations of the device's all-zeros forwarding entries (head-end replication)."""
    result = provider.run(host, ["bridge", "-j", "fdb", "show", "dev", name])
    try:
        entries = json.loads(result.stdout or "[]")
    except ValueError:
        return []
    return sorted({e["dst"] for e in entries if isinstance(e, dict)
                   and e.get("mac") == "00:00:00:00:00:00" and "dst" in e})
