"""Every catalog lab — all six tunnel types, lab9 and lab10 included — up on qemu, verified, down.

Slow on purpose (real VMs under emulation: about 1.5-2.5 minutes a lab here); the reason the
qemu provider exists is that this machine's kernel has no GRE, GENEVE, IPIP or SIT.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from netlab import catalog
from netlab.lifecycle import down, open_lab, up
from netlab.providers.qemu import QemuProvider
from netlab.tools.processes import pid_alive
from netlab.verify.runner import run_verify

from .test_qemu import failures, needs_vms, quiet

pytestmark = [pytest.mark.qemu, pytest.mark.slow, needs_vms]

NETLAB = [sys.executable, "-m", "netlab"]


def _leftovers(provider: QemuProvider, pids: list[int], disks: list[Path]) -> list[str]:
    out = [f"qemu pid {p}" for p in pids if pid_alive(p, "qemu")]
    out += [f"disk {d}" for d in disks if d.exists()]
    if provider.vm_dir.exists():
        out.append(str(provider.vm_dir))
    return out


@pytest.mark.parametrize("lab", [e.name for e in catalog.catalog() if e.name != "gre"])
def test_catalog_lab_on_qemu(lab: str, vm_image: object) -> None:
    session = open_lab(lab, "qemu")
    provider = session.provider
    assert isinstance(provider, QemuProvider)
    started = time.monotonic()
    try:
        up(session, quiet)
        booted = time.monotonic()
        result = run_verify(session.lab, provider)
        print(f"\n{lab}: up {booted - started:.0f} s, verify {result.seconds:.1f} s, {len(result.cases)} checks")
        assert result.passed, failures(result)
    finally:
        pids = [int(r.name) for r in provider.state.resources("pid")]
        disks = [Path(r.name) for r in provider.state.resources("disk")]
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
        pids = [int(r.name) for r in provider.state.resources("pid")]
        disks = [Path(r.name) for r in provider.state.resources("disk")]
        assert pids and disks
    finally:
        run = subprocess.run([*NETLAB, "down", "gre", "--provider", "qemu"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert _leftovers(provider, pids, disks) == []
