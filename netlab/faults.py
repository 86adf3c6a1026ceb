"""Named faults for break-and-fix exercises: each makes one host's device differ in one way a
student meets in real life. Wrong devices are built from the same templates as right ones (the
tunnel's variables changed), so a fault is exactly the mistake it names.

A fault applies to what exists: in a full-overlay lab to netlab's devices (the lab file's device
with one thing changed), in an exercise lab to the devices the students built, read from the host
(their own VNI, group, MAC, addresses with one thing changed). The record of a fault says how to
tell it is still there, so `--reveal` lists what is broken now, not what was once applied; a
second fault on one tunnel of one host replaces the first.

`netlab reset` undoes them: a full-overlay lab converges to the lab file; in an exercise lab a
student's device is put back as it was before the fault (kept in the record).
"""

from __future__ import annotations

import ipaddress
import json
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from netlab.configure.device import Device, HostView, build, from_lab, look, on_host
from netlab.configure.ipbatch import run_commands
from netlab.errors import NetlabError
from netlab.model import Lab
from netlab.providers.base import Provider


@dataclass(frozen=True)
class Target:
    host: str
    tunnel: str


@dataclass(frozen=True)
class Effect:
    """What a fault does to one device: rebuilt with some variables changed (None: not rebuilt),
    then `commands`; `shows`: the facts (Device.fact) that tell it is still there ("address": one
    of the device's addresses; "exists": "False" for a device that is gone)."""

    changed: dict[str, Any] | None
    commands: list[str]
    shows: dict[str, str]


@dataclass(frozen=True)
class Fault:
    name: str
    what: str  # what it does, for --list (never shown to students by `break` itself)
    applies: Callable[[Device], bool]
    effect: Callable[[Lab, str, Device], Effect]


def _rebuilt(key: str, value: Any) -> Effect:
    return Effect({key: value}, [], {key: str(value)})


def _other_group(d: Device) -> str:
    return str(ipaddress.IPv4Address(d.vars["group"]) + 1)


def _other_address(lab: Lab, host: str, d: Device) -> str:
    """Another free address of the device's subnet, close to its own (a typo)."""
    iface = ipaddress.ip_interface(d.addresses[0])
    net = iface.network
    lab_tunnel = next((t for t in lab.tunnels if t.name == d.name), None)
    taken = {ipaddress.ip_interface(a).ip for a in d.addresses} | {net.network_address, net.broadcast_address}
    if lab_tunnel is not None:
        taken |= {lab_tunnel.interface(h).ip for h in lab_tunnel.addresses}
    for step in range(1, 1024):
        for candidate in (int(iface.ip) + step, int(iface.ip) - step):
            ip = ipaddress.ip_address(candidate) if 0 < candidate < 2 ** iface.max_prefixlen else None
            if ip is not None and ip in net and ip not in taken:
                return f"{ip}/{net.prefixlen}"
    raise NetlabError(f"{d.name}'s subnet {net} has no free address for the fault")


def _wrong_address(lab: Lab, host: str, d: Device) -> Effect:
    other = _other_address(lab, host, d)
    return Effect(None, [f"ip addr flush dev {d.name}", f"ip addr add {other} dev {d.name}"], {"address": other})


def _mtu(lab: Lab, host: str, d: Device) -> Effect:
    # The kernel keeps a tunnel's MTU below its lower device's: raise both, as someone "enabling
    # jumbo frames" on one host would.
    return Effect(None, [f"ip link set {lab.underlay.interface} mtu 9000",
                         f"ip link set {d.name} mtu {9000 - d.vars['overhead']}"], {"underlay_mtu": "9000"})


def _kind(d: Device, fact: str) -> bool:
    return d.kind is not None and bool(getattr(d.kind, fact))


FAULTS: dict[str, Fault] = {f.name: f for f in (
    Fault("wrong-vni", "the device gets VNI + 1", lambda d: _kind(d, "has_vni") and d.vars["vni"] is not None,
          lambda lab, h, d: _rebuilt("vni", d.vars["vni"] + 1)),
    Fault("wrong-port", "the device uses UDP port + 1", lambda d: _kind(d, "is_udp") and bool(d.vars["dstport"]),
          lambda lab, h, d: _rebuilt("dstport", d.vars["dstport"] + 1)),
    Fault("low-ttl", "the device sends with TTL 1", lambda d: _kind(d, "outer_ip") and d.vars["ttl"] != 1,
          lambda lab, h, d: _rebuilt("ttl", 1)),
    Fault("wrong-group", "the device joins the next multicast group",
          lambda d: d.kind is not None and d.vars["mode"] == "multicast" and bool(d.vars["group"]),
          lambda lab, h, d: _rebuilt("group", _other_group(d))),
    Fault("device-down", "the tunnel device is set down", lambda d: d.up,
          lambda lab, h, d: Effect(None, [f"ip link set {d.name} down"], {"up": "False"})),
    Fault("mtu", "the host's underlay MTU is raised to 9000 and the tunnel's with it: bigger than the path",
          lambda d: d.kind is not None, _mtu),
    Fault("wrong-address", "the tunnel address is another one of its subnet", lambda d: bool(d.addresses),
          _wrong_address),
    Fault("one-sided-key", "a GRE key on one side only", lambda d: _kind(d, "has_key"),
          # The key on this side only: removed where the device has one, added where it has none.
          lambda lab, h, d: _rebuilt("key", None if d.vars["key"] is not None else 42)),
    Fault("device-missing", "the tunnel device is deleted", lambda d: True,
          lambda lab, h, d: Effect(None, [f"ip link del {d.name}"], {"exists": "False"})),
)}


# -- faults of a bridged tunnel's tenants and bridge (issue 19) -------------------------------------
# A tenant's namespace as its host names it, filled in by `plan` (netns: the lab's prefix).
TENANT_NS = "{tenant_ns}"


def _first_tenant(d: Device) -> dict[str, Any]:
    return d.vars["tenants"][0]


def _tenant_mtu(lab: Lab, host: str, d: Device) -> Effect:
    # The classic: the tenant keeps the usual 1500 (and its cable with it) over a tunnel that
    # carries 50 bytes less; big frames die silently at the bridge's port into the tunnel.
    tn, mtu = _first_tenant(d), lab.underlay.mtu
    return Effect(None, [f"ip link set {tn['veth']} mtu {mtu}",
                         f"ip -n {TENANT_NS}{tn['name']} link set eth0 mtu {mtu}"],
                  {f"link:{tn['veth']}:mtu": str(mtu)})


def _wrong_bridge(lab: Lab, host: str, d: Device) -> Effect:
    """The tenant's cable on another bridge of its host (another tenant segment), or on none."""
    tn = _first_tenant(d)
    others = [t.bridge for t in lab.tunnels_of(host) if t.bridge and t.bridge != d.vars["bridge"]["name"]]
    other = others[0] if others else None
    return Effect(None, [f"ip link set {tn['veth']} {f'master {other}' if other else 'nomaster'}"],
                  {f"link:{tn['veth']}:master": str(other)})


def _static_missing(lab: Lab, host: str, d: Device) -> Effect:
    entry = d.vars["static"][0]
    return Effect(None, [f"bridge fdb del {entry['mac']} dev {d.name} dst {entry['dst']} self"],
                  {f"fdb:{d.name}:{entry['mac']}": "missing"})


def _bridged(d: Device) -> bool:
    return bool(d.vars.get("bridge"))


for _fault in (
    Fault("tenant-mtu", "a tenant's eth0 (and its cable) at the underlay's MTU, bigger than the tunnel carries",
          lambda d: _bridged(d) and bool(d.vars.get("tenants")) and d.vars["overhead"] > 0, _tenant_mtu),
    Fault("tenant-wrong-bridge", "a tenant's cable is moved to another bridge of its host (or to none)",
          lambda d: _bridged(d) and bool(d.vars.get("tenants")), _wrong_bridge),
    Fault("bridge-down", "the tunnel's bridge is set down", _bridged,
          lambda lab, h, d: Effect(None, [f"ip link set {d.vars['bridge']['name']} down"],
                                   {f"link:{d.vars['bridge']['name']}:up": "False"})),
    Fault("static-entry-missing", "a static VTEP loses the permanent entry of a MAC behind another VTEP",
          lambda d: bool(d.vars.get("static")), _static_missing),
):
    FAULTS[_fault.name] = _fault


def tenant_facts_there(provider: Provider, host: str, view: HostView, shows: dict[str, str]) -> bool:
    """Whether the facts a tenant or bridge fault recorded ('link:DEVICE:FACT', 'fdb:DEVICE:MAC')
    are still what `host` shows."""
    for key, value in shows.items():
        kind, device, fact = key.split(":", 2)
        if kind == "fdb":
            result = provider.run(host, ["bridge", "-j", "fdb", "show", "dev", device])
            try:
                entries = json.loads(result.stdout or "[]")
            except ValueError:
                entries = []
            if any(isinstance(e, dict) and e.get("mac") == fact and "dst" in e for e in entries):
                return False
            continue
        link = view.links.get(device)
        if link is None:
            return False
        now = {"mtu": str(link.get("mtu")), "master": str(link.get("master")),
               "up": str("UP" in link.get("flags", []))}.get(fact)
        if now != value:
            return False
    return True


def _still_there(provider: Provider, views: dict[str, HostView], record: dict[str, str],
                 device: Device | None) -> bool:
    shows = json.loads(record.get("shows", "{}"))
    if shows and all(key.startswith(("link:", "fdb:")) for key in shows):
        return tenant_facts_there(provider, record["host"], views[record["host"]], shows)
    return still_there(record, device)


def still_there(record: dict[str, str], device: Device | None) -> bool:
    """Whether the fault `record` describes is still on the host (`device`: the one there now)."""
    if "shows" not in record:
        return True  # recorded by an older netlab: it cannot tell
    shows = json.loads(record["shows"])
    if "exists" in shows:
        return device is None
    if device is None:
        return False
    return all(value in device.addresses if key == "address" else device.fact(key) == value
               for key, value in shows.items())


@dataclass
class Survey:
    """A running lab as `break` and `reset` see it: each tunnel endpoint's device now, the faults
    still there, and what a new fault is applied to on each target."""

    exercise: bool  # up --no-overlay: the devices are the students'
    now: dict[Target, Device | None]
    broken: list[dict[str, str]]  # records of faults still there
    bases: dict[Target, Device]  # targets that exist: the device a fault changes

    def targets(self, fault: Fault, host: str | None = None) -> list[Target]:
        return [t for t, d in self.bases.items() if (host is None or t.host == host) and fault.applies(d)]

    def prior(self, target: Target) -> dict[str, str] | None:
        return next((r for r in self.broken if (r["host"], r["tunnel"]) == (target.host, target.tunnel)), None)


def survey(provider: Provider, records: list[dict[str, str]], exercise: bool) -> Survey:
    lab = provider.lab
    hosts = [h for h in lab.hosts if lab.tunnels_of(h)]
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(hosts)))) as pool:
        views: dict[str, HostView] = dict(zip(hosts, pool.map(lambda h: look(provider, h), hosts), strict=True))
    now = {Target(h, t.name): on_host(provider, h, views[h], t.name) for h in hosts for t in lab.tunnels_of(h)}
    broken = [r for r in records if Target(r["host"], r["tunnel"]) in now
              and _still_there(provider, views, r, now[Target(r["host"], r["tunnel"])])]
    result = Survey(exercise, now, broken, {})
    for target, device in now.items():
        prior = result.prior(target)
        if exercise and prior is not None and "before" in prior:
            result.bases[target] = Device.from_json(prior["before"])  # the student's, before the fault
        elif exercise and device is not None:
            # Only a tunnel device: a student's bridge named like the tunnel is not one to break.
            if device.kind is not None:
                result.bases[target] = device
        elif device is not None or prior is not None:
            result.bases[target] = from_lab(lab, target.host, target.tunnel)
    return result


def applicable(s: Survey, host: str | None = None) -> dict[str, list[Target]]:
    """Fault name -> where it can be applied now (on `host` only, if given)."""
    return {name: found for name, fault in FAULTS.items() if (found := s.targets(fault, host))}


def listing(lab: Lab, s: Survey, host: str | None, ref: str) -> tuple[str, list[tuple[str, str, str]]] | str:
    """What `break --list` shows: a title and rows (fault, what it does, where), or why nothing
    applies in an exercise lab."""
    options = applicable(s, host)
    if not options and s.exercise:
        return nothing_yet(lab, ref).message
    title = f"faults for {lab.name}" + (" (on the devices the students built)" if s.exercise else "")
    return title, [(name, FAULTS[name].what, ", ".join(dict.fromkeys(f"{t.host} {t.tunnel}" for t in targets)))
                   for name, targets in options.items()]


def revealed(lab: Lab, s: Survey) -> list[str]:
    """What `break --reveal` shows: the faults on the lab now, checked against the hosts."""
    if not s.broken:
        return [f"lab {lab.name} has no fault from netlab break"]
    return [f"{f['fault']} on {f['host']} {f['tunnel']}: {FAULTS[f['fault']].what if f['fault'] in FAULTS else ''}"
            for f in s.broken]


def nothing_yet(lab: Lab, ref: str) -> NetlabError:
    devices = sorted({t.name for t in lab.tunnels})
    return NetlabError(
        f"nothing to break yet: no host of {lab.name} has a tunnel device ({', '.join(devices)}); "
        "this is an exercise lab, the students build them",
        hint=f"once a student has built one, `netlab break {ref} --list` shows what can be broken",
    )


def check_host(lab: Lab, host: str | None) -> None:
    if host is not None and host in lab.tenants:
        raise NetlabError(f"{host} is a tenant of lab {lab.name}: netlab break's faults are on the hosts",
                          hint=f"break its host: --host {lab.tenants[host].host} (tenant-mtu and tenant-wrong-bridge "
                               "break a tenant there)")
    if host is not None and host not in lab.hosts:
        raise NetlabError(f"lab {lab.name} has no host {host!r}", hint=f"hosts: {', '.join(lab.hosts)}")


def choose(lab: Lab, s: Survey, fault: str | None, host: str | None, rng: random.Random,
           ref: str) -> tuple[str, Target]:
    check_host(lab, host)
    if fault is not None and fault not in FAULTS:
        raise NetlabError(f"no fault named {fault!r}", hint=f"faults: {', '.join(FAULTS)} (netlab break LAB --list)")
    if s.exercise and not any(s.targets(f, host) for f in FAULTS.values()):
        raise nothing_yet(lab, ref) if host is None or not s.bases else NetlabError(
            f"nothing to break yet on {host}: it has no tunnel device of the lab",
            hint=f"hosts that have one: {', '.join(sorted({t.host for t in s.bases}))}")
    options = applicable(s, host)
    where = (f" on {host}" if host else "") + (" (as the students built it)" if s.exercise else "")
    if fault is None:
        if not options:
            raise NetlabError(f"no fault applies to lab {lab.name}{where}")
        fault = rng.choice(sorted(options))
    elif fault not in options:
        raise NetlabError(f"fault {fault} does not apply to lab {lab.name}{where}",
                          hint=f"it applies: {', '.join(sorted(options)) or 'none'}")
    return fault, rng.choice(options[fault])


def plan(provider: Provider, s: Survey, fault: str, target: Target) -> tuple[list[str], dict[str, str]]:
    """The commands that apply `fault` to `target`, and its record. A fault still there on the
    same target is undone first: the new one replaces it."""
    lab = provider.lab
    base = s.bases[target]
    effect = FAULTS[fault].effect(lab, target.host, base)
    exists = s.now[target] is not None
    commands: list[str] = []
    if s.prior(target) is not None:
        commands.append(f"ip link set {lab.underlay.interface} mtu {base.underlay_mtu}")
    if effect.changed is not None or s.prior(target) is not None:
        commands += build(lab, target.host, base, effect.changed, replace=exists)
    prefix = str(provider.ansible_group_vars().get("netlab_tenant_prefix", ""))
    commands += [c.replace(TENANT_NS, prefix) for c in effect.commands]
    record = {"fault": fault, "host": target.host, "tunnel": target.tunnel, "shows": json.dumps(effect.shows)}
    if s.exercise:
        record["before"] = base.to_json()
    return commands, record


def apply(provider: Provider, fault: str, target: Target, exercise: bool = False) -> dict[str, str]:
    """Apply `fault` to `target` now (no record kept: `netlab break` keeps one); returns its record."""
    commands, record = plan(provider, survey(provider, [], exercise), fault, target)
    run(provider, commands, target, fault)
    return record


def run(provider: Provider, commands: list[str], target: Target, fault: str) -> None:
    """Run a fault's commands; a host that changed meanwhile is told in words, not iproute2's."""
    try:
        run_commands(provider, target.host, commands)
    except NetlabError as exc:
        gone = "Cannot find device" in exc.message
        raise NetlabError(
            f"{fault} on {target.host} {target.tunnel} was not applied: "
            + (f"{target.host} has no {target.tunnel} any more (it changed while netlab was breaking it)"
               if gone else exc.message.partition(": ")[2] or exc.message),
            hint=f"netlab break {provider.lab.name} --list shows what can be broken now",
        ) from None


def restore(provider: Provider, records: list[dict[str, str]]) -> list[str]:
    """Put the students' devices that still carry a fault back as they were before it (exercise
    labs); returns what changed."""
    changes = []
    for record in records:
        if "before" not in record:
            continue
        before = Device.from_json(record["before"])
        view = look(provider, record["host"])
        run_commands(provider, record["host"], build(provider.lab, record["host"], before,
                                                     replace=record["tunnel"] in view.links))
        changes.append(f"{record['host']}: {record['tunnel']} put back as it was before {record['fault']}")
    return changes
