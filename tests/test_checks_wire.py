"""The wire check on recorded tcpdump output of every tunnel type, and its capture script: its
stop condition on the same recordings, and the script run with stand-in tcpdump and ping (no
root): it ends as soon as the packet shows, and leaves nothing behind, also when its deadline
stops it. (tests/test_netns.py and the qemu tests run it with the real tools.)"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from netlab.catalog import load_lab, resolve
from netlab.model import Lab
from netlab.verify.checks.wire import (
    Flow,
    expectations,
    flow_of,
    judge_capture,
    mentions,
    needle,
    outer_pattern,
    packets,
    wire_script,
)
from netlab.verify.context import bounded

RECORDED = Path(__file__).parent / "data" / "recorded"
MIX = load_lab(RECORDED / "mix.yml")

# (lab, tunnel, host, peer, recording): captured on host while it pinged the peer.
CAPTURES = [
    (MIX, "vxlan0", "vma", "vmb", "tcpdump-vxlan0.txt"),
    (MIX, "vx8472", "vma", "vmb", "tcpdump-vx8472.txt"),
    (MIX, "gnv1", "vma", "vmc", "tcpdump-gnv1.txt"),
    (MIX, "gnv2", "vmb", "vmc", "tcpdump-gnv2.txt"),
    (MIX, "gre1", "vma", "vmb", "tcpdump-gre1.txt"),
    (MIX, "gtap1", "vmb", "vmc", "tcpdump-gtap1.txt"),
    (MIX, "gtapk", "vma", "vmc", "tcpdump-gtapk.txt"),
    (MIX, "ipip1", "vmb", "vmc", "tcpdump-ipip1.txt"),
    (MIX, "sit1", "vma", "vmc", "tcpdump-sit1.txt"),
    (load_lab(resolve("lab10")), "vxlan0", "boxA", "boxB", "tcpdump-vxlan-netns.txt"),
]


def judge(lab: Lab, name: str, host: str, peer: str, output: str) -> tuple[bool, str]:
    t = next(t for t in lab.tunnels if t.name == name)
    _, _, expect, inner = expectations(lab, host, peer, t)
    return judge_capture(output, expect, inner, t.type, host)


@pytest.mark.parametrize(("lab", "name", "host", "peer", "recording"), CAPTURES, ids=[c[4] for c in CAPTURES])
def test_every_recorded_capture_passes(lab: Lab, name: str, host: str, peer: str, recording: str) -> None:
    passed, summary = judge(lab, name, host, peer, (RECORDED / recording).read_text())
    assert passed, summary
    assert summary.startswith("IP ")  # the first matching packet, without its timestamp


def test_what_the_summaries_show() -> None:
    out = (RECORDED / "tcpdump-vxlan0.txt").read_text()
    assert judge(MIX, "vxlan0", "vma", "vmb", out)[1] == (
        "IP 192.168.50.21.57218 > 192.168.50.22.4789: VXLAN, flags [I] (0x08), vni 100 "
        "IP 192.168.60.21 > 192.168.60.22: ICMP echo request, id 388, seq 1, length 64")
    # gretap's first packet is the ARP for the peer: it counts too.
    out = (RECORDED / "tcpdump-gtapk.txt").read_text()
    assert "GREv0, key=0x9" in judge(MIX, "gtapk", "vma", "vmc", out)[1]
    assert "who-has 10.0.8.2" in judge(MIX, "gtapk", "vma", "vmc", out)[1]


def test_packets_joins_the_inner_line_of_vxlan() -> None:
    seen = packets((RECORDED / "tcpdump-vx8472.txt").read_text())
    assert len(seen) == 6  # tcpdump's own lines ("listening on", counts) are not packets
    assert "vni 150 ARP, Request who-has 10.0.6.2" in seen[0]


def test_geneve_on_its_own_port_must_show_the_inner_packet() -> None:
    _, _, expect, inner = expectations(MIX, "vma", "vmc", next(t for t in MIX.tunnels if t.name == "gnv1"))
    assert expect == ["Geneve", "IP 192.168.50.21.", "vni 0x12c"] and inner == "10.0.4.2"


def test_geneve_on_another_port_is_plain_udp_without_the_inner_packet() -> None:
    _, bpf, expect, inner = expectations(MIX, "vmb", "vmc", next(t for t in MIX.tunnels if t.name == "gnv2"))
    assert "udp dst port 6082" in bpf
    assert inner is None and expect == ["192.168.50.22.", ".6082:"]


def test_vxlan_on_another_port_is_decoded_with_tcpdump_told_so() -> None:
    options, bpf, expect, inner = expectations(MIX, "vma", "vmb", next(t for t in MIX.tunnels if t.name == "vx8472"))
    assert options == ["-T", "vxlan"] and "udp dst port 8472" in bpf
    assert "vni 150" in expect and inner == "10.0.6.2"


def test_a_wrong_vni_fails() -> None:
    # The VNI-100 capture judged as the VNI-150 tunnel between the same hosts.
    passed, summary = judge(MIX, "vx8472", "vma", "vmb", (RECORDED / "tcpdump-vxlan0.txt").read_text())
    assert not passed
    assert summary == "packets seen, but without VXLAN / IP 192.168.50.21. / vni 150 / 10.0.6.2"


def test_a_capture_without_the_key_fails() -> None:
    # gre1's packets carry key 7: as gtapk's (key 9) they lack the expected key.
    passed, summary = judge(MIX, "gtapk", "vma", "vmc", (RECORDED / "tcpdump-gre1.txt").read_text())
    assert not passed and "key=0x9" in summary


def test_a_capture_without_the_marker_fails() -> None:
    # An IPIP capture has no "IP6" inner header: it does not prove a SIT tunnel.
    passed, summary = judge(MIX, "sit1", "vma", "vmc", (RECORDED / "tcpdump-ipip1.txt").read_text())
    assert not passed and summary.startswith("packets seen, but without IP6")


def test_a_capture_of_other_inner_traffic_fails() -> None:
    # Encapsulated packets, but none to the peer's tunnel address.
    out = (RECORDED / "tcpdump-vxlan0.txt").read_text().replace("192.168.60.22", "192.168.60.99")
    passed, summary = judge(MIX, "vxlan0", "vma", "vmb", out)
    assert not passed and summary.endswith("/ 192.168.60.22")


def test_an_empty_capture_fails() -> None:
    header = "".join((RECORDED / "tcpdump-gre1.txt").read_text().splitlines(keepends=True)[:5])
    assert judge(MIX, "gre1", "vma", "vmb", header) == (False, "no gre packet from vma seen on the underlay")
    assert judge(MIX, "gre1", "vma", "vmb", "") == (False, "no gre packet from vma seen on the underlay")


def test_an_address_must_occur_whole() -> None:
    assert mentions("IP 10.0.1.1 > 10.0.1.2: ICMP", "10.0.1.2")
    assert mentions("ARP, Request who-has 10.0.1.2 tell 10.0.1.1", "10.0.1.2")
    assert not mentions("IP 10.0.1.1 > 10.0.1.23: ICMP", "10.0.1.2")
    assert not mentions("IP 110.0.1.2 > 10.0.1.1: ICMP", "10.0.1.2")
    assert mentions("IP6 fd00:64::1 > fd00:64::2: ICMP6", "fd00:64::2")
    assert not mentions("IP6 fd00:64::1 > fd00:64::22: ICMP6", "fd00:64::2")


# -- the capture script ------------------------------------------------------------------------

def seen_by_script(inner: str | None, capture: str, tmp_path: Path, outer: str = "") -> bool:
    """Whether the script's `seen` (its `case` patterns) finds the proving packet in capture."""
    (tmp_path / "out").write_text(capture)
    script = (f'd={tmp_path}\nseen() {{ while read -r l; do case $l in {needle(inner, outer)}) return 0;; esac; '
              'done <"$d/out"; return 1; }\nseen')
    return subprocess.run(["sh", "-c", script], timeout=10).returncode == 0


@pytest.mark.parametrize(("lab", "name", "host", "peer", "recording"), CAPTURES, ids=[c[4] for c in CAPTURES])
def test_the_script_stops_at_every_recorded_capture(lab: Lab, name: str, host: str, peer: str, recording: str,
                                                     tmp_path: Path) -> None:
    t = next(t for t in lab.tunnels if t.name == name)
    inner = expectations(lab, host, peer, t)[3]
    assert seen_by_script(inner, (RECORDED / recording).read_text(), tmp_path)


def test_the_script_does_not_stop_at_another_address(tmp_path: Path) -> None:
    # Stopping at a packet that is not the peer's would fail the case: never looser than `mentions`.
    out = (RECORDED / "tcpdump-vxlan0.txt").read_text()
    assert seen_by_script("192.168.60.22", out, tmp_path)
    assert not seen_by_script("192.168.60.2", out, tmp_path)  # a prefix of the address captured
    for other in ("192.168.60.221", "2.192.168.60.22", "192.168.60.99"):  # the address captured differs
        assert not seen_by_script("192.168.60.22", out.replace("192.168.60.22", other), tmp_path), other
    assert seen_by_script("fd00:64::2", (RECORDED / "tcpdump-sit1.txt").read_text(), tmp_path)
    assert not seen_by_script("fd00:64::", (RECORDED / "tcpdump-sit1.txt").read_text(), tmp_path)
    header = "".join((RECORDED / "tcpdump-gnv2.txt").read_text().splitlines(keepends=True)[:5])
    assert not seen_by_script(None, header, tmp_path)  # tcpdump's own lines are no packet


def test_one_capture_for_several_tunnels_judges_each_on_its_own_flow(tmp_path: Path) -> None:
    # vma's capture of gre1 (to vmb) and sit1 (to vmc) together, as one capture per host takes it.
    gre, sit = ((RECORDED / f"tcpdump-{n}.txt").read_text() for n in ("gre1", "sit1"))
    both, sit_only = gre + sit, sit
    for name, peer, out, passes in (("gre1", "vmb", both, True), ("sit1", "vmc", both, True),
                                    ("gre1", "vmb", sit_only, False)):
        t = next(t for t in MIX.tunnels if t.name == name)
        _, _, expect, inner = expectations(MIX, "vma", peer, t)
        passed, summary = judge_capture(out, expect, inner, t.type, "vma", flow_of(MIX, "vma", peer, t))
        assert passed == passes, summary
        assert seen_by_script(inner, out, tmp_path) == passes
    # sit's packets are no gre packets: the summary says none of the flow's was seen.
    assert summary == "no gre packet from vma seen on the underlay"


def test_a_flow_without_inner_decode_is_stopped_at_by_its_outer_header(tmp_path: Path) -> None:
    lab = load_lab(RECORDED / "mix.yml")
    t = next(t for t in lab.tunnels if t.name == "gnv2")  # GENEVE off 6081: plain UDP to tcpdump
    _, _, _, inner = expectations(lab, "vmb", "vmc", t)
    assert inner is None
    gnv2 = (RECORDED / "tcpdump-gnv2.txt").read_text()
    outer = outer_pattern(lab, "vmb", "vmc", t)
    assert seen_by_script(None, gnv2, tmp_path, outer)
    assert not seen_by_script(None, (RECORDED / "tcpdump-gre1.txt").read_text(), tmp_path, outer)


def test_needle_refuses_what_is_no_address() -> None:
    with pytest.raises(ValueError):
        needle("10.0.0.1) ;reboot")


# Stand-ins for tcpdump and ping (no root needed): tcpdump prints a recorded capture once the ping
# has started and waits to be stopped; ping records its arguments and its PID and sleeps.
FAKE_TCPDUMP = """#!/bin/sh
echo $$ > "{pids}/tcpdump"
trap 'exit 0' TERM
echo "listening on eth1, link-type EN10MB (Ethernet), snapshot length 262144 bytes" >&2
while [ ! -e "{pids}/ping-args" ]; do sleep 0.01; done
cat "{capture}"
while :; do sleep 0.05; done
"""
FAKE_PING = """#!/bin/sh
echo $$ > "{pids}/ping"
echo "$@" > "{pids}/ping-args"
sleep {seconds}
"""


def fake_host(tmp_path: Path, ping_seconds: float, capture: str = "tcpdump-gre1.txt") -> tuple[dict[str, str], Path]:
    bin_dir, pids = tmp_path / "bin", tmp_path / "pids"
    for d in (bin_dir, pids):
        d.mkdir()
    (bin_dir / "tcpdump").write_text(FAKE_TCPDUMP.format(pids=pids, capture=RECORDED / capture))
    (bin_dir / "ping").write_text(FAKE_PING.format(pids=pids, seconds=ping_seconds))
    for tool in ("tcpdump", "ping"):
        (bin_dir / tool).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    return env, pids


def gone(pid: int, within: float = 2.0) -> bool:
    """Whether the process has ended (a zombie waiting for its reaper counts) within `within` s."""
    end = time.monotonic() + within
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X") or time.monotonic() > end:
            return state in ("Z", "X")
        time.sleep(0.02)


def scratch_dirs(tmp: Path) -> set[str]:
    """The script's scratch directories: in /dev/shm, else in $TMPDIR."""
    return {str(p) for p in [*Path("/dev/shm").glob("netlab.*"), *tmp.glob("netlab.*")]}


def run_script(env: dict[str, str], deadline: int, inner: str | None = "10.0.1.2") -> tuple[
        subprocess.CompletedProcess[str], float]:
    flow = Flow("ip proto 47 and src host 192.168.50.21", "10.0.1.2", needle(inner))
    script = wire_script("eth1", [], [flow], 2)
    start = time.monotonic()
    proc = subprocess.run(["sh", "-c", bounded(script, deadline)], env=env, capture_output=True, text=True,
                          timeout=60)
    return proc, time.monotonic() - start


def test_the_capture_ends_when_the_packet_shows_and_leaves_nothing(tmp_path: Path) -> None:
    # The ping would run for a minute: the script stops it once the capture shows the packet.
    env, pids = fake_host(tmp_path, 60)
    before = scratch_dirs(tmp_path / "tmp")
    proc, seconds = run_script(env, 20)
    assert proc.returncode == 0, proc.stderr
    assert seconds < 3  # not the ping's minute, not the deadline
    assert "listening on eth1" in proc.stdout
    passed, _ = judge(MIX, "gre1", "vma", "vmb", proc.stdout)
    assert passed
    assert (pids / "ping-args").read_text().split() == ["-c", "3", "-i", "0.05", "-W", "2", "-w", "2", "10.0.1.2"]
    assert scratch_dirs(tmp_path / "tmp") == before
    assert gone(int((pids / "tcpdump").read_text())) and gone(int((pids / "ping").read_text()))


def test_without_the_packet_the_capture_lasts_as_long_as_the_ping(tmp_path: Path) -> None:
    # Packets, but none to 10.0.1.9: the script waits for the ping to end, then for tcpdump a moment.
    env, _ = fake_host(tmp_path, 0.5)
    proc, seconds = run_script(env, 20, inner="10.0.1.9")
    assert proc.returncode == 0, proc.stderr
    assert 0.5 <= seconds < 3
    assert "GREv0" in proc.stdout  # what it saw is still printed for the judge


def test_a_hung_ping_is_stopped_by_the_deadline_and_cleaned_up(tmp_path: Path) -> None:
    env, pids = fake_host(tmp_path, 60, capture="tcpdump-gnv2.txt")  # nothing to 10.0.1.2
    before = scratch_dirs(tmp_path / "tmp")
    proc, seconds = run_script(env, 1)
    assert proc.returncode == 124  # what Context.sh reports as "no answer within 1 s"
    assert seconds < 5
    # Interrupted, the script waits until tcpdump is gone before it ends.
    assert gone(int((pids / "tcpdump").read_text()), within=0)
    assert gone(int((pids / "ping").read_text()))
    assert scratch_dirs(tmp_path / "tmp") == before


def test_one_capture_waits_for_every_flow(tmp_path: Path) -> None:
    # Only gre1's packets are captured: the script waits for the pings (0.5 s). With sit1's too
    # it ends at once, though the pings would run for a minute.
    flows = [Flow("ip proto 47", "10.0.1.2", needle("10.0.1.2")),
             Flow("ip proto 41", "fd00:64::2", needle("fd00:64::2"))]
    both = tmp_path / "gre1-sit1.txt"
    both.write_text((RECORDED / "tcpdump-gre1.txt").read_text() + (RECORDED / "tcpdump-sit1.txt").read_text())
    for name, capture, ping_seconds, at_least in (("one", RECORDED / "tcpdump-gre1.txt", 0.5, 0.5),
                                                  ("both", both, 60, 0.0)):
        (tmp_path / name).mkdir()
        env, _ = fake_host(tmp_path / name, ping_seconds, capture=str(capture))
        start = time.monotonic()
        proc = subprocess.run(["sh", "-c", wire_script("eth1", [], flows, 2)], env=env, capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert at_least <= time.monotonic() - start < 3, name
