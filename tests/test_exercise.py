"""Exercise mode and faults (issue 25, items 1 and 2): an exercise lab stays one, faults apply to
what the students built, and --reveal says what is broken now. Real namespaces; needs root."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from netlab.macs import tunnel_mac

from .conftest import needs_root, netlab_namespaces

pytestmark = [needs_root, pytest.mark.root]
NETLAB = [sys.executable, "-m", "netlab"]
RAW = ("Cannot find device", "Command failed", "netlab down", "Traceback")


def netlab(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*NETLAB, *args], capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


def ok(*args: str) -> str:
    proc = netlab(*args)
    assert proc.returncode == 0, f"netlab {' '.join(args)}:\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def device(lab: str, host: str, name: str = "vxlan0") -> dict[str, Any] | None:
    """`ip -d -j addr show NAME` on a host of the lab (None: no such device)."""
    proc = netlab("exec", lab, host, "--", "ip", "-d", "-j", "addr", "show", "dev", name)
    return json.loads(proc.stdout)[0] if proc.returncode == 0 and proc.stdout.strip() else None


def student_builds(lab: str, host: str, last: int, *params: str) -> None:
    """A student's own vxlan0 (the kernel's random MAC), typed by hand."""
    for command in (["ip", "link", "add", "vxlan0", "type", "vxlan", *params, "dev", "enp0s8"],
                    ["ip", "addr", "add", f"192.168.60.{last}/24", "dev", "vxlan0"],
                    ["ip", "link", "set", "vxlan0", "up"]):
        ok("exec", lab, host, "--", *command)


def without(link: dict[str, Any], *keys: str) -> dict[str, Any]:
    """What a device is (type, parameters, MAC, MTU, state, addresses), but `keys` of its
    parameters; not what changes when it is made again (its index, statistics)."""
    data = {k: v for k, v in link["linkinfo"]["info_data"].items() if k not in keys}
    addresses = sorted(f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"] if a.get("scope") == "global")
    return {"kind": link["linkinfo"]["info_kind"], "data": data, "mac": link["address"], "mtu": link["mtu"],
            "up": "UP" in link["flags"], "addresses": addresses, "addrgenmode": link.get("inet6_addr_gen_mode")}


def mode(lab: str) -> tuple[str, str]:
    """The state `ls --json` and `status --json` say the lab is in."""
    rows = {row["name"]: row for row in json.loads(ok("ls", "--json"))}
    return rows[lab]["mode"], json.loads(ok("status", lab, "--json"))["mode"]


def test_an_exercise_lab_stays_one_reset_and_up_no_overlay_remove_only_netlabs_tunnels() -> None:
    """Item 1: `reset` never builds the tunnels; `up --no-overlay` after a full `up` removes
    netlab's devices (its MAC) and keeps a student's vxlan0 (another MAC)."""
    lab = "ex25a"
    try:
        ok("up", "lab10", "--name", lab)
        # boxC's student replaced netlab's device with their own (the kernel's MAC).
        ok("exec", lab, "boxC", "--", "ip", "link", "del", "vxlan0")
        student_builds(lab, "boxC", 6, "id", "100", "group", "239.255.0.1", "ttl", "5", "dstport", "4789")
        theirs = device(lab, "boxC")
        assert theirs is not None and theirs["address"] != tunnel_mac("boxC", "vxlan0")

        again = ok("up", "lab10", "--name", lab, "--no-overlay")
        assert "nothing changed" not in again
        assert device(lab, "boxA") is None and device(lab, "boxB") is None, "netlab's tunnels are gone"
        kept = device(lab, "boxC")
        assert kept is not None and kept["ifindex"] == theirs["ifindex"], "the student's device stays untouched"
        assert netlab("verify", lab).returncode == 1

        # A device with netlab's MAC (the old `reset` built them) is netlab's: reset removes it,
        # and builds nothing.
        ok("exec", lab, "boxA", "--", "ip", "link", "add", "vxlan0", "type", "vxlan", "id", "100", "group",
           "239.255.0.1", "ttl", "5", "dstport", "4789", "dev", "enp0s8")
        ok("exec", lab, "boxA", "--", "ip", "link", "set", "vxlan0", "address", tunnel_mac("boxA", "vxlan0"))
        reset = netlab("reset", lab)
        assert reset.returncode == 0 and "created" not in reset.stdout + reset.stderr, reset.stderr
        assert "exercise state" in reset.stdout
        assert device(lab, "boxA") is None and device(lab, "boxB") is None, "reset built netlab's tunnels"
        kept = device(lab, "boxC")
        assert kept is not None and kept["ifindex"] == theirs["ifindex"]
        graded = netlab("verify", lab)
        assert graded.returncode == 1 and "FAIL params[boxA vxlan0]" in graded.stdout, "reset gave the answer away"
        # An exercise lab's underlay is still its lab file's: reset puts a broken one back.
        ok("exec", lab, "boxB", "--", "ip", "link", "set", "enp0s8", "mtu", "1400")
        ok("reset", lab)
        underlay = device(lab, "boxB", "enp0s8")
        assert underlay is not None and underlay["mtu"] == 1500 and device(lab, "boxB") is None
        # ls and status say which state the lab is in.
        assert mode(lab) == ("exercise", "exercise")
        assert "exercise" in ok("ls") and "exercise" in ok("status", lab).splitlines()[0]
        ok("up", "lab10", "--name", lab)
        assert mode(lab) == ("full overlay", "full overlay")
        assert "full overlay" in ok("status", lab).splitlines()[0]
    finally:
        netlab("down", lab)
    assert netlab_namespaces(lab) == []


def test_break_on_an_exercise_lab_applies_to_what_the_students_built() -> None:
    """Item 2: nothing to break before the students build; then faults change the student's own
    device (its real parameters), a second fault replaces the first, --reveal checks the lab, and
    reset puts the student's device back as it was."""
    lab = "ex25b"
    try:
        ok("up", "lab10", "--no-overlay", "--name", lab)
        listed = ok("break", lab, "--list")
        assert "nothing to break yet" in listed and "wrong-vni" not in listed
        for args in ((), ("wrong-vni",), ("device-down", "--host", "boxB")):
            refused = netlab("break", lab, *args)
            assert refused.returncode != 0 and "nothing to break yet" in refused.stderr, refused.stderr
            assert not any(raw in refused.stdout + refused.stderr for raw in RAW), refused.stderr
        assert "has no fault" in ok("break", lab, "--reveal")

        # boxA's student built vxlan0 with their own port (4790, not the lab's 4789).
        student_builds(lab, "boxA", 4, "id", "100", "group", "239.255.0.1", "ttl", "5", "dstport", "4790")
        theirs = device(lab, "boxA")
        assert theirs is not None
        listed = ok("break", lab, "--list")
        assert "boxA vxlan0" in listed and "boxB" not in listed and "boxC" not in listed
        assert "one-sided-key" not in listed
        elsewhere = netlab("break", lab, "wrong-port", "--host", "boxB")
        assert elsewhere.returncode != 0 and "nothing to break yet on boxB" in elsewhere.stderr
        assert not any(raw in elsewhere.stdout + elsewhere.stderr for raw in RAW), elsewhere.stderr

        assert "applied wrong-port to boxA vxlan0" in ok("break", lab, "wrong-port", "--host", "boxA")
        broken = device(lab, "boxA")
        assert broken is not None and broken["linkinfo"]["info_data"]["port"] == 4791, "the student's port + 1"
        assert without(broken, "port") == without(theirs, "port"), "the rest is the student's, not the lab's"
        assert [a["local"] for a in broken["addr_info"] if a.get("scope") == "global"] == ["192.168.60.4"]
        assert device(lab, "boxB") is None, "break built nothing"

        # A second fault on the same tunnel replaces the first, on the host and in the record.
        ok("break", lab, "low-ttl", "--host", "boxA")
        data = device(lab, "boxA")["linkinfo"]["info_data"]  # type: ignore[index]
        assert (data["port"], data["ttl"]) == (4790, 1)
        revealed = ok("break", lab, "--reveal")
        assert "low-ttl on boxA vxlan0" in revealed and "wrong-port" not in revealed
        # The student fixes it: no longer listed.
        ok("exec", lab, "boxA", "--", "ip", "link", "set", "vxlan0", "type", "vxlan", "ttl", "5")
        assert "has no fault" in ok("break", lab, "--reveal")

        # reset undoes a fault on the student's device, and builds nothing of netlab's.
        ok("break", lab, "wrong-vni", "--host", "boxA")
        assert "wrong-vni on boxA vxlan0" in ok("break", lab, "--reveal")
        ok("reset", lab)
        back = device(lab, "boxA")
        assert back is not None and without(back) == without(theirs), "the student's device as it was"
        assert back["linkinfo"]["info_data"]["port"] == 4790 and "UP" in back["flags"]
        assert device(lab, "boxB") is None and device(lab, "boxC") is None
        assert "has no fault" in ok("break", lab, "--reveal")
    finally:
        netlab("down", lab)
    assert netlab_namespaces(lab) == []


def test_reveal_lists_what_is_broken_now_on_a_full_lab() -> None:
    """Item 2: two faults on one tunnel are one fault; a fault the student fixed, or that `up`
    converged away, is not listed."""
    lab = "ex25c"
    try:
        ok("up", "lab10", "--name", lab)
        ok("break", lab, "wrong-vni", "--host", "boxB")
        ok("break", lab, "wrong-port", "--host", "boxB")
        data = device(lab, "boxB")["linkinfo"]["info_data"]  # type: ignore[index]
        assert (data["id"], data["port"]) == (100, 4790), "the second fault replaced the first"
        ok("break", lab, "device-down", "--host", "boxA")
        revealed = ok("break", lab, "--reveal").splitlines()
        assert sorted(line.split(":")[0] for line in revealed) == ["device-down on boxA vxlan0",
                                                                   "wrong-port on boxB vxlan0"]
        ok("exec", lab, "boxA", "--", "ip", "link", "set", "vxlan0", "up")  # the student's fix
        revealed = ok("break", lab, "--reveal")
        assert "wrong-port on boxB vxlan0" in revealed and "device-down" not in revealed
        ok("up", "lab10", "--name", lab)  # converges: the fault is gone
        assert "has no fault" in ok("break", lab, "--reveal")
        assert netlab("verify", lab).returncode == 0
    finally:
        netlab("down", lab)
    assert netlab_namespaces(lab) == []
