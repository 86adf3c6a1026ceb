"""The vlan tunnel type (issue 19 item 4): an 802.1Q VLAN on the underlay NIC, the seed's lab8.

This machine's kernel has no 8021q: the model, the rendered commands, the params comparison, the
wire check's filter and judgement, and the netns provider's refusal are tested here; the lab
itself runs on QEMU (tests/test_qemu_catalog.py boots lab8 because netns cannot run it).
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from netlab import catalog
from netlab.capture import default_filter
from netlab.configure.device import build, from_lab, from_link
from netlab.configure.ipbatch import tunnel_commands
from netlab.errors import LabError, LabIssue
from netlab.faults import FAULTS
from netlab.images.build import FILES
from netlab.model import validate_lab
from netlab.providers.netns import kernel_tunnel_types
from netlab.render.hostvars import host_vars
from netlab.tunnels import TUNNEL_TYPES
from netlab.verify.checks import CHECKS
from netlab.verify.checks.params import compare
from netlab.verify.checks.wire import capture_key, expectations, flow_of, judge_capture

from .conftest import needs_root, netlab_namespaces, netns_cannot_run

NETLAB = [sys.executable, "-m", "netlab"]

SEED = """\
name: vlanseed
underlay: {name: myNetwork, subnet: 192.168.50.0/24, interface: enp0s8}
hosts:
  boxA: {ip: 192.168.50.4}
  boxB: {ip: 192.168.50.5}
tunnels:
  - name: enp0s8.100
    type: vlan
    vlan: 100
    endpoints: {boxA: 192.168.60.4/24, boxB: 192.168.60.5/24}
"""

BASE: dict[str, Any] = {
    "name": "vlanseed",
    "underlay": {"name": "myNetwork", "subnet": "192.168.50.0/24", "interface": "enp0s8"},
    "hosts": {"boxA": {"ip": "192.168.50.4"}, "boxB": {"ip": "192.168.50.5"}, "boxC": {"ip": "192.168.50.6"}},
    "tunnels": [{"name": "enp0s8.100", "type": "vlan", "vlan": 100,
                 "endpoints": {"boxA": "192.168.60.4/24", "boxB": "192.168.60.5/24"}}],
}

# `ip -d -j addr show` of enp0s8.200 on boxB of lab8, recorded from the VMs of
# `tests/test_qemu_catalog.py -k lab8` on 2026-12-03 (iproute2 6.1, Debian's 6.1 kernel): the lower
# device as "link" beside info_data, the tag's protocol and id in it. (Its missing IPv6 link-local
# address was networkd's doing on that run; see netlab/images/build.py.)
VLAN_LINK: dict[str, Any] = json.loads(
    '{"ifindex":5,"link":"enp0s8","ifname":"enp0s8.200","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],'
    '"mtu":1496,"qdisc":"noqueue","operstate":"UP","group":"default","txqlen":1000,"link_type":"ether",'
    '"address":"52:54:0c:26:a3:88","broadcast":"ff:ff:ff:ff:ff:ff","promiscuity":0,"allmulti":0,"min_mtu":0,'
    '"max_mtu":65535,"linkinfo":{"info_kind":"vlan","info_data":{"protocol":"802.1Q","id":200,'
    '"flags":["REORDER_HDR"]}},"num_tx_queues":1,"num_rx_queues":1,"gso_max_size":65536,"gso_max_segs":65535,'
    '"tso_max_size":65536,"tso_max_segs":65535,"gro_max_size":65536,"addr_info":[{"family":"inet",'
    '"local":"192.168.70.5","prefixlen":24,"scope":"global","label":"enp0s8.200",'
    '"valid_life_time":4294967295,"preferred_life_time":4294967295}]}')

# Recorded here with tcpdump 4.99.3 -n -e -l on both ends of a veth pair, while a raw socket sent
# lab8's frames tagged with VLAN 100 (boxA's ping to boxB and its ARP request for it): the frames
# look the same whether the tag is in the frame (sent) or kept beside it by the kernel (received).
TCPDUMP_E = """\
17:13:03.963965 02:aa:bb:cc:dd:04 > 02:aa:bb:cc:dd:05, ethertype 802.1Q (0x8100), length 102: vlan 100, p 0, \
ethertype IPv4 (0x0800), 192.168.60.4 > 192.168.60.5: ICMP echo request, id 1, seq 1, length 64
17:13:03.964322 02:aa:bb:cc:dd:04 > ff:ff:ff:ff:ff:ff, ethertype 802.1Q (0x8100), length 46: vlan 100, p 0, \
ethertype ARP (0x0806), Request who-has 192.168.60.5 tell 192.168.60.4, length 28
"""


def issues(data: dict[str, Any]) -> list[LabIssue]:
    with pytest.raises(LabError) as info:
        validate_lab(data, "lab.yml")
    return info.value.issues


def only(found: list[LabIssue], path: str) -> str:
    at = [i for i in found if i.path == path]
    assert len(at) == 1, f"expected one issue at {path!r}, got: {found}"
    return at[0].message


def changed(**fields: Any) -> dict[str, Any]:
    lab = copy.deepcopy(BASE)
    lab["tunnels"][0].update(fields)
    return lab


# -- the lab file --------------------------------------------------------------------------------
def test_the_seeds_vlan_is_valid(tmp_path: Path) -> None:
    lab = validate_lab(copy.deepcopy(BASE), "x")
    t = lab.tunnels[0]
    assert (t.type, t.vlan, t.name, t.overhead, t.effective_mtu(1500)) == ("vlan", 100, "enp0s8.100", 4, 1496)


def test_a_vlan_has_any_number_of_endpoints_and_no_mode() -> None:
    three = changed(endpoints={"boxA": "192.168.60.4/24", "boxB": "192.168.60.5/24", "boxC": "192.168.60.6/24"})
    assert len(validate_lab(three, "x").tunnels[0].endpoints) == 3
    assert "at least two endpoints" in only(issues(changed(endpoints={"boxA": "192.168.60.4/24"})),
                                            "tunnels[0].endpoints")
    assert "vlan takes no mode" in only(issues(changed(mode="p2p")), "tunnels[0].mode")


@pytest.mark.parametrize(("fields", "path", "fragment"), [
    ({"vlan": None}, "tunnels[0].vlan", "vlan needs a VLAN id (1..4094)"),
    ({"vlan": 0}, "tunnels[0].vlan", "greater than or equal to 1"),
    ({"vlan": 4095}, "tunnels[0].vlan", "less than or equal to 4094"),
    ({"vlan": "100"}, "tunnels[0].vlan", "must be a whole number"),
    ({"vni": 100}, "tunnels[0].vni", "vlan has no vni"),
    ({"key": 1}, "tunnels[0].key", "vlan has no key"),
    ({"dstport": 4789}, "tunnels[0].dstport", "vlan does not use UDP"),
    ({"group": "239.1.1.1"}, "tunnels[0].group", "vlan has no multicast group"),
    ({"ttl": 5}, "tunnels[0].ttl", "vlan adds no IP header, so no TTL"),
    ({"mtu": 1497}, "tunnels[0].mtu", "underlay MTU 1500 minus 4 bytes of vlan encapsulation leaves at most 1496"),
])
def test_vlan_rules(fields: dict[str, Any], path: str, fragment: str) -> None:
    assert fragment in only(issues(changed(**fields)), path)


def test_vlan_is_refused_on_other_types() -> None:
    lab = copy.deepcopy(BASE)
    lab["tunnels"] = [{"name": "vxlan0", "type": "vxlan", "vni": 7, "vlan": 100,
                       "endpoints": {"boxA": "10.0.1.1/24", "boxB": "10.0.1.2/24"}}]
    assert "vxlan has no VLAN id; only vlan tunnels have one" in only(issues(lab), "tunnels[0].vlan")


def test_one_device_per_vlan_id_on_a_host_but_two_vlans_between_two_hosts() -> None:
    lab = copy.deepcopy(BASE)
    lab["tunnels"].append({"name": "enp0s8.200", "type": "vlan", "vlan": 200,
                           "endpoints": {"boxA": "192.168.70.4/24", "boxB": "192.168.70.5/24"}})
    assert len(validate_lab(lab, "x").tunnels) == 2  # not "the same key" as two GRE tunnels would be
    lab["tunnels"][1]["vlan"] = 100
    assert "boxA already has VLAN 100 on enp0s8 (tunnels[0]): the kernel refuses two" in \
        only(issues(lab), "tunnels[1].vlan")


def test_a_vlan_crosses_no_router() -> None:
    lab = copy.deepcopy(BASE)
    lab["underlay"] = {"segments": {"left": {"subnet": "192.168.50.0/24"}, "right": {"subnet": "192.168.51.0/24"}},
                       "interface": "enp0s8"}
    lab["hosts"]["boxB"] = {"ip": "192.168.51.5"}
    lab["routers"] = {"r1": {"interfaces": {"left": "192.168.50.1", "right": "192.168.51.1"}}}
    assert "a VLAN is one L2 segment and crosses no router: boxA on left, boxB on right" in \
        only(issues(lab), "tunnels[0].endpoints")


def test_lint_names_file_field_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "vlanseed.yml"
    path.write_text(SEED.replace("    vlan: 100\n", "    vlan: 5000\n"))
    proc = subprocess.run([*NETLAB, "lint", str(path)], capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" not in proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert str(path) in out and "tunnels[0].vlan" in out and "4094" in out


# -- lab8 and the rendered commands --------------------------------------------------------------
def test_lab8_is_the_seeds_lab8_in_the_catalog() -> None:
    lab = catalog.load("lab8")
    assert {h: x.ip for h, x in lab.hosts.items()} == \
        {"boxA": "192.168.50.4", "boxB": "192.168.50.5", "boxC": "192.168.50.6"}
    assert [(t.name, t.type, t.vlan, dict(t.endpoints)) for t in lab.tunnels] == [
        ("enp0s8.100", "vlan", 100, {"boxA": "192.168.60.4/24", "boxB": "192.168.60.5/24"}),
        ("enp0s8.200", "vlan", 200, {"boxB": "192.168.70.5/24", "boxC": "192.168.70.6/24"}),
    ]
    listed = json.loads(subprocess.run([*NETLAB, "list", "--json"], capture_output=True, text=True,
                                       check=True).stdout)
    row = next(r for r in listed if r["name"] == "lab8")
    assert row["types"] == ["vlan"]


def test_explain_lab8_prints_the_vlan_commands() -> None:
    proc = subprocess.run([*NETLAB, "explain", "lab8"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = [line.strip() for line in proc.stdout.splitlines()]
    assert lines.count("ip link add link enp0s8 name enp0s8.100 type vlan id 100") == 2  # boxA, boxB
    assert lines.count("ip link add link enp0s8 name enp0s8.200 type vlan id 200") == 2  # boxB, boxC
    # The kernel would give the device its parent's 1500: netlab sets underlay - 4.
    assert lines.count("ip link set enp0s8.100 mtu 1496") == 2
    assert "underlay MTU 1500 - 4 = 1496, tunnel MTU 1496" in proc.stdout
    assert "enp0s8.200 (VLAN: 802.1Q-tagged Ethernet on the underlay NIC, VLAN 200)" in proc.stdout
    assert "802.1Q tag 4" in proc.stdout


def test_graph_labels_the_vlan_id() -> None:
    out = subprocess.run([*NETLAB, "graph", "lab8"], capture_output=True, text=True, check=True).stdout
    assert "enp0s8.100\nvlan · VLAN 100" in out and "enp0s8.200\nvlan · VLAN 200" in out


def test_an_explicit_mtu_is_set_once(tmp_path: Path) -> None:
    path = tmp_path / "vlanseed.yml"
    path.write_text(SEED.replace("    vlan: 100\n", "    vlan: 100\n    mtu: 1400\n"))
    out = subprocess.run([*NETLAB, "explain", str(path)], capture_output=True, text=True, check=True).stdout
    assert out.count("ip link set enp0s8.100 mtu") == 2  # once per host
    assert out.count("ip link set enp0s8.100 mtu 1400") == 2


def test_host_vars_carry_the_vlan_and_no_peers() -> None:
    [t] = host_vars(catalog.load("lab8"), "boxA")["netlab_tunnels"]
    assert (t["vlan"], t["vni"], t["dev"], t["remote"], t["peers"], t["template"]) == \
        (100, None, "enp0s8", None, [], "tunnels/vlan.j2")


# -- params: the device as `ip -d -j` reports it -------------------------------------------------
def test_params_accepts_the_lab_s_vlan_device() -> None:
    lab = catalog.load("lab8")
    assert compare(lab, "boxB", lab.tunnels[1], VLAN_LINK) == []
    assert "id is 200, lab says 100" in compare(lab, "boxB", lab.tunnels[0], VLAN_LINK)


@pytest.mark.parametrize(("change", "text"), [
    (lambda d: d["linkinfo"]["info_data"].__setitem__("id", 201), "id is 201, lab says 200"),
    (lambda d: d["linkinfo"]["info_data"].__setitem__("protocol", "802.1ad"), "protocol is 802.1ad, lab says 802.1Q"),
    (lambda d: d.__setitem__("link", "enp0s9"), "link is enp0s9, lab says enp0s8"),
    (lambda d: d.__setitem__("mtu", 1500), "mtu is 1500, expected 1496"),
    (lambda d: d["linkinfo"].__setitem__("info_kind", "vxlan"), "type is vxlan, lab says vlan"),
    (lambda d: d.__setitem__("addr_info", []), "address is none, lab says 192.168.70.5/24"),  # the first QEMU run
])
def test_params_names_what_differs(change: Any, text: str) -> None:
    lab = catalog.load("lab8")
    link = copy.deepcopy(VLAN_LINK)
    change(link)
    assert text in compare(lab, "boxB", lab.tunnels[1], link)


def test_a_students_vlan_device_is_read_back_as_a_vlan() -> None:
    """break/reset rebuild a device from what the host has: its id is the VLAN's, not a VNI, and
    the rebuilt device is the lab's."""
    lab = catalog.load("lab8")
    device = from_link(lab, "boxB", VLAN_LINK, 1500)
    assert (device.vars["vlan"], device.vars["vni"], device.vars["dev"]) == (200, None, "enp0s8")
    assert sorted(build(lab, "boxB", device, replace=False)) == \
        sorted(tunnel_commands(lab, "boxB", lab.tunnels[1]))


def test_faults_that_need_an_outer_ip_header_do_not_apply() -> None:
    device = from_lab(catalog.load("lab8"), "boxA", "enp0s8.100")
    applies = {name for name, fault in FAULTS.items() if fault.applies(device)}
    assert "low-ttl" not in applies and "wrong-vni" not in applies and "wrong-port" not in applies
    assert {"device-down", "mtu", "wrong-address", "device-missing"} <= applies


# -- the checks ----------------------------------------------------------------------------------
def test_which_checks_apply_to_lab8() -> None:
    lab = catalog.load("lab8")
    counts = {name: len(check.cases(lab)) for name, check in CHECKS.items()}
    # A VLAN learns MACs in the NIC's bridge-less path, not in an fdb of its own; no UDP socket,
    # no multicast group: fdb, socket and maddr have nothing to look at.
    assert counts == {"route": 0, "ping": 4, "params": 4, "maddr": 0, "fdb": 0, "socket": 0, "mtu": 4,
                      "wire": 4, "isolation": 0, "tenant": 0, "bridge": 0}


def test_wire_expects_the_tag_and_judges_a_recorded_capture() -> None:
    lab = catalog.load("lab8")
    t100, t200 = lab.tunnels
    options, bpf, expect, inner = expectations(lab, "boxA", "boxB", t100)
    assert options == ["-e"]
    assert bpf == "vlan 100 and src host 192.168.60.4 and dst host 192.168.60.5"
    assert (expect, inner) == (["802.1Q", "vlan 100,"], "192.168.60.5")
    passed, summary = judge_capture(TCPDUMP_E, expect, inner, "vlan", "boxA", flow_of(lab, "boxA", "boxB", t100))
    assert passed and "vlan 100, p 0" in summary
    # VLAN 200's expectations do not take VLAN 100's frames.
    _, _, expect200, inner200 = expectations(lab, "boxB", "boxC", t200)
    assert not judge_capture(TCPDUMP_E, expect200, inner200, "vlan", "boxB")[0]


def test_each_vlan_of_a_host_is_captured_alone() -> None:
    """libpcap's `vlan` keyword shifts every later offset: `(vlan 100 and ..) or (vlan 200 and ..)`
    would look for VLAN 200 inside VLAN 100. boxB is on both VLANs of lab8."""
    lab = catalog.load("lab8")
    t100, t200 = lab.tunnels
    keys = {capture_key("boxB", expectations(lab, "boxB", peer, t)[0], t)
            for peer, t in (("boxA", t100), ("boxC", t200))}
    assert len(keys) == 2


@needs_root
@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump")
@pytest.mark.parametrize("end", ["va", "vb"])
def test_the_wire_filter_catches_tagged_frames(end: str) -> None:
    """The check's own filter and judgement on frames a raw socket sends tagged with VLAN 100,
    captured where they leave (va: tag in the frame) and arrive (vb: the kernel keeps the tag
    beside the frame): the kernel needs no 8021q for this."""
    lab = catalog.load("lab8")
    options, bpf, expect, inner = expectations(lab, "boxA", "boxB", lab.tunnels[0])
    # The frames go once tcpdump says it listens (a loaded machine takes seconds to start it).
    script = (f"ip link add va type veth peer name vb && ip link set va up && ip link set vb up && "
              f"d=$(mktemp -d) && {{ timeout 20 tcpdump -n -l --immediate-mode -c 2 {' '.join(options)} "
              f"-i {end} '{bpf}' 2>$d/err & }} && i=0; "
              f"while ! grep -q 'listening on' $d/err && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done; "
              f"{sys.executable} -c \"$SEND\" va; wait; rm -rf $d")
    proc = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SEND": SEND_FRAMES})
    assert proc.returncode == 0, proc.stderr
    passed, summary = judge_capture(proc.stdout, expect, inner, "vlan", "boxA")
    assert passed, proc.stdout + proc.stderr
    assert "vlan 100, p 0" in summary


def test_the_capture_filter_leaves_out_tagged_ipv6_noise_and_compiles() -> None:
    words = default_filter(catalog.load("lab8"))
    assert " ".join(words) == "not ip6 and not (ether[12:2] = 0x8100 and ether[16:2] = 0x86dd)"
    if shutil.which("tcpdump") is None or shutil.which("unshare") is None:
        pytest.skip("needs tcpdump and unshare")
    proc = subprocess.run(["unshare", "-n", "sh", "-c", "ip link add va type veth peer name vb && ip link set va up && "
                           f"tcpdump -d -i va '{' '.join(words)}'"], capture_output=True, text=True)
    if proc.returncode != 0 and "Operation not permitted" in proc.stderr:
        pytest.skip("needs root")
    assert proc.returncode == 0 and "0x86dd" in proc.stdout, proc.stderr


# -- netns: this kernel has no 8021q ------------------------------------------------------------
@needs_root
def test_the_probe_makes_a_veth_first_and_finds_no_vlan_here() -> None:
    commands = TUNNEL_TYPES["vlan"].probe_commands("p9")
    assert commands[0] == "ip link add p9a type veth peer name p9b"
    assert commands[1] == "ip link add link p9a name p9 type vlan id 1"
    # The veth works here, so the refusal is the VLAN's: this kernel has no 8021q.
    assert subprocess.run(["unshare", "-n", "sh", "-c", commands[0]]).returncode == 0
    vlan_here = subprocess.run(["unshare", "-n", "sh", "-c", " && ".join(commands)],
                               capture_output=True).returncode == 0
    assert ("vlan" in kernel_tunnel_types()) == vlan_here
    assert "vxlan" in kernel_tunnel_types()


@needs_root
def test_netns_refuses_lab8_and_creates_nothing() -> None:
    if "vlan" in kernel_tunnel_types():
        pytest.skip("this kernel has 8021q: netns can run lab8")
    assert netns_cannot_run("lab8") is not None  # so test_qemu_catalog boots it
    proc = subprocess.run([*NETLAB, "up", "lab8", "--provider", "netns", "--name", "vlanrefuse"],
                          capture_output=True, text=True, timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in out
    assert "this kernel has no vlan" in out and "--provider qemu" in out
    assert netlab_namespaces("vlanrefuse") == []
    listed = json.loads(subprocess.run([*NETLAB, "ls", "--json"], capture_output=True, text=True).stdout)
    assert "vlanrefuse" not in [row["name"] for row in listed]


# Sends boxA's ping to boxB and its ARP request for it, tagged with VLAN 100, on the device argv[1].
SEND_FRAMES = r"""
import socket, struct, sys, time
def csum(b):
    b += b"\0" * (len(b) % 2)
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
src, dst = bytes.fromhex("02aabbccdd04"), bytes.fromhex("02aabbccdd05")
a, b = socket.inet_aton("192.168.60.4"), socket.inet_aton("192.168.60.5")
icmp = struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"x" * 56
icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 1, 0x4000, 64, 1, 0, a, b)
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
tag = struct.pack("!HH", 0x8100, 100)
arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, src, a, b"\0" * 6, b)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((sys.argv[1], 0))
for frame in (dst + src + tag + b"\x08\x00" + ip + icmp, b"\xff" * 6 + src + tag + b"\x08\x06" + arp):
    s.send(frame); time.sleep(0.05)
"""


def test_the_vm_image_leaves_virtual_devices_to_the_lab() -> None:
    """On the first QEMU run of lab8, networkd's catch-all DHCP file (Name=en* eth*) matched
    enp0s8.100 and took the address netlab gave it: the file now wants a NIC on the PCI bus."""
    text = FILES["etc/systemd/network/90-netlab-dhcp.network"]
    match = text.split("[Match]\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert "Path=pci-*" in match
