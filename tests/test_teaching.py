"""What a course relies on (DESIGN.md, "Teaching interface"): exercise mode, student instances, the
class view. Real namespaces; needs root."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from netlab.state import LabState

from .conftest import needs_root, netlab_namespaces

pytestmark = [needs_root, pytest.mark.root]
NETLAB = [sys.executable, "-m", "netlab"]

# The seed's own commands for lab10 (DESIGN.md), as a student types them on each box.
SEED_LAB10 = {
    host: [
        "ip link add vxlan0 type vxlan id 100 group 239.255.0.1 ttl 5 dstport 4789 dev enp0s8",
        f"ip addr add 192.168.60.{last}/24 dev vxlan0",
        "ip link set vxlan0 up",
    ]
    for host, last in (("boxA", 4), ("boxB", 5), ("boxC", 6))
}


def netlab(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*NETLAB, *args], capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


def test_the_exercise_no_overlay_then_hand_typed_commands_then_verify() -> None:
    try:
        assert netlab("up", "lab10", "--no-overlay").returncode == 0
        links = netlab("exec", "lab10", "boxA", "--", "ip", "-br", "link").stdout
        assert "enp0s8" in links and "vxlan0" not in links, "no tunnel before the students build it"
        graded = netlab("verify", "lab10")
        assert graded.returncode == 1 and "FAIL params[boxA vxlan0] on boxA" in graded.stdout
        for host, commands in SEED_LAB10.items():
            for command in commands:
                assert netlab("exec", "lab10", host, "--", *command.split()).returncode == 0
        graded = netlab("verify", "lab10")
        assert graded.returncode == 0, graded.stdout
        assert "all checks pass" in graded.stdout
        # A second `up --no-overlay` leaves what the students built alone.
        again = netlab("up", "lab10", "--no-overlay")
        assert "nothing changed" in again.stdout, again.stdout
        assert netlab("verify", "lab10").returncode == 0
    finally:
        netlab("down", "lab10")
    assert netlab_namespaces("lab10") == []


def test_student_instances_run_side_by_side_and_ls_lists_them() -> None:
    students = ("alice", "bob")
    try:
        for student in students:
            proc = netlab("up", "lab10", "--name", student)
            assert proc.returncode == 0, proc.stderr
            assert f"netlab verify {student}" in proc.stdout
        for student in students:
            assert len(netlab_namespaces(student)) == 4
            assert netlab("verify", student).returncode == 0
        # Every host has its own hostname: a shell on boxA says boxA.
        assert netlab("exec", "alice", "boxA", "--", "hostname").stdout.strip() == "boxA"
        assert netlab("exec", "bob", "boxC", "--", "hostname").stdout.strip() == "boxC"
        # Break alice's lab only: bob's still passes.
        assert netlab("exec", "alice", "boxB", "--", "ip", "link", "del", "vxlan0").returncode == 0
        assert netlab("verify", "alice").returncode == 1
        assert netlab("verify", "bob").returncode == 0
        rows = {row["name"]: row for row in json.loads(netlab("ls", "--json").stdout)}
        for student in students:
            assert rows[student]["lab_file"].endswith("labs/lab10.yml")
            assert rows[student]["provider"] == "netns" and rows[student]["phase"] == "up"
            assert rows[student]["hosts"] == 3 and rows[student]["since"]
        assert "alice" in netlab("ls").stdout
    finally:
        for student in students:
            netlab("down", student)
    assert netlab_namespaces("alice") == [] and netlab_namespaces("bob") == []
    assert not LabState("alice").exists


def test_a_bad_instance_name_is_refused_before_anything_is_made() -> None:
    proc = netlab("up", "lab10", "--name", "Bad Name;")
    assert proc.returncode != 0 and "--name 'Bad Name;' is not a lab name" in proc.stderr
    assert netlab_namespaces() == [] or not any("Bad" in n for n in netlab_namespaces())


LAB10_FAULTS = ["wrong-vni", "wrong-port", "low-ttl", "wrong-group", "device-down", "mtu", "wrong-address",
                "device-missing"]


def test_every_fault_breaks_lab10_and_reset_brings_it_back() -> None:
    listed = netlab("up", "lab10")
    assert listed.returncode == 0, listed.stderr
    try:
        names = netlab("break", "lab10", "--list").stdout
        for fault in LAB10_FAULTS:
            assert fault in names
        assert "one-sided-key" not in names, "lab10 has no GRE: the key fault does not apply"
        for fault in LAB10_FAULTS:
            applied = netlab("break", "lab10", fault, "--host", "boxB")
            assert applied.returncode == 0 and f"applied {fault} to boxB vxlan0" in applied.stdout, applied.stderr
            assert fault in netlab("break", "lab10", "--reveal").stdout
            broken = netlab("verify", "lab10")
            assert broken.returncode == 1, f"{fault} went unnoticed:\n{broken.stdout}"
            assert netlab("reset", "lab10").returncode == 0
            fixed = netlab("verify", "lab10")
            assert fixed.returncode == 0, f"after reset of {fault}:\n{fixed.stdout}"
            assert "has no fault" in netlab("break", "lab10", "--reveal").stdout
        # Without a name: a fault at random, not named until --reveal.
        secret = netlab("break", "lab10")
        assert secret.returncode == 0 and not any(f in secret.stdout for f in LAB10_FAULTS)
        assert any(f in netlab("break", "lab10", "--reveal").stdout for f in LAB10_FAULTS)
        # reset also removes what a student added: an extra bridge, a stray address.
        netlab("exec", "lab10", "boxA", "--", "ip", "link", "add", "br-extra", "type", "bridge")
        netlab("exec", "lab10", "boxA", "--", "ip", "addr", "add", "10.99.0.1/24", "dev", "vxlan0")
        assert netlab("reset", "lab10").returncode == 0
        links = netlab("exec", "lab10", "boxA", "--", "ip", "-br", "addr").stdout
        assert "br-extra" not in links and "10.99.0.1" not in links
        assert netlab("verify", "lab10").returncode == 0
    finally:
        netlab("down", "lab10")


def test_break_refuses_what_does_not_apply() -> None:
    try:
        assert netlab("up", "lab10").returncode == 0
        proc = netlab("break", "lab10", "one-sided-key")
        assert proc.returncode == 1 and "does not apply to lab lab10" in proc.stderr
        proc = netlab("break", "lab10", "no-such-fault")
        assert proc.returncode == 1 and "no fault named 'no-such-fault'" in proc.stderr
        proc = netlab("break", "lab10", "--host", "boxZ")
        assert proc.returncode == 1 and "has no host 'boxZ'" in proc.stderr
    finally:
        netlab("down", "lab10")


def test_capture_for_class_pcap_to_stdout_own_traffic_no_ipv6_noise() -> None:
    try:
        assert netlab("up", "lab10").returncode == 0
        # A pcap on standard output (for `| wireshark -k -i -`), with traffic of its own.
        pcap = subprocess.run([*NETLAB, "capture", "lab10", "--ping", "boxA", "boxC", "-c", "4", "-w", "-"],
                              capture_output=True, timeout=60)
        assert pcap.returncode == 0, pcap.stderr
        assert pcap.stdout[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4"), "a pcap file header"
        assert b"wrote" not in pcap.stdout
        # Printed: the VXLAN packets of the ping, outer and inner headers, and no IPv6.
        text = netlab("capture", "lab10", "--ping", "boxA", "boxC", "-c", "6")
        assert text.returncode == 0, text.stderr
        assert "VXLAN" in text.stdout and "vni 100" in text.stdout and "192.168.60.6" in text.stdout
        assert "IP6" not in text.stdout and "ICMP6" not in text.stdout
    finally:
        netlab("down", "lab10")


def test_grade_three_student_instances_into_a_csv(tmp_path) -> None:
    import csv

    students = ("ann", "ben", "cid")
    try:
        for student in students:
            assert netlab("up", "lab10", "--name", student).returncode == 0
        assert netlab("break", "ben", "wrong-vni", "--host", "boxB").returncode == 0
        assert netlab("exec", "cid", "boxC", "--", "ip", "link", "del", "vxlan0").returncode == 0
        sheet = tmp_path / "grades.csv"
        graded = netlab("grade", *students, "nobody", "--csv", str(sheet))
        assert graded.returncode == 1  # not everyone passed
        rows = {row["lab"]: row for row in csv.DictReader(sheet.open())}
        assert list(rows) == [*students, "nobody"]
        assert rows["ann"]["failed"] == "0" and rows["ann"]["points"] == rows["ann"]["max_points"] == "7"
        assert int(rows["ben"]["failed"]) > 0 and float(rows["ben"]["points"]) < 7
        assert "boxB" in rows["ben"]["first_cause"]
        assert int(rows["cid"]["failed"]) > 0 and "boxC" in rows["cid"]["first_cause"]
        assert rows["nobody"]["status"] == "missing" and rows["nobody"]["max_points"] == ""
        assert "not" in rows["nobody"]["first_cause"]
        as_json = json.loads(netlab("grade", "ann", "--json").stdout)
        assert as_json == [{**{k: rows["ann"][k] for k in ("lab", "status", "first_cause", "definition")},
                            "passed": int(rows["ann"]["passed"]),
                            "failed": 0, "points": 7, "max_points": 7}]
    finally:
        for student in students:
            netlab("down", student)
