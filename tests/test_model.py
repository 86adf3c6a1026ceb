"""The lab file contract: every rule, reported with field path, line and what is allowed."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from netlab.errors import LabError, LabIssue
from netlab.model import Lab, load_lab, validate_lab

BASE_TEXT = """\
name: lab10
title: VXLAN over IP multicast
underlay:
  name: myNetwork
  subnet: 192.168.50.0/24
  interface: enp0s8
hosts:
  boxA: {ip: 192.168.50.4}
  boxB: {ip: 192.168.50.5}
  boxC: {ip: 192.168.50.6}
tunnels:
  - name: vxlan0
    type: vxlan
    vni: 100
    mode: multicast
    group: 239.255.0.1
    ttl: 5
    dstport: 4789
    endpoints:
      boxA: 192.168.60.4/24
      boxB: 192.168.60.5/24
      boxC: 192.168.60.6/24
"""
# Lines of BASE_TEXT, for the line-number assertions.
LINE = {"name": 1, "underlay": 3, "subnet": 5, "boxA": 8, "boxB": 9, "boxC": 10, "tunnels": 11,
        "tunnel0": 12, "vni": 14, "group": 16, "endpoints": 19, "ep.boxA": 20, "ep.boxC": 22}

BASE: dict[str, Any] = {
    "name": "lab10",
    "title": "VXLAN over IP multicast",
    "underlay": {"name": "myNetwork", "subnet": "192.168.50.0/24", "interface": "enp0s8"},
    "hosts": {"boxA": {"ip": "192.168.50.4"}, "boxB": {"ip": "192.168.50.5"},
              "boxC": {"ip": "192.168.50.6"}},
    "tunnels": [{
        "name": "vxlan0", "type": "vxlan", "vni": 100, "mode": "multicast",
        "group": "239.255.0.1", "ttl": 5, "dstport": 4789,
        "endpoints": {"boxA": "192.168.60.4/24", "boxB": "192.168.60.5/24",
                      "boxC": "192.168.60.6/24"},
    }],
}


def two_hosts(tunnel: dict[str, Any]) -> dict[str, Any]:
    """BASE with boxA and boxB only and `tunnel` as its one tunnel."""
    lab = copy.deepcopy(BASE)
    del lab["hosts"]["boxC"]
    lab["tunnels"] = [tunnel]
    return lab


def p2p(type_: str, a: str = "10.0.1.1/24", b: str = "10.0.1.2/24", **extra: Any) -> dict[str, Any]:
    return {"name": f"{type_}1", "type": type_, "endpoints": {"boxA": a, "boxB": b}, **extra}


def issues(data: Any) -> list[LabIssue]:
    with pytest.raises(LabError) as info:
        validate_lab(data, "lab.yml")
    return info.value.issues


def file_issues(tmp_path: Path, content: str | bytes) -> list[LabIssue]:
    path = tmp_path / "lab.yml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(LabError) as info:
        load_lab(path)
    assert info.value.source == str(path)
    assert str(path) in info.value.message
    return info.value.issues


def only(found: list[LabIssue], path: str) -> LabIssue:
    """The one issue at `path`; fails listing everything found otherwise."""
    at = [i for i in found if i.path == path]
    assert len(at) == 1, f"expected one issue at {path!r}, got: {found}"
    return at[0]


def mutate(fn: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    lab = copy.deepcopy(BASE)
    fn(lab)
    return lab


def t0(lab: dict[str, Any]) -> dict[str, Any]:
    return lab["tunnels"][0]


# --- the valid base ----------------------------------------------------------------------------


def test_base_is_valid_as_dict_and_as_file(tmp_path: Path) -> None:
    lab = validate_lab(copy.deepcopy(BASE), "x")
    assert isinstance(lab, Lab) and lab.tunnels[0].effective_mode == "multicast"
    path = tmp_path / "lab.yml"
    path.write_text(BASE_TEXT)
    assert load_lab(path) == lab


# --- ranges and shapes, checked by the model ---------------------------------------------------

RANGES = [
    ("vni", 0, "tunnels[0].vni", "greater than or equal to 1"),
    ("vni", 16777216, "tunnels[0].vni", "less than or equal to 16777215"),
    ("ttl", 0, "tunnels[0].ttl", "greater than or equal to 1"),
    ("ttl", 256, "tunnels[0].ttl", "less than or equal to 255"),
    ("dstport", 0, "tunnels[0].dstport", "greater than or equal to 1"),
    ("dstport", 65536, "tunnels[0].dstport", "less than or equal to 65535"),
    ("mtu", 575, "tunnels[0].mtu", "greater than or equal to 576"),
    ("mtu", 9001, "tunnels[0].mtu", "less than or equal to 9000"),
    ("type", "vxlam", "tunnels[0].type", "'vxlan'"),
    ("mode", "broadcast", "tunnels[0].mode", "'flood'"),
    ("group", "239.255.0", "tunnels[0].group", "not an IPv4 address"),
    ("vni", "abc", "tunnels[0].vni", "whole number"),
    ("vni", True, "tunnels[0].vni", "whole number, got true"),
    ("vni", 1.5, "tunnels[0].vni", "whole number"),
]


@pytest.mark.parametrize(("field", "value", "path", "fragment"), RANGES)
def test_tunnel_field_ranges(field: str, value: Any, path: str, fragment: str) -> None:
    lab = mutate(lambda d: t0(d).__setitem__(field, value))
    assert fragment in only(issues(lab), path).message


@pytest.mark.parametrize(("key", "value", "fragment"), [
    (-1, "greater than or equal to 0", ""),
    (2**32, "less than or equal to 4294967295", ""),
])
def test_gre_key_range(key: int, value: str, fragment: str) -> None:
    found = issues(two_hosts(p2p("gretap", key=key)))
    assert value in only(found, "tunnels[0].key").message


@pytest.mark.parametrize(("mtu", "fragment"), [(575, "576"), (9001, "9000"), (True, "whole number")])
def test_underlay_mtu_range(mtu: Any, fragment: str) -> None:
    lab = mutate(lambda d: d["underlay"].__setitem__("mtu", mtu))
    assert fragment in only(issues(lab), "underlay.mtu").message


@pytest.mark.parametrize(("subnet", "fragment"), [
    ("192.168.50.1/24", "did you mean 192.168.50.0/24"),
    ("192.168.50.0", "needs a prefix length"),
    ("192.168.500.0/24", "not an IPv4 subnet"),
    ("fd00:50::/64", "IPv6; the underlay is IPv4"),
])
def test_underlay_subnet_format(subnet: str, fragment: str) -> None:
    lab = mutate(lambda d: d["underlay"].__setitem__("subnet", subnet))
    assert fragment in only(issues(lab), "underlay.subnet").message


@pytest.mark.parametrize(("ip", "fragment"), [
    ("192.168.50", "not an IPv4 address"),
    ("192.168.050.4", "not an IPv4 address"),
    ("fd00::4", "IPv6; the underlay is IPv4"),
    (3232248324, "must be text"),
])
def test_host_ip_format(ip: Any, fragment: str) -> None:
    lab = mutate(lambda d: d["hosts"]["boxA"].__setitem__("ip", ip))
    assert fragment in only(issues(lab), "hosts.boxA.ip").message


@pytest.mark.parametrize("address", [
    "192.168.60.4", "192.168.60.4/33", "not-an-ip/24", "fd00::1%$(reboot)/64", "fd00::1%eth0/64",
    "192.168.60.4/24; reboot", " 192.168.60.4/24",
])
def test_endpoint_address_format(address: str) -> None:
    lab = mutate(lambda d: t0(d)["endpoints"].__setitem__("boxA", address))
    message = only(issues(lab), "tunnels[0].endpoints.boxA").message
    assert "prefix length" in message


def test_missing_required_fields_are_named() -> None:
    lab = mutate(lambda d: (d["underlay"].pop("subnet"), t0(d).pop("endpoints"), d.pop("name")))
    found = issues(lab)
    for path in ("name", "underlay.subnet", "tunnels[0].endpoints"):
        assert only(found, path).message == "is required"


def test_optional_fields_stay_optional() -> None:
    """Backward compatibility: interface, mtu, mode, dstport, ttl, title, box, checks may be left out."""
    lab = mutate(lambda d: (d["underlay"].pop("interface"), [t0(d).pop(k) for k in ("mode", "ttl", "dstport")]))
    model = validate_lab(lab, "x")
    assert model.underlay.interface == "enp0s8" and model.underlay.mtu == 1500
    assert model.tunnels[0].effective_mode == "multicast" and model.tunnels[0].effective_dstport == 4789


# --- wrong types -------------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "path", "fragment"), [
    (lambda d: d.__setitem__("hosts", ["boxA", "boxB"]), "hosts", "must be a mapping"),
    (lambda d: d.__setitem__("tunnels", {"name": "vxlan0"}), "tunnels", "must be a list"),
    (lambda d: d.__setitem__("underlay", "myNetwork"), "underlay", "must be a mapping"),
    (lambda d: d["hosts"].__setitem__("boxA", "192.168.50.4"), "hosts.boxA", "e.g. boxA: {ip: 192.168.50.4}"),
    (lambda d: d["hosts"].__setitem__("boxA", None), "hosts.boxA", "got nothing"),
    (lambda d: t0(d).__setitem__("endpoints", ["boxA", "boxB"]), "tunnels[0].endpoints", "must be a mapping"),
    (lambda d: d.__setitem__("name", 123), "name", "must be text, got the number 123"),
    (lambda d: d.__setitem__("checks", "ping"), "checks", "must be a list"),
    (lambda d: d.__setitem__("checks", ["ping", "pong"]), "checks[1]", "'pong' is not allowed"),
    (lambda d: d.__setitem__("tunnels", []), "tunnels", "at least 1"),
])
def test_wrong_types_name_the_field(change: Callable[[dict[str, Any]], None], path: str, fragment: str) -> None:
    assert fragment in only(issues(mutate(change)), path).message


@pytest.mark.parametrize(("document", "fragment"), [
    (None, "got nothing"), (["a", "b"], "got a list"), ("hello", "got text (5 characters)"),
    (42, "got the number 42"),
])
def test_document_that_is_not_a_mapping(document: Any, fragment: str) -> None:
    found = issues(document)
    assert len(found) == 1 and found[0].path == "" and fragment in found[0].message


# --- unknown keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "path", "suggestion"), [
    (lambda d: d.__setitem__("tunnel", []), "tunnel", "'tunnels'"),
    (lambda d: d["underlay"].__setitem__("subnett", "x"), "underlay.subnett", "'subnet'"),
    (lambda d: d["hosts"]["boxA"].__setitem__("IP", "x"), "hosts.boxA.IP", "'ip'"),
    (lambda d: t0(d).__setitem__("endpoint", {}), "tunnels[0].endpoint", "'endpoints'"),
    (lambda d: t0(d).__setitem__("vnid", 5), "tunnels[0].vnid", "'vni'"),
])
def test_unknown_key_suggests_the_known_one(change: Callable[[dict[str, Any]], None], path: str,
                                            suggestion: str) -> None:
    message = only(issues(mutate(change)), path).message
    assert message.startswith("unknown key")
    assert f"did you mean {suggestion}?" in message
    assert "allowed:" in message


def test_unknown_key_without_a_close_match_lists_allowed() -> None:
    message = only(issues(mutate(lambda d: d.__setitem__("zzz", 1))), "zzz").message
    assert "did you mean" not in message
    assert "allowed: name, title, description, box, underlay, hosts, tunnels, checks" in message


# --- the semantic rules ------------------------------------------------------------------------

HOSTS3 = ("boxA", "boxB", "boxC")
SEMANTIC = [
    # addresses in the underlay subnet, not network/broadcast, unique
    (lambda d: d["hosts"]["boxC"].__setitem__("ip", "10.0.0.6"), "hosts.boxC.ip",
     "outside underlay.subnet 192.168.50.0/24"),
    (lambda d: d["hosts"]["boxC"].__setitem__("ip", "192.168.50.0"), "hosts.boxC.ip", "network address"),
    (lambda d: d["hosts"]["boxC"].__setitem__("ip", "192.168.50.255"), "hosts.boxC.ip", "broadcast address"),
    (lambda d: d["hosts"]["boxC"].__setitem__("ip", "192.168.50.4"), "hosts.boxC.ip",
     "already used by host boxA"),
    (lambda d: d["underlay"].__setitem__("subnet", "192.168.50.4/31"), "underlay.subnet", "no room for hosts"),
    (lambda d: d["underlay"].__setitem__("subnet", "127.0.0.0/8"), "underlay.subnet", "loopback"),
    (lambda d: d["underlay"].__setitem__("subnet", "239.0.0.0/24"), "underlay.subnet", "multicast"),
    (lambda d: d["underlay"].__setitem__("interface", "lo"), "underlay.interface", "loopback"),
    # multicast group
    (lambda d: t0(d).__setitem__("group", "10.1.1.1"), "tunnels[0].group", "not a multicast address (224.0.0.0/4)"),
    (lambda d: t0(d).__setitem__("group", "224.0.0.5"), "tunnels[0].group", "link-local multicast"),
    (lambda d: t0(d).pop("group"), "tunnels[0].group", "mode multicast needs a group"),
    (lambda d: t0(d).__setitem__("mode", "flood"), "tunnels[0].group", "mode flood takes no group"),
    # endpoints
    (lambda d: t0(d)["endpoints"].__setitem__("boxD", "192.168.60.7/24"), "tunnels[0].endpoints.boxD",
     "no host 'boxD'; hosts are: boxA, boxB, boxC"),
    (lambda d: (t0(d).pop("group"), t0(d).__setitem__("mode", "p2p")), "tunnels[0].endpoints",
     "connects exactly two hosts, got 3"),
    (lambda d: (t0(d).__setitem__("mode", "flood"), t0(d).pop("group"),
                [t0(d)["endpoints"].pop(h) for h in ("boxB", "boxC")]),
     "tunnels[0].endpoints", "at least two endpoints, got 1"),
    (lambda d: t0(d)["endpoints"].__setitem__("boxC", "192.168.61.6/24"), "tunnels[0].endpoints",
     "endpoints must share one subnet"),
    (lambda d: t0(d)["endpoints"].__setitem__("boxC", "192.168.60.0/24"), "tunnels[0].endpoints.boxC",
     "network address"),
    (lambda d: t0(d)["endpoints"].__setitem__("boxC", "192.168.60.255/24"), "tunnels[0].endpoints.boxC",
     "broadcast address"),
    (lambda d: t0(d)["endpoints"].__setitem__("boxC", "192.168.60.4/24"), "tunnels[0].endpoints.boxC",
     "already used by boxA on tunnels[0]"),
    (lambda d: t0(d)["endpoints"].__setitem__("boxC", "fd00::6/64"), "tunnels[0].endpoints.boxC",
     "vxlan endpoints need IPv4"),
    (lambda d: [t0(d)["endpoints"].__setitem__(h, f"127.0.0.{n}/8") for n, h in enumerate(["boxA", "boxB", "boxC"], 1)],
     "tunnels[0].endpoints.boxA", "loopback"),
    # overlap with the underlay
    (lambda d: [t0(d)["endpoints"].__setitem__(h, f"192.168.50.{n}/25") for n, h in enumerate(HOSTS3, 100)],
     "tunnels[0].endpoints.boxA", "overlaps the underlay 192.168.50.0/24"),
    (lambda d: [t0(d)["endpoints"].__setitem__(h, f"192.168.{n}.1/16") for n, h in enumerate(HOSTS3, 1)],
     "tunnels[0].endpoints.boxA", "overlaps the underlay"),
    # names
    (lambda d: t0(d).__setitem__("name", "enp0s8"), "tunnels[0].name", "underlay interface's name"),
    (lambda d: t0(d).__setitem__("name", "lo"), "tunnels[0].name", "loopback"),
    # vni / key / dstport / mtu by type
    (lambda d: t0(d).pop("vni"), "tunnels[0].vni", "vxlan needs a vni (1..16777215)"),
    (lambda d: t0(d).__setitem__("key", 5), "tunnels[0].key", "vxlan has no key"),
    (lambda d: t0(d).__setitem__("mtu", 1451), "tunnels[0].mtu",
     "1451 does not fit: underlay MTU 1500 minus 50 bytes of vxlan encapsulation leaves at most 1450"),
    (lambda d: d.__setitem__("checks", ["ping", "mtu", "ping"]), "checks[2]", "ping is listed twice"),
    # hosts differing only in case
    (lambda d: d["hosts"].__setitem__("BOXA", {"ip": "192.168.50.9"}), "hosts.BOXA",
     "differs only in case from host boxA"),
]


@pytest.mark.parametrize(("change", "path", "fragment"), SEMANTIC)
def test_semantic_rule(change: Callable[[dict[str, Any]], None], path: str, fragment: str) -> None:
    assert fragment in only(issues(mutate(change)), path).message


@pytest.mark.parametrize(("tunnel", "path", "fragment"), [
    (p2p("gre", vni=5), "tunnels[0].vni", "gre has no vni"),
    (p2p("gre", dstport=4789), "tunnels[0].dstport", "does not use UDP"),
    (p2p("gre", group="239.1.1.1"), "tunnels[0].group", "gre has no multicast group"),
    (p2p("ipip", mode="multicast"), "tunnels[0].mode", "mode multicast is for vxlan only"),
    (p2p("geneve"), "tunnels[0].vni", "geneve needs a vni"),
    (p2p("ipip", key=1), "tunnels[0].key", "ipip has no key"),
    (p2p("sit"), "tunnels[0].endpoints.boxA", "IPv6 (SIT carries IPv6 over IPv4)"),
    (p2p("sit", "fd00::1/64", "fd00::2/64", mtu=1279), "tunnels[0].mtu", "IPv6 needs an MTU of at least 1280"),
    (p2p("sit", "fe80::1/64", "fe80::2/64"), "tunnels[0].endpoints.boxA", "link-local"),
    (p2p("sit", "fd00::/64", "fd00::2/64"), "tunnels[0].endpoints.boxA", "network address"),
    (p2p("gre", "10.0.1.1/32", "10.0.1.2/32"), "tunnels[0].endpoints.boxA", "no room for a peer"),
    (p2p("sit", "fd00::1/128", "fd00::2/128"), "tunnels[0].endpoints.boxB", "no room for a peer"),
    (p2p("gretap", key=1, mtu=1459), "tunnels[0].mtu", "leaves at most 1458"),
    (p2p("gre", mtu=1477), "tunnels[0].mtu", "leaves at most 1476"),
    (p2p("vxlan", vni=7, mtu=1451), "tunnels[0].mtu", "leaves at most 1450"),
])
def test_point_to_point_rules(tunnel: dict[str, Any], path: str, fragment: str) -> None:
    assert fragment in only(issues(two_hosts(tunnel)), path).message


def test_point_to_point_types_take_exactly_two_endpoints() -> None:
    for type_ in ("geneve", "gre", "gretap", "ipip", "sit"):
        tunnel = p2p(type_, vni=1) if type_ == "geneve" else p2p(type_)
        if type_ == "sit":
            tunnel["endpoints"] = {"boxA": "fd00::1/64", "boxB": "fd00::2/64", "boxC": "fd00::3/64"}
        else:
            tunnel["endpoints"]["boxC"] = "10.0.1.3/24"
        lab = copy.deepcopy(BASE)
        lab["tunnels"] = [tunnel]
        assert f"{type_} connects exactly two hosts, got 3" in only(issues(lab), "tunnels[0].endpoints").message


@pytest.mark.parametrize("tunnel", [
    p2p("gre", "10.0.1.0/31", "10.0.1.1/31"),
    p2p("sit", "fd00::/127", "fd00::1/127"),
    p2p("sit", "fd00:64::1/64", "fd00:64::2/64"),
    p2p("gretap", key=0),
    p2p("vxlan", vni=9),  # vxlan without group nor mode is p2p
    p2p("ipip", "10.0.1.1/30", "10.0.1.2/30", mtu=1480, ttl=64),
])
def test_valid_point_to_point_variants(tunnel: dict[str, Any]) -> None:
    validate_lab(two_hosts(tunnel), "x")


def test_sit_default_mtu_must_leave_room_for_ipv6() -> None:
    lab = two_hosts(p2p("sit", "fd00::1/64", "fd00::2/64"))
    lab["underlay"]["mtu"] = 1290
    assert "raise underlay.mtu" in only(issues(lab), "tunnels[0].mtu").message
    lab["underlay"]["mtu"] = 1300
    validate_lab(lab, "x")


# --- rules across tunnels ----------------------------------------------------------------------


def test_same_vni_and_port_twice_on_one_host() -> None:
    lab = copy.deepcopy(BASE)
    second = copy.deepcopy(t0(lab))
    second.update(name="vxlan1", endpoints={"boxA": "192.168.61.4/24", "boxB": "192.168.61.5/24"})
    lab["tunnels"].append(second)
    message = only(issues(lab), "tunnels[1].vni").message
    assert "boxA already has a device with vni 100 on port 4789 (tunnels[0])" in message
    second["dstport"] = 8472  # another port: allowed
    validate_lab(lab, "x")


def test_vxlan_and_geneve_cannot_share_a_port_on_one_host() -> None:
    lab = two_hosts(p2p("vxlan", vni=1, dstport=6081))
    lab["tunnels"].append(p2p("geneve", "10.0.2.1/24", "10.0.2.2/24", vni=2))
    assert "UDP port 6081 for vxlan" in only(issues(lab), "tunnels[1].dstport").message


def test_two_gre_tunnels_between_the_same_hosts_need_different_keys() -> None:
    lab = two_hosts(p2p("gre"))
    lab["tunnels"].append(p2p("gre", "10.0.2.1/24", "10.0.2.2/24") | {"name": "gre2"})
    assert "the kernel cannot tell them apart" in only(issues(lab), "tunnels[1].key").message
    lab["tunnels"][1]["key"] = 7
    validate_lab(lab, "x")


def test_gre_and_gretap_between_the_same_hosts_coexist() -> None:
    lab = two_hosts(p2p("gre"))
    lab["tunnels"].append(p2p("gretap", "10.0.2.1/24", "10.0.2.2/24"))
    validate_lab(lab, "x")


def test_duplicate_tunnel_names() -> None:
    lab = two_hosts(p2p("gre"))
    lab["tunnels"].append(p2p("ipip", "10.0.2.1/24", "10.0.2.2/24") | {"name": "gre1"})
    assert "already the name of tunnels[0]" in only(issues(lab), "tunnels[1].name").message


def test_one_host_cannot_have_the_same_or_overlapping_subnet_on_two_tunnels() -> None:
    lab = two_hosts(p2p("gre"))
    lab["tunnels"].append(p2p("ipip", "10.0.1.5/24", "10.0.1.6/24"))
    assert "already has 10.0.1.0/24 on tunnels[0]" in only(issues(lab), "tunnels[1].endpoints.boxA").message
    lab["tunnels"][1]["endpoints"] = {"boxA": "10.0.0.5/16", "boxB": "10.0.0.6/16"}
    message = only(issues(lab), "tunnels[1].endpoints.boxA").message
    assert "overlapping subnet 10.0.1.0/24" in message


def test_isolation_two_vnis_may_share_a_subnet_on_different_hosts() -> None:
    lab = copy.deepcopy(BASE)
    lab["hosts"]["boxD"] = {"ip": "192.168.50.7"}
    t0(lab)["endpoints"] = {"boxA": "192.168.70.1/24", "boxB": "192.168.70.2/24"}
    other = copy.deepcopy(t0(lab)) | {"name": "vxlan200", "vni": 200}
    other["endpoints"] = {"boxC": "192.168.70.3/24", "boxD": "192.168.70.4/24"}
    lab["tunnels"].append(other)
    validate_lab(lab, "x")


# --- names: safe for shells, Ruby and 15-character interface names -----------------------------

BAD_NAMES = ["boxA; rm -rf /", 'a"b', "#{`id`}", "`id`", "box\nA", "box A", "bоxA",  # Cyrillic о
             "a" * 33, "-boxA", "boxA-", "$(id)", "box'A", "1box", "", "boxA\u200b"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_host_names_are_refused_as_keys(name: str) -> None:
    lab = copy.deepcopy(BASE)
    lab["hosts"][name] = lab["hosts"].pop("boxC")
    message = only(issues(lab), f"hosts.{name}").message
    assert message.startswith("the key ")
    assert "letters, digits and inner '-'" in message


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_endpoint_names_are_refused_as_keys(name: str) -> None:
    lab = mutate(lambda d: t0(d)["endpoints"].__setitem__(name, t0(d)["endpoints"].pop("boxC")))
    assert only(issues(lab), f"tunnels[0].endpoints.{name}").message.startswith("the key ")


@pytest.mark.parametrize("name", ["all", "localhost", "ungrouped"])
def test_reserved_host_names(name: str) -> None:
    lab = copy.deepcopy(BASE)
    lab["hosts"][name] = lab["hosts"].pop("boxC")
    assert "reserved" in only(issues(lab), f"hosts.{name}").message


@pytest.mark.parametrize(("where", "value"), [
    ("tunnel", "vxlan01234567890"),  # 16 characters: Linux allows at most 15
    ("tunnel", "vx;reboot"), ("tunnel", "vx lan"), ("tunnel", "vx/0"), ("tunnel", "vxlаn"),
    ("tunnel", "0vx"), ("tunnel", "$(id)"),
    ("interface", "enp0s8$(id)"), ("interface", "eth0\n"), ("interface", "enp0s8enp0s8enp0"),
    ("segment", 'my"Net'), ("segment", "my Net"), ("segment", "#{system('id')}"),
    ("box", 'ubuntu/jammy64"; system("id")'), ("box", "ubuntu/jammy64\n"), ("box", "a/b/c"),
    ("lab", "Lab10"), ("lab", "lab; rm -rf /"), ("lab", "a234567890abcdefg"), ("lab", "lab_10"),
])
def test_unsafe_names_are_refused(where: str, value: str) -> None:
    target, key, path = {
        "tunnel": (lambda d: t0(d), "name", "tunnels[0].name"),
        "interface": (lambda d: d["underlay"], "interface", "underlay.interface"),
        "segment": (lambda d: d["underlay"], "name", "underlay.name"),
        "box": (lambda d: d, "box", "box"),
        "lab": (lambda d: d, "name", "name"),
    }[where]
    lab = mutate(lambda d: target(d).__setitem__(key, value))
    assert "is not allowed here: use" in only(issues(lab), path).message


def test_longest_names_are_allowed() -> None:
    lab = mutate(lambda d: (d.__setitem__("name", "a234567890abcdef"),
                            t0(d).__setitem__("name", "vxlan01234567890"[:15]),
                            d["underlay"].__setitem__("interface", "enp0s8enp0s8enp")))
    model = validate_lab(lab, "x")
    assert len(model.name) == 16 and len(model.tunnels[0].name) == 15


def test_title_is_one_line() -> None:
    """The title lands in a Ruby comment of the Vagrantfile: a newline would escape it."""
    lab = mutate(lambda d: d.__setitem__("title", "VXLAN\nsystem('touch /tmp/pwned')"))
    assert "one line" in only(issues(lab), "title").message
    lab = mutate(lambda d: d.__setitem__("description", "Line one.\nLine two.\n"))
    validate_lab(lab, "x")


# --- every error at once, with lines -----------------------------------------------------------


def test_several_errors_are_reported_together_with_lines(tmp_path: Path) -> None:
    text = (BASE_TEXT.replace("vni: 100", "vni: 0")
            .replace("boxC: {ip: 192.168.50.6}", "boxC: {ip: 10.0.0.6}")
            .replace("  interface: enp0s8", "  interface: enp0s8\n  mtuu: 1500")
            .replace("      boxC: 192.168.60.6/24", "      boxC: 192.168.60.6/24\n      boxD: 192.168.60.7/24")
            .replace("group: 239.255.0.1", "group: 10.1.1.1"))
    found = file_issues(tmp_path, text)
    got = {(i.path, i.line) for i in found}
    assert got >= {
        ("underlay.mtuu", 7),
        ("hosts.boxC.ip", 11),
        ("tunnels[0].vni", 15),
    }
    assert "did you mean 'mtu'" in only(found, "underlay.mtuu").message
    # Found by the model (vni) and by the rules (host address) at once; the tunnel with the
    # bad vni is left out of the rules rather than reported twice.
    assert "outside underlay.subnet" in only(found, "hosts.boxC.ip").message
    assert [i.line for i in found] == sorted(i.line for i in found if i.line is not None)


def test_rule_errors_in_other_tunnels_come_with_model_errors() -> None:
    lab = two_hosts(p2p("gre", vni=3))           # rule: gre has no vni
    lab["tunnels"].append(p2p("ipip", "10.0.2.1/24", "10.0.2.2/24", ttl=999))  # model: ttl
    lab["hosts"]["boxB"]["ip"] = "192.168.50.4"  # rule: duplicate address
    found = issues(lab)
    assert {i.path for i in found} == {"tunnels[0].vni", "tunnels[1].ttl", "hosts.boxB.ip"}


def test_rule_issues_have_lines(tmp_path: Path) -> None:
    text = BASE_TEXT.replace("boxC: 192.168.60.6/24", "boxD: 192.168.60.6/24")
    issue = only(file_issues(tmp_path, text), "tunnels[0].endpoints.boxD")
    assert issue.line == LINE["ep.boxC"]
    assert issue.format("lab.yml") == f"lab.yml:{LINE['ep.boxC']}: tunnels[0].endpoints.boxD: " + issue.message


def test_bad_host_key_in_file_reads_well(tmp_path: Path) -> None:
    found = file_issues(tmp_path, BASE_TEXT.replace("  boxC: {ip", "  bad name: {ip"))
    issue = only(found, "hosts.bad name")
    assert issue.line == LINE["boxC"]
    assert issue.message.startswith("the key 'bad name' is not allowed here")
    assert "[key]" not in str([i.path for i in found])


# --- what the file holds -----------------------------------------------------------------------


@pytest.mark.parametrize("content", ["", "\n\n  \n", "# only a comment\n", b"\xef\xbb\xbf"])
def test_empty_file(tmp_path: Path, content: str | bytes) -> None:
    (issue,) = file_issues(tmp_path, content)
    assert issue.path == "" and "is empty" in issue.message


@pytest.mark.parametrize(("content", "fragment"), [
    ("- a\n- b\n", "got a list"),
    ("just text\n", "got text (9 characters)"),
    ("42\n", "got the number 42"),
    ("~\n", "got nothing"),
])
def test_document_kinds(tmp_path: Path, content: str, fragment: str) -> None:
    (issue,) = file_issues(tmp_path, content)
    assert fragment in issue.message


def test_binary_file(tmp_path: Path) -> None:
    (issue,) = file_issues(tmp_path, b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)))
    assert "binary" in issue.message


def test_non_utf8_file_names_the_line(tmp_path: Path) -> None:
    (issue,) = file_issues(tmp_path, BASE_TEXT.replace("VXLAN", "VXLAN \xe9").encode("latin-1"))
    assert "not UTF-8" in issue.message and issue.line == 2


@pytest.mark.parametrize(("text", "line"), [
    ("name: [lab10\nunderlay: }\n", 2),
    ("name: lab10\n  underlay: x\n bad: indent\n", 2),
    ("name: 'unterminated\n", 2),
    ("name:\tlab10\n\tunderlay: x\n", 2),
    ("name: lab10\n---\nname: lab11\n", 2),
])
def test_broken_yaml(tmp_path: Path, text: str, line: int) -> None:
    (issue,) = file_issues(tmp_path, text)
    assert issue.path == "" or issue.path.startswith("name")
    assert "YAML" in issue.message or "document" in issue.message
    assert issue.line is not None and issue.line <= line + 1


def test_duplicate_keys_are_all_reported_with_paths_and_lines(tmp_path: Path) -> None:
    boxb = "  boxB: {ip: 192.168.50.5}\n"
    text = (BASE_TEXT.replace(boxb, boxb + "  boxA: {ip: 192.168.50.9}\n")
            .replace("    vni: 100\n", "    vni: 100\n    vni: 200\n")
            + "name: lab11\n")
    found = file_issues(tmp_path, text)
    dup_host = only(found, "hosts.boxA")
    assert dup_host.line == LINE["boxB"] + 1
    assert "duplicate key 'boxA' (first on line 8)" in dup_host.message
    assert only(found, "tunnels[0].vni").line == LINE["vni"] + 2
    last = text.count("\n")
    assert only(found, "name").line == last and "first on line 1" in only(found, "name").message


def test_duplicate_keys_inside_a_flow_mapping(tmp_path: Path) -> None:
    text = BASE_TEXT.replace("boxA: {ip: 192.168.50.4}", "boxA: {ip: 192.168.50.4, ip: 192.168.50.8}")
    issue = only(file_issues(tmp_path, text), "hosts.boxA.ip")
    assert "duplicate key 'ip'" in issue.message and issue.line == LINE["boxA"]


@pytest.mark.parametrize(("extra", "path", "fragment"), [
    ("100: x\n", "100", "unknown key '100'"),
    ("true: x\n", "true", "unknown key 'true'"),
    ("~: x\n", "null", "unknown key 'null'"),
    ("1.5: x\n", "1.5", "unknown key '1.5'"),
    ("[a, b]: x\n", None, "unknown key"),
])
def test_keys_that_are_not_text(tmp_path: Path, extra: str, path: str | None, fragment: str) -> None:
    found = file_issues(tmp_path, BASE_TEXT + extra)
    assert len(found) == 1
    assert fragment in found[0].message
    if path is not None:
        assert found[0].path == path
    assert found[0].line == BASE_TEXT.count("\n") + 1


def test_number_as_host_name(tmp_path: Path) -> None:
    text = BASE_TEXT.replace("  boxC: {ip", "  100: {ip").replace("      boxC:", "      100:")
    found = file_issues(tmp_path, text)
    assert only(found, "hosts.100").line == LINE["boxC"]
    assert only(found, "tunnels[0].endpoints.100").message.startswith("the key '100'")


def test_yes_is_text_in_yaml_12(tmp_path: Path) -> None:
    issue = only(file_issues(tmp_path, BASE_TEXT + "yes: 1\n"), "yes")
    assert issue.message.startswith("unknown key 'yes'")


def test_yaml_tags_are_refused(tmp_path: Path) -> None:
    text = BASE_TEXT.replace("name: lab10", "name: !!python/object/apply:os.system [id]")
    issue = only(file_issues(tmp_path, text), "name")
    assert "YAML tag" in issue.message and issue.line == 1


def test_standard_tags_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text(BASE_TEXT.replace("vni: 100", "vni: !!int 100").replace("title: VXLAN", "title: !!str VXLAN"))
    assert load_lab(path).tunnels[0].vni == 100


def test_anchors_and_aliases_of_normal_size_work(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text(BASE_TEXT.replace("boxA: {ip: 192.168.50.4}", "boxA: &a {ip: 192.168.50.4}")
                    + "checks: &c [ping]\n")
    assert load_lab(path).hosts["boxA"].ip == "192.168.50.4"


def test_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 12)]
    start = time.monotonic()
    (issue,) = file_issues(tmp_path, "\n".join(lines) + "\nname: *a11\n")
    assert time.monotonic() - start < 5
    assert "aliases" in issue.message and issue.line is not None


def test_alias_bomb_inside_a_mapping_merge(tmp_path: Path) -> None:
    lines = ["x0: &x0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}"]
    lines += [f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 10) + "]" for i in range(1, 9)]
    start = time.monotonic()
    (issue,) = file_issues(tmp_path, "\n".join(lines) + "\n")
    assert time.monotonic() - start < 5 and "aliases" in issue.message


@pytest.mark.parametrize("text", [
    "name: " + "[" * 50_000 + "]" * 50_000 + "\n",
    "name: " + "{a: " * 5_000 + "}" * 5_000 + "\n",
    "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "v: 1\n",
])
def test_deep_nesting_is_refused_quickly(tmp_path: Path, text: str) -> None:
    start = time.monotonic()
    (issue,) = file_issues(tmp_path, text)
    assert time.monotonic() - start < 10
    assert "nested more than" in issue.message


def test_huge_file_is_refused(tmp_path: Path) -> None:
    text = BASE_TEXT + "description: |\n" + ("  " + "x" * 100 + "\n") * 11_000
    (issue,) = file_issues(tmp_path, text)
    assert "at most 1 MB" in issue.message


def test_many_values_below_the_size_limit(tmp_path: Path) -> None:
    text = BASE_TEXT + "checks: [" + ", ".join(["ping"] * 60_000) + "]\n"
    start = time.monotonic()
    (issue,) = file_issues(tmp_path, text)
    assert time.monotonic() - start < 10 and "expands to more than" in issue.message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(LabError) as info:
        load_lab(tmp_path / "nope.yml")
    assert info.value.issues[0].message == "no such file"
    with pytest.raises(LabError) as info:
        load_lab(tmp_path)
    assert "directory" in info.value.issues[0].message


def test_error_text_format(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text(BASE_TEXT.replace("vni: 100", "vni: 0"))
    with pytest.raises(LabError) as info:
        load_lab(path)
    assert info.value.exit_code == 2
    assert info.value.message.splitlines() == [
        f"{path}: 1 error",
        f"  {path}:{LINE['vni']}: tunnels[0].vni: 0: input should be greater than or equal to 1",
    ]
