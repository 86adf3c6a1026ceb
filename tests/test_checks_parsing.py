"""What each check reads from its commands' output, on real recorded output (tests/data/recorded).

No root, no VMs: every parser is a pure function of the text a host printed.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from netlab.catalog import load_lab, resolve
from netlab.model import Lab
from netlab.verify.checks.fdb import ZERO_MAC, missing_entries, parse_fdb
from netlab.verify.checks.maddr import joined
from netlab.verify.checks.mtu import answered, verdict
from netlab.verify.checks.params import compare, parse_link
from netlab.verify.checks.ping import parse_fping, ping_budget
from netlab.verify.checks.socket import listening

RECORDED = Path(__file__).parent / "data" / "recorded"


def text(name: str) -> str:
    return (RECORDED / name).read_text()


def lab(ref: str) -> Lab:
    return load_lab(RECORDED / "mix.yml") if ref == "mix" else load_lab(resolve(ref))


def tunnel(lab: Lab, name: str) -> Any:
    return next(t for t in lab.tunnels if t.name == name)


# -- ping: fping -e lines --------------------------------------------------------------------------

def test_fping_all_alive() -> None:
    assert parse_fping(text("fping-alive.txt"), ["192.168.60.5", "192.168.60.6"]) == {
        "192.168.60.5": True, "192.168.60.6": True}


def test_fping_one_unreachable() -> None:
    assert parse_fping(text("fping-mixed.txt"), ["192.168.60.5", "192.168.60.9"]) == {
        "192.168.60.5": True, "192.168.60.9": False}


def test_fping_error_lines_are_not_replies() -> None:
    # In a VM: "10.0.1.3: error while sending ping: Permission denied", then "is unreachable".
    out = text("fping-vm.txt")
    assert "error while sending" in out
    assert parse_fping(out, ["10.0.1.2", "10.0.1.3"]) == {"10.0.1.2": True, "10.0.1.3": False}


def test_fping_target_without_a_line_and_empty_output_do_not_reply() -> None:
    assert parse_fping(text("fping-alive.txt"), ["192.168.60.5", "192.168.60.7"])["192.168.60.7"] is False
    assert parse_fping("", ["192.168.60.5"]) == {"192.168.60.5": False}
    # A line about another address does not count for a target.
    assert parse_fping("192.168.60.50 is alive (0.1 ms)", ["192.168.60.5"]) == {"192.168.60.5": False}


def test_ping_budget_covers_fpings_retries_with_backoff() -> None:
    # -r 2 -t 500: waits 0.5 + 0.75 + 1.125 s at most.
    assert 2.375 <= ping_budget(2, 2, 500, 1) < 2.5
    assert ping_budget(5, 0, 300, 1) == 5  # the fallback: one `ping -w 1` per target


# -- params: ip -d -j addr show dev DEV ------------------------------------------------------------

DEVICES = [
    ("lab10", "boxA", "vxlan0", "vxlan-multicast.addr.json"),
    ("vxlan-flood", "h1", "vxlan0", "vxlan-flood.addr.json"),
    ("mix", "vma", "vxlan0", "vxlan0.addr.json"),
    ("mix", "vma", "vx8472", "vx8472.addr.json"),
    ("mix", "vma", "gre1", "gre1.addr.json"),
    ("mix", "vmb", "gtap1", "gtap1.addr.json"),
    ("mix", "vma", "gtapk", "gtapk.addr.json"),
    ("mix", "vma", "gnv1", "gnv1.addr.json"),
    ("mix", "vmb", "gnv2", "gnv2.addr.json"),
    ("mix", "vmb", "ipip1", "ipip1.addr.json"),
    ("mix", "vma", "sit1", "sit1.addr.json"),
]


@pytest.mark.parametrize(("ref", "host", "device", "recording"), DEVICES, ids=[d[3] for d in DEVICES])
def test_recorded_devices_match_their_lab(ref: str, host: str, device: str, recording: str) -> None:
    the_lab = lab(ref)
    link = parse_link(text(recording))
    assert link is not None and link["ifname"] == device
    assert compare(the_lab, host, tunnel(the_lab, device), link) == []


def recorded_link(recording: str) -> dict[str, Any]:
    link = parse_link(text(recording))
    assert link is not None
    return copy.deepcopy(link)


def test_a_wrong_vni_is_named() -> None:
    lab10 = lab("lab10")
    link = recorded_link("vxlan-multicast.addr.json")
    link["linkinfo"]["info_data"]["id"] = 101
    assert compare(lab10, "boxA", tunnel(lab10, "vxlan0"), link) == ["id is 101, lab says 100"]


def test_wrong_port_group_and_ttl_are_named() -> None:
    mix = lab("mix")
    link = recorded_link("vxlan0.addr.json")
    data = link["linkinfo"]["info_data"]
    data.update(port=8472, group="239.255.0.2", ttl=1)
    assert compare(mix, "vma", tunnel(mix, "vxlan0"), link) == [
        "port is 8472, lab says 4789", "group is 239.255.0.2, lab says 239.255.0.1", "ttl is 1, lab says 5"]


def test_a_wrong_gre_key_and_a_missing_one() -> None:
    mix = lab("mix")
    link = recorded_link("gre1.addr.json")
    link["linkinfo"]["info_data"]["ikey"] = "0.0.0.8"
    del link["linkinfo"]["info_data"]["okey"]
    assert compare(mix, "vma", tunnel(mix, "gre1"), link) == ["key is 8, lab says 7"]
    del link["linkinfo"]["info_data"]["ikey"]
    assert compare(mix, "vma", tunnel(mix, "gre1"), link) == ["key is none, lab says 7"]


def test_a_key_the_lab_does_not_have_is_named() -> None:
    mix = lab("mix")
    link = recorded_link("gtap1.addr.json")
    link["linkinfo"]["info_data"].update(ikey="0.0.0.12", okey="0.0.0.12")
    assert compare(mix, "vmb", tunnel(mix, "gtap1"), link) == ["key is 12, lab says none"]


def test_a_ttl_of_0_says_what_it_means() -> None:
    mix = lab("mix")
    link = recorded_link("vxlan0.addr.json")
    link["linkinfo"]["info_data"]["ttl"] = 0
    assert compare(mix, "vma", tunnel(mix, "vxlan0"), link) == [
        "ttl is 0 (= inherit, so multicast leaves with TTL 1), lab says 5"]


def test_wrong_type_remote_mtu_state_and_address() -> None:
    mix = lab("mix")
    link = recorded_link("ipip1.addr.json")
    link["linkinfo"]["info_kind"] = "sit"
    link["linkinfo"]["info_data"]["remote"] = "192.168.50.99"
    link["mtu"] = 1500
    link["flags"] = ["POINTOPOINT", "NOARP"]
    link["addr_info"] = [a for a in link["addr_info"] if a["family"] != "inet"]
    problems = compare(mix, "vmb", tunnel(mix, "ipip1"), link)
    assert problems[0] == "type is sit, lab says ipip"
    assert "remote is 192.168.50.99, lab says 192.168.50.23" in problems
    assert "the device is down" in problems
    assert "mtu is 1500, expected 1480" in problems
    assert problems[-1] == "address is none, lab says 10.0.3.1/30"


def test_the_lower_device_beside_info_data_counts() -> None:
    lab10 = lab("lab10")
    link = recorded_link("vxlan-multicast.addr.json")
    link["link"] = link["linkinfo"]["info_data"].pop("link")
    assert compare(lab10, "boxA", tunnel(lab10, "vxlan0"), link) == []
    link["link"] = "eth9"
    assert compare(lab10, "boxA", tunnel(lab10, "vxlan0"), link) == ["link is eth9, lab says enp0s8"]


@pytest.mark.parametrize("output", ["", "[]", "{}", "not json", 'Device "vxlan0" does not exist.'])
def test_no_device_parses_as_none(output: str) -> None:
    assert parse_link(output) is None


def test_parse_link_takes_the_first_device() -> None:
    assert parse_link(json.dumps([{"ifname": "a"}, {"ifname": "b"}])) == {"ifname": "a"}


# -- maddr: ip maddr show dev NIC ------------------------------------------------------------------

@pytest.mark.parametrize("recording", ["maddr-enp0s8.txt", "maddr-eth1-vm.txt"])
def test_maddr_lists_the_group(recording: str) -> None:
    out = text(recording)
    assert joined(out, "239.255.0.1")
    assert not joined(out, "239.255.0.2")
    assert not joined(out, "239.255.0.10")  # no prefix match
    assert not joined(out, "239.255.0")


def test_maddr_line_with_a_users_count() -> None:
    assert joined("2:\tenp0s8\n\tinet  239.255.0.1 users 2\n", "239.255.0.1")


# -- fdb: bridge fdb show dev DEV ------------------------------------------------------------------

def test_fdb_multicast_entries() -> None:
    entries = parse_fdb(text("fdb-multicast.txt"))
    assert entries == {("52:54:ed:25:c1:cb", "192.168.50.5"), ("52:54:e2:ab:5e:f4", "192.168.50.6"),
                       (ZERO_MAC, "239.255.0.1")}
    peers = {"boxB": ("52:54:ed:25:c1:cb", "192.168.50.5"), "boxC": ("52:54:e2:ab:5e:f4", "192.168.50.6")}
    assert missing_entries(entries, peers, {"239.255.0.1"}) == []


def test_fdb_flood_entries_have_one_default_per_peer() -> None:
    entries = parse_fdb(text("fdb-flood.txt"))
    peers = {"h2": ("52:54:3d:92:4b:3b", "10.10.0.12"), "h3": ("52:54:f5:4e:9b:39", "10.10.0.13"),
             "h4": ("52:54:87:5f:42:29", "10.10.0.14")}
    assert missing_entries(entries, peers, {"10.10.0.12", "10.10.0.13", "10.10.0.14"}) == []
    assert len(entries) == 6


def test_fdb_a_missing_peer_mac_and_default_entry_are_named() -> None:
    lines = [line for line in text("fdb-multicast.txt").splitlines()
             if not line.startswith(("52:54:e2", "00:00"))]
    entries = parse_fdb("\n".join(lines))
    peers = {"boxB": ("52:54:ed:25:c1:cb", "192.168.50.5"), "boxC": ("52:54:e2:ab:5e:f4", "192.168.50.6")}
    assert missing_entries(entries, peers, {"239.255.0.1"}) == [
        "boxC (52:54:e2:ab:5e:f4 -> 192.168.50.6)", f"default entry {ZERO_MAC} -> 239.255.0.1"]


def test_fdb_a_mac_behind_the_wrong_ip_or_unknown_mac() -> None:
    entries = parse_fdb(text("fdb-flood.txt"))
    peers = {"h2": ("52:54:3d:92:4b:3b", "10.10.0.13"), "h3": (None, "10.10.0.13")}
    assert missing_entries(entries, peers, set()) == ["h2 (52:54:3d:92:4b:3b -> 10.10.0.13)", "h3 (? -> 10.10.0.13)"]


def test_fdb_ignores_lines_without_dst() -> None:
    out = "33:33:00:00:00:01 self permanent\n52:54:00:00:00:01 master br0\n"
    assert parse_fdb(out) == set()


# -- socket: ss -Hlun sport = :PORT ----------------------------------------------------------------

@pytest.mark.parametrize(("recording", "port"), [("ss-4789.txt", 4789), ("ss-4789-vm.txt", 4789),
                                                 ("ss-6081-vm.txt", 6081)])
def test_socket_listening(recording: str, port: int) -> None:
    assert listening(text(recording), port)
    assert not listening(text(recording), port + 1)


def test_socket_not_listening_on_empty_output_and_other_forms() -> None:
    assert not listening("", 4789)
    assert listening("UNCONN 0      0      *:4789 *:*\n", 4789)
    assert listening("UNCONN 0      0      [::]:4789 [::]:*\n", 4789)
    # A socket bound to one address only is not the tunnel's.
    assert not listening("UNCONN 0      0      127.0.0.1:4789 0.0.0.0:*\n", 4789)


# -- mtu: the two DF pings -------------------------------------------------------------------------

def test_mtu_verdicts() -> None:
    assert verdict(0, 1, 1450, 28) == (True, "1422+28 bytes pass, 1423+28 are refused (MTU 1450)")
    assert verdict(1, 1, 1450, 28) == (False, "a 1450-byte packet with DF set did not get through")
    assert verdict(0, 0, 1450, 28) == (False, "a 1451-byte packet passed: the MTU is larger than 1450")


def test_a_too_big_ping_counts_as_answered_by_its_replies_not_its_exit_code() -> None:
    # Two packets are sent (ping notices a local refusal only at its next send): one reply is
    # enough to prove the packet passed, though ping then exits 1.
    refused = ("ping: local error: message too long, mtu=1450\n\n--- 192.168.60.5 ping statistics ---\n"
               "2 packets transmitted, 0 received, +2 errors, 100% packet loss, time 10ms\n")
    fragmented = ("1431 bytes from 192.168.60.5: icmp_seq=1 ttl=64 time=0.1 ms\n"
                  "ping: local error: message too long, mtu=1450\n"
                  "2 packets transmitted, 1 received, +1 errors, 50% packet loss, time 10ms\n")
    assert not answered(1, refused)
    assert answered(1, fragmented)
    assert answered(0, "2 packets transmitted, 2 packets received, 0% packet loss")  # busybox
    assert not answered(1, "") and answered(0, "")  # no summary: the exit code says
