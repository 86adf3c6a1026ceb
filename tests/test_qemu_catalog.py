"""Every catalog lab — all six tunnel types, lab9 and lab10 included, the routed ones too — up on
qemu, verified, down.

Slow on purpose (real VMs under emulation: about 1.5-2.5 minutes a lab here); the reason the
qemu provider exists is that this machine's kernel has no GRE, GENEVE, IPIP or SIT. lab10-routed
(routers are VMs too) also runs the TTL lesson, in its own test to boot it once.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netlab import catalog
from netlab.lifecycle import Session, down, open_lab, up
from netlab.providers.qemu import QemuProvider
from netlab.tools.processes import pid_alive
from netlab.verify.runner import run_verify

from .conftest import needs_vms, netns_cannot_run, quiet
from .test_qemu import failures, machines_of

pytestmark = [pytest.mark.qemu, pytest.mark.slow, needs_vms]

NETLAB = [sys.executable, "-m", "netlab"]


def _leftovers(provider: QemuProvider, pids: list[int], disks: list[Path]) -> list[str]:
    out = [f"qemu pid {p}" for p in pids if pid_alive(p, "qemu")]
    out += [f"disk {d}" for d in disks if d.exists()]
    if provider.vm_dir.exists():
        out.append(str(provider.vm_dir))
    return out


def up_and_verify(session: Session) -> None:
    """up, then every check passes; prints how long each took."""
    started = time.monotonic()
    up(session, quiet)
    booted = time.monotonic()
    result = run_verify(session.lab, session.provider)
    print(f"\n{session.lab.name}: up {booted - started:.0f} s, verify {result.seconds:.1f} s, "
          f"{len(result.cases)} checks")
    assert result.passed, failures(result)


# gre: through the command line below; lab10-routed: with the TTL lesson below.
OWN_TESTS = ("gre", "lab10-routed")
LESSONS = Path(__file__).resolve().parent.parent / "docs" / "lessons"


def lessons_on_qemu() -> set[str]:
    """Labs whose lesson runs on QEMU (test_lessons): it brings the catalog lab up, verifies it
    (`# expect: all checks pass`), breaks and fixes it and takes it down."""
    found = set()
    for path in LESSONS.glob("*.md"):
        match = re.match(r"<!-- netlab-lesson: lab=(\S+) provider=qemu -->", path.read_text().split("\n", 1)[0])
        if match:
            found.add(match.group(1))
    return found


def on_vms() -> list[str]:
    """The catalog labs this test boots: the seed's lab9 and lab10, and every lab the netns
    provider cannot run on this machine (a tunnel type or multicast routing its kernel lacks),
    unless its lesson already runs it on QEMU. The others are verified on netns in test_netns
    (the same templates, the same checks): booting a lab twice cost CI minutes of its hour."""
    covered = lessons_on_qemu()
    return [e.name for e in catalog.catalog()
            if e.name not in OWN_TESTS and (e.name in ("lab9", "lab10")
                                            or (netns_cannot_run(e.name) and e.name not in covered))]


@pytest.mark.parametrize("lab", on_vms())
def test_catalog_lab_on_qemu(lab: str, vm_image: object) -> None:
    session = open_lab(lab, "qemu")
    provider = session.provider
    assert isinstance(provider, QemuProvider)
    try:
        up_and_verify(session)
    finally:
        pids, disks = machines_of(provider)
        down(session, quiet)
    assert _leftovers(provider, pids, disks) == []


def test_gre_through_the_command_line(vm_image: object) -> None:
    """The issue's own words: netlab up gre --provider qemu && netlab verify gre ... && netlab down gre ..."""
    provider = QemuProvider(catalog.load("gre"), open_lab("gre", "qemu").provider.state)
    try:
        run = subprocess.run([*NETLAB, "up", "gre", "--provider", "qemu"], capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr
        run = subprocess.run([*NETLAB, "verify", "gre", "--provider", "qemu"], capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "all checks pass" in run.stdout
        pids, disks = machines_of(provider)
        assert pids and disks
    finally:
        run = subprocess.run([*NETLAB, "down", "gre", "--provider", "qemu"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert _leftovers(provider, pids, disks) == []


def netlab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NETLAB, *args], capture_output=True, text=True, timeout=300)


def test_lab10_routed_on_qemu_and_the_ttl_lesson(vm_image: object) -> None:
    """lab10-routed: router gw is a VM with a NIC on each segment's hub (enp0s8 left, enp0s9
    right), configured by site.yml's router play. Every check passes; then the TTL lesson: with
    TTL 1 on every host's vxlan0 (`netlab break ... low-ttl`) multicast dies at gw and boxA cannot
    reach boxC (boxB, on its own segment, it still can); `netlab reset` brings it back."""
    session = open_lab("lab10-routed", "qemu")
    provider = session.provider
    assert isinstance(provider, QemuProvider)
    try:
        up_and_verify(session)
        assert {h.host: h.state for h in provider.status()} == dict.fromkeys(session.lab.machines, "running")
        # The router, through the command line: its NICs on the two segments, forwarding, smcrouted.
        run = netlab("exec", "lab10-routed", "gw", "--", "sh", "-c",
                     "ip -br addr; cat /proc/sys/net/ipv4/ip_forward; systemctl is-active netlab-smcroute")
        assert run.returncode == 0, run.stderr
        assert "192.168.50.1/24" in run.stdout.split("enp0s8")[1].splitlines()[0]
        assert "192.168.51.1/24" in run.stdout.split("enp0s9")[1].splitlines()[0]
        assert run.stdout.split()[-2:] == ["1", "active"], run.stdout
        # Capture on the right segment (on gw's enp0s9): boxA's VXLAN packets arrive one hop lower.
        run = netlab("capture", "lab10-routed", "--segment", "right", "--ping", "boxA", "boxC", "-c", "4",
                     "udp", "and", "src", "192.168.50.4")
        assert run.returncode == 0, run.stderr
        assert "ttl 4," in run.stdout and "VXLAN" in run.stdout, run.stdout

        for host in ("boxA", "boxB", "boxC"):
            run = netlab("break", "lab10-routed", "low-ttl", "--host", host)
            assert run.returncode == 0, run.stdout + run.stderr
        ttls = provider.run("boxA", ["sh", "-c", "ip -d link show vxlan0 | grep -o 'ttl [0-9]*'"])
        assert ttls.stdout.split() == ["ttl", "1"], ttls.stdout
        broken = run_verify(session.lab, provider, only=["ping"])
        failed = {(c.host, c.peer) for c in broken.cases if not broken.outcome(c).passed}
        assert ("boxA", "boxC") in failed and ("boxC", "boxA") in failed, failed
        assert ("boxA", "boxB") not in failed

        run = netlab("reset", "lab10-routed")
        assert run.returncode == 0, run.stdout + run.stderr
        again = run_verify(session.lab, provider)
        assert again.passed, failures(again)
    finally:
        pids, disks = machines_of(provider)
        down(session, quiet)
    assert len(pids) == 4
    assert _leftovers(provider, pids, disks) == []
