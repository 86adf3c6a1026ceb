"""Named faults for break-and-fix exercises: each makes one host's device differ from the lab in
one way a student meets in real life. Wrong devices are built from the same templates as right
ones (the tunnel's variables changed), so a fault is exactly the mistake it names.

`netlab reset` undoes any of them: the fast path's converge makes every host equal to the lab.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from dataclasses import dataclass

from netlab.configure.ipbatch import run_commands, tunnel_commands
from netlab.errors import NetlabError
from netlab.model import Lab, Tunnel
from netlab.providers.base import Provider


@dataclass(frozen=True)
class Target:
    host: str
    tunnel: str


@dataclass(frozen=True)
class Fault:
    name: str
    what: str  # what it does, for --list (never shown to students by `break` itself)
    applies: Callable[[Tunnel], bool]
    commands: Callable[[Lab, str, Tunnel], list[str]]

    def targets(self, lab: Lab) -> list[Target]:
        return [Target(h, t.name) for t in lab.tunnels if self.applies(t) for h in t.endpoints]


def _rebuilt(lab: Lab, host: str, t: Tunnel, **changed: object) -> list[str]:
    return [f"ip link del {t.name}", *tunnel_commands(lab, host, t, dict(changed))]


def _other_group(t: Tunnel) -> str:
    return str(ipaddress.IPv4Address(t.group) + 1)


def _other_address(lab: Lab, host: str, t: Tunnel) -> str:
    """Another free address of the tunnel's subnet, close to the right one (a typo)."""
    iface = t.interface(host)
    net = iface.network
    taken = {t.interface(h).ip for h in t.endpoints} | {net.network_address, net.broadcast_address}
    for step in range(1, 1024):
        for candidate in (int(iface.ip) + step, int(iface.ip) - step):
            ip = ipaddress.ip_address(candidate) if 0 < candidate < 2 ** iface.max_prefixlen else None
            if ip is not None and ip in net and ip not in taken:
                return f"{ip}/{net.prefixlen}"
    raise NetlabError(f"{t.name}'s subnet {net} has no free address for the fault")


def _one_sided_key(lab: Lab, host: str, t: Tunnel) -> list[str]:
    # The key on this side only: removed where the lab has one, added where it has none.
    return _rebuilt(lab, host, t, key=None if t.key is not None else 42)


FAULTS: dict[str, Fault] = {f.name: f for f in (
    Fault("wrong-vni", "the device gets VNI + 1", lambda t: t.kind.has_vni,
          lambda lab, h, t: _rebuilt(lab, h, t, vni=(t.vni or 0) + 1)),
    Fault("wrong-port", "the device uses UDP port + 1", lambda t: t.kind.is_udp,
          lambda lab, h, t: _rebuilt(lab, h, t, dstport=(t.effective_dstport or 0) + 1)),
    Fault("low-ttl", "the device sends with TTL 1", lambda t: True,
          lambda lab, h, t: _rebuilt(lab, h, t, ttl=1)),
    Fault("wrong-group", "the device joins the next multicast group", lambda t: t.effective_mode == "multicast",
          lambda lab, h, t: _rebuilt(lab, h, t, group=_other_group(t))),
    Fault("device-down", "the tunnel device is set down", lambda t: True,
          lambda lab, h, t: [f"ip link set {t.name} down"]),
    Fault("mtu", "the host's underlay MTU is raised to 9000 and the tunnel's with it: bigger than the path",
          lambda t: True,
          # The kernel keeps a tunnel's MTU below its lower device's: raise both, as someone
          # "enabling jumbo frames" on one host would.
          lambda lab, h, t: [f"ip link set {lab.underlay.interface} mtu 9000",
                             f"ip link set {t.name} mtu {9000 - t.overhead}"]),
    Fault("wrong-address", "the tunnel address is another one of its subnet", lambda t: True,
          lambda lab, h, t: [f"ip addr flush dev {t.name}", f"ip addr add {_other_address(lab, h, t)} dev {t.name}"]),
    Fault("one-sided-key", "a GRE key on one side only", lambda t: t.kind.has_key, _one_sided_key),
    Fault("device-missing", "the tunnel device is deleted", lambda t: True,
          lambda lab, h, t: [f"ip link del {t.name}"]),
)}


def applicable(lab: Lab, host: str | None = None) -> dict[str, list[Target]]:
    """Fault name -> where it can be applied (on `host` only, if given)."""
    out = {}
    for name, fault in FAULTS.items():
        targets = [x for x in fault.targets(lab) if host is None or x.host == host]
        if targets:
            out[name] = targets
    return out


def choose(lab: Lab, fault: str | None, host: str | None, rng: random.Random) -> tuple[str, Target]:
    if host is not None and host not in lab.hosts:
        raise NetlabError(f"lab {lab.name} has no host {host!r}", hint=f"hosts: {', '.join(lab.hosts)}")
    options = applicable(lab, host)
    if fault is None:
        if not options:
            raise NetlabError(f"no fault applies to lab {lab.name}" + (f" on {host}" if host else ""))
        fault = rng.choice(sorted(options))
    elif fault not in FAULTS:
        raise NetlabError(f"no fault named {fault!r}", hint=f"faults: {', '.join(FAULTS)} (netlab break LAB --list)")
    elif fault not in options:
        raise NetlabError(f"fault {fault} does not apply to lab {lab.name}" + (f" on {host}" if host else ""),
                          hint=f"it applies: {', '.join(sorted(options)) or 'none'}")
    return fault, rng.choice(options[fault])


def apply(provider: Provider, fault: str, target: Target) -> None:
    lab = provider.lab
    tunnel = next(t for t in lab.tunnels if t.name == target.tunnel)
    run_commands(provider, target.host, FAULTS[fault].commands(lab, target.host, tunnel))
