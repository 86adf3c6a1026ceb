"""Fault injection: `up` and `down` killed (SIGKILL) at random points; `down` or `up` again must
always end clean or converged. netns for many trials, qemu once (slow)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netlab.state import LabState

from .conftest import needs_root, needs_vms, netlab_namespaces, vxlan_lab, write_lab

NETLAB = [sys.executable, "-m", "netlab"]
TRIALS = 12


def killed_after(argv: list[str], delay: float) -> int:
    """Start argv, SIGKILL it after `delay` seconds (if still running); its exit code."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    return proc.wait()


def netlab(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*NETLAB, *args], capture_output=True, text=True, timeout=600)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


@needs_root
@pytest.mark.root
def test_killing_up_and_down_at_random_points_always_ends_clean_or_converged(tmp_path: Path) -> None:
    seed = int(os.environ.get("NETLAB_FAULT_SEED", time.time()))
    rng = random.Random(seed)
    path = write_lab(tmp_path, vxlan_lab("faults", 24, mode="flood", vni=9))
    # How long a whole up takes here, so the kills fall inside it.
    started = time.monotonic()
    assert netlab("up", str(path)).returncode == 0
    whole = time.monotonic() - started
    assert netlab("down", str(path)).returncode == 0
    killed = 0
    for trial in range(TRIALS):
        what = f"seed {seed}, trial {trial}"
        killed += killed_after([*NETLAB, "up", str(path)], rng.uniform(0.0, whole)) == -signal.SIGKILL
        if rng.random() < 0.5:
            # up again converges: every host is configured, and a third up changes nothing.
            assert netlab("up", str(path)).returncode == 0, what
            check = netlab("verify", str(path), "-k", "params", "-k", "fdb")
            assert check.returncode == 0, f"{what}: {check.stdout}"
            assert "nothing changed" in netlab("up", str(path)).stdout, what
        # down, itself killed half of the time, then down again: nothing is left.
        if rng.random() < 0.5:
            killed_after([*NETLAB, "down", str(path)], rng.uniform(0.0, 0.3))
        result = netlab("down", str(path))
        assert result.returncode == 0, f"{what}: {result.stderr}"
        assert netlab_namespaces("faults") == [], what
        assert not LabState("faults").exists, what
    # The test proves something only if kills landed while up was running.
    assert killed >= TRIALS // 3, f"seed {seed}: only {killed} of {TRIALS} kills hit a running up"


@pytest.mark.qemu
@pytest.mark.slow
@needs_vms
def test_killing_a_qemu_up_while_its_vms_boot_then_down_leaves_nothing(tmp_path: Path, vm_image: object) -> None:
    """Once for qemu: `up` SIGKILLed at a random moment while its VMs boot; `down` stops every QEMU
    it started (found by PID and command line) and removes every disk."""
    import psutil

    seed = int(os.environ.get("NETLAB_FAULT_SEED", time.time()))
    state = tmp_path / "state"
    env = {**os.environ, "NETLAB_STATE_DIR": str(state)}
    up = subprocess.Popen([*NETLAB, "up", "lab9", "--provider", "qemu", "--name", "fq"], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ours() -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            argv = proc.info["cmdline"] or [""]
            if "qemu-system" in argv[0] and str(state) in " ".join(argv):
                found.append(proc)
        return found

    deadline = time.monotonic() + 120
    while not ours() and up.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ours(), f"seed {seed}: no QEMU started within 120 s"
    time.sleep(random.Random(seed).uniform(0.0, 10.0))  # somewhere in the boot
    up.send_signal(signal.SIGKILL)
    assert up.wait() == -signal.SIGKILL, f"seed {seed}: up ended by itself"
    assert ours(), "the VMs outlive the killed up (their own session): down must find them"
    result = subprocess.run([*NETLAB, "down", "fq"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ours() == [], f"seed {seed}: QEMU left running after down"
    assert not list(state.rglob("*.qcow2")), f"seed {seed}: disks left after down"
    assert not (state / "fq").exists()
