"""Standard output and error that go away (a closed pipe) or fill up (/dev/full): a lab operation
finishes, results that cannot be written are one clear error, never a traceback (issue 24, 6 and 7)."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from netlab.state import LabState

from .conftest import needs_root, netlab_namespaces

NETLAB = shlex.join([sys.executable, "-m", "netlab"])


def shell(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=300)


def one_clear_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode != 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr


def test_results_into_a_full_disk_are_one_clear_error() -> None:
    for command in ("explain lab9", "ls --json", "list"):
        proc = shell(f"{NETLAB} {command} > /dev/full")
        one_clear_error(proc, "could not write standard output", "No space left on device")


def test_a_reader_that_left_is_no_error() -> None:
    proc = shell(f"{NETLAB} explain lab9 | head -c 1 >/dev/null; exit ${{PIPESTATUS[0]}}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_closed_output_and_error_are_no_error() -> None:
    proc = shell(f"{NETLAB} explain lab9 >&- 2>&-; echo rc=$?")
    assert proc.stdout == "rc=0\n", proc.stdout + proc.stderr


@needs_root
def test_up_into_a_closed_pipe_finishes_and_the_lab_is_up(tmp_path: Path) -> None:
    name = "ops24pipe"
    proc = shell(f"{NETLAB} up lab9 --name {name} 2>&1 | head -1; exit ${{PIPESTATUS[0]}}")
    try:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.startswith("using netns"), proc.stdout
        assert LabState(name).read().phase == "up"
        assert len(netlab_namespaces(name)) == 3  # two hosts and the switch
        # verify, grade: their JSON into a full disk is one clear error, and the lab stays up.
        for command in (f"verify {name} --json", f"grade {name} --json"):
            one_clear_error(shell(f"{NETLAB} {command} > /dev/full"), "could not write standard output")
        # A pcap into a full disk: tcpdump does not notice, netlab does.
        proc = shell(f"{NETLAB} capture {name} -c 3 --ping boxA boxB -w /dev/full")
        one_clear_error(proc, "cannot write /dev/full", "No space left on device")
        assert "wrote /dev/full" not in proc.stdout
        pcap = tmp_path / "x.pcap"
        proc = shell(f"{NETLAB} capture {name} -c 3 --ping boxA boxB -w {pcap}")
        assert proc.returncode == 0 and pcap.stat().st_size > 24, proc.stderr  # a header and packets
        # verify with its output and error closed (>&-): it runs, nothing of it lands in a file
        # netlab opens (the lab's state) instead.
        assert shell(f"{NETLAB} verify {name} >&- 2>&-").returncode == 0
        assert LabState(name).read().phase == "up"
        # down into a closed pipe too: the lab is gone.
        proc = shell(f"{NETLAB} down {name} 2>&1 | true; exit ${{PIPESTATUS[0]}}")
        assert proc.returncode == 0, proc.stderr
        assert netlab_namespaces(name) == [] and not LabState(name).exists
    finally:
        subprocess.run([sys.executable, "-m", "netlab", "-q", "down", name], capture_output=True, timeout=120)
