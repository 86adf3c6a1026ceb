"""`netlab capture`: the ping starts once tcpdump listens and stops with it, a capture that saw
nothing fails and says so (issue 25 item 8), and `-w` captures until stopped (item 9)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from netlab.capture import run_capture

from .conftest import needs_root, netlab_namespaces

NETLAB = [sys.executable, "-m", "netlab"]


def fake_tcpdump(tmp_path: Path, listen_after: float) -> list[str]:
    """A tcpdump that takes `listen_after` s to start listening, then "captures" one packet as
    soon as the ping has started (the file it makes), and exits as tcpdump -c 1 does."""
    script = (f"sleep {listen_after}; date +%s.%N > {tmp_path}/listening; echo 'listening on underlay' >&2; "
              f"while [ ! -e {tmp_path}/pinged ]; do sleep 0.05; done; echo 'one packet'; "
              "echo '1 packet captured' >&2")
    return ["sh", "-c", script]


def test_the_ping_starts_once_tcpdump_listens_and_stops_with_the_capture(tmp_path: Path) -> None:
    # A fixed one-second wait pinged before a slow tcpdump listened: the ARP request was lost.
    pinger = ["sh", "-c", f"date +%s.%N > {tmp_path}/pinged; sleep 30"]
    started = time.monotonic()
    captured = run_capture(fake_tcpdump(tmp_path, listen_after=2.5), subprocess.DEVNULL, pinger)  # type: ignore[arg-type]
    took = time.monotonic() - started
    assert (captured.code, captured.packets, captured.listening) == (0, 1, True)
    listening = float((tmp_path / "listening").read_text())
    pinged = float((tmp_path / "pinged").read_text())
    assert pinged >= listening, "the ping started before tcpdump listened"
    assert took < 10, "the ping (30 s) was not stopped when tcpdump had its packets"


def test_a_reader_attached_to_the_pipe_gets_every_byte_before_the_pipe_closes(tmp_path: Path) -> None:
    got: list[bytes] = []

    def attach(proc: subprocess.Popen[bytes]) -> object:
        assert proc.stdout is not None
        return lambda: got.append(proc.stdout.read())  # type: ignore[union-attr]

    tcpdump = ["sh", "-c", "echo 'listening on x' >&2; echo pcap-bytes; echo '1 packet captured' >&2"]
    captured = run_capture(tcpdump, subprocess.PIPE, None, attach=attach)  # type: ignore[arg-type]
    assert (captured.code, captured.packets, got) == (0, 1, [b"pcap-bytes\n"])


def test_a_tcpdump_that_never_listens_gets_no_ping(tmp_path: Path) -> None:
    pinger = ["sh", "-c", f"touch {tmp_path}/pinged"]
    captured = run_capture(["sh", "-c", "echo 'tcpdump: no such device' >&2; exit 1"], subprocess.DEVNULL,  # type: ignore[arg-type]
                           pinger)
    assert captured.code == 1 and not captured.listening
    assert not (tmp_path / "pinged").exists()


@needs_root
@pytest.mark.root
def test_an_empty_capture_fails_and_w_captures_until_stopped(tmp_path: Path) -> None:
    name = "cp25-lab9"
    try:
        up = subprocess.run([*NETLAB, "up", "lab9", "--name", name], capture_output=True, text=True, timeout=120)
        assert up.returncode == 0, up.stdout + up.stderr
        # Nothing in the lab sends to port 9999: the capture says so and fails.
        empty = subprocess.run([*NETLAB, "capture", name, "--ping", "boxA", "boxB", "-c", "2", "udp", "port", "9999"],
                               capture_output=True, text=True, timeout=60)
        assert empty.returncode == 1, empty.stdout + empty.stderr
        assert "0 packets captured: no packet matching `udp port 9999` crossed while boxA pinged boxB" in empty.stderr
        assert "Traceback" not in empty.stderr
        # What it was asked to show: exit 0, and the ping's packets.
        shown = subprocess.run([*NETLAB, "capture", name, "--ping", "boxA", "boxB", "-c", "2", "udp", "port", "4789",
                                "and", "udp[28:2] = 0x0800"], capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert "ICMP echo request" in shown.stdout and "ICMP echo reply" in shown.stdout
        # -w: no packet limit (a pcap for Wireshark runs until it is stopped); printing: 20.
        pcap = tmp_path / "ping.pcap"
        written = subprocess.run([*NETLAB, "capture", name, "--ping", "boxA", "boxB", "-w", str(pcap)],
                                 capture_output=True, text=True, timeout=60)
        assert written.returncode == 0, written.stdout + written.stderr
        [tcpdump] = [line for line in written.stderr.splitlines() if " tcpdump " in line]
        assert " -c " not in tcpdump and " -w - " in tcpdump
        assert pcap.stat().st_size > 24  # a pcap header and packets
        [tcpdump] = [line for line in shown.stderr.splitlines() if " tcpdump " in line]
        assert " -c 2 " in tcpdump
        printed = subprocess.run([*NETLAB, "capture", name, "--ping", "boxA", "boxB"],
                                 capture_output=True, text=True, timeout=60)
        [tcpdump] = [line for line in printed.stderr.splitlines() if " tcpdump " in line]
        assert " -c 20 " in tcpdump
    finally:
        subprocess.run([*NETLAB, "down", name], capture_output=True, timeout=120)
    assert netlab_namespaces(name) == []
