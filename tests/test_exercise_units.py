"""Exercise mode without namespaces: a student's device read from `ip -d -j` and rebuilt with one
thing changed keeps everything else the student gave it (and nothing the lab would add)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from netlab import faults
from netlab.catalog import resolve
from netlab.configure.device import Device, build, from_link
from netlab.configure.exercise import netlab_made
from netlab.errors import NetlabError
from netlab.macs import tunnel_mac
from netlab.model import load_lab

FLOOD = load_lab(resolve("vxlan-flood"))

# A student's flood device on h1, made as `ip link add vxlan0 type vxlan id 200 dstport 4789`:
# no `local`, no `dev`, the kernel's MAC, one address, up.
STUDENT = {
    "ifname": "vxlan0", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"], "mtu": 1450,
    "address": "1e:49:c7:dc:b1:e2", "inet6_addr_gen_mode": "eui64",
    "linkinfo": {"info_kind": "vxlan", "info_data": {"id": 200, "port": 4789, "learning": True, "ttl": 0}},
    "addr_info": [{"family": "inet", "local": "172.16.20.1", "prefixlen": 24, "scope": "global"}],
}


def student() -> Device:
    return from_link(FLOOD, "h1", STUDENT, 1500, flood_to=["10.10.0.13", "10.10.0.12"])


def test_a_students_device_is_rebuilt_with_only_the_fault_changed() -> None:
    commands = build(FLOOD, "h1", student(), {"vni": 201})
    assert commands[:2] == ["ip link del vxlan0", "ip link add vxlan0 type vxlan id 201 dstport 4789"]
    assert "bridge fdb append 00:00:00:00:00:00 dev vxlan0 dst 10.10.0.12" in commands
    assert "bridge fdb append 00:00:00:00:00:00 dev vxlan0 dst 10.10.0.13" in commands
    assert not any("10.10.0.14" in c for c in commands), "the peer the student did not list stays unlisted"
    assert "ip link set vxlan0 address 1e:49:c7:dc:b1:e2" in commands, "the student's MAC, not netlab's"
    assert "ip addr add 172.16.20.1/24 dev vxlan0" in commands
    assert not any("addrgenmode" in c or " local " in c for c in commands)


def test_a_device_that_is_down_without_an_address_is_put_back_so() -> None:
    down = {**STUDENT, "flags": ["BROADCAST", "MULTICAST"], "addr_info": []}
    device = from_link(FLOOD, "h1", down, 1500, flood_to=[])
    commands = build(FLOOD, "h1", Device.from_json(device.to_json()), replace=False)
    assert commands[0] == "ip link add vxlan0 type vxlan id 200 dstport 4789"
    assert not any(c.startswith("ip addr add") for c in commands)
    assert commands[-1] == "ip link set vxlan0 down"


def test_faults_apply_to_the_devices_real_parameters() -> None:
    device = student()
    effect = faults.FAULTS["wrong-port"].effect(FLOOD, "h1", device)
    assert effect.changed == {"dstport": 4790} and effect.shows == {"dstport": "4790"}
    assert not faults.FAULTS["wrong-group"].applies(device), "a flood device has no group"
    assert not faults.FAULTS["one-sided-key"].applies(device)
    record = {"fault": "wrong-port", "host": "h1", "tunnel": "vxlan0", "shows": json.dumps(effect.shows)}
    assert not faults.still_there(record, device), "the student's device has its own port"
    moved = from_link(FLOOD, "h1", {**STUDENT, "linkinfo": {"info_kind": "vxlan",
                                                            "info_data": {"id": 200, "port": 4790}}}, 1500)
    assert faults.still_there(record, moved)
    assert not faults.still_there(record, None)


def test_netlabs_own_device_is_told_by_its_mac() -> None:
    tunnel = FLOOD.tunnels[0]
    assert not netlab_made(FLOOD, "h1", tunnel, STUDENT, was_full=True), "a student's device after a full up"
    ours = {**STUDENT, "address": tunnel_mac("h1", "vxlan0")}
    assert netlab_made(FLOOD, "h1", tunnel, ours, was_full=False)


def test_a_device_that_went_away_while_breaking_is_said_in_words() -> None:
    """Not iproute2's `Cannot find device` / `Command failed -:1`, nor a hint to down and up."""
    failing = ["sh", "-c", "cat >/dev/null; echo 'Cannot find device \"vxlan0\"' >&2; "
               "echo 'Command failed -:1' >&2; exit 1"]
    provider = SimpleNamespace(lab=FLOOD, batch_argv=lambda host, tool, *options: failing)
    with pytest.raises(NetlabError) as caught:
        faults.run(provider, ["ip link set vxlan0 down"], faults.Target("h1", "vxlan0"), "device-down")  # type: ignore[arg-type]
    text = str(caught.value)
    assert "device-down on h1 vxlan0 was not applied: h1 has no vxlan0 any more" in text
    assert not any(raw in text for raw in ("Cannot find device", "Command failed", "netlab down", " up "))


class RecordingProvider:
    """Just enough of a provider for the fast path: hosts have nothing yet, and every command
    sent to a machine is kept."""

    configurer = "ip-batch"
    owns_machines = True
    sent: dict[str, str]

    def __init__(self, lab: object, state: object) -> None:
        self.lab, self.state = lab, state
        self.sent = RecordingProvider.sent
        self.removed: list[str] = []  # machines create removed (none: nothing was there)

    def batch_argv(self, host: str, tool: str, *options: str) -> list[str]:
        if "-j" in options:  # netlab reading the host: no device yet
            return ["sh", "-c", "cat >/dev/null; echo '[]'; echo '[]'"]
        return ["sh", "-c", "cat >/dev/null"]

    def run(self, machine: str, command: list[str], timeout: float = 30, input: str | None = None) -> object:
        self.sent[machine] = input or ""
        return SimpleNamespace(ok=True, stdout="", stderr="")

    def ansible_connection(self, machine: str) -> dict[str, str]:
        return {}

    def ansible_group_vars(self) -> dict[str, str]:
        return {}


def test_an_exercise_labs_routers_forward_the_groups_of_the_tunnels_students_build() -> None:
    """Exercise state = machines, underlay and routers as the lab says: gw forwards lab10-routed's
    group, or a student's right tunnel could never cross it."""
    from netlab.configure import configure
    from netlab.state import StateRecord

    routed = load_lab(resolve("lab10-routed"))
    RecordingProvider.sent = {}
    state = SimpleNamespace(read=StateRecord, exists=True)
    configure(RecordingProvider(routed, state), lambda _: None, overlay=False)  # type: ignore[arg-type]
    assert "mroute from" in RecordingProvider.sent["gw"] and "group 239.255.0.1" in RecordingProvider.sent["gw"]
