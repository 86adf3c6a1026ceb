"""verify's text report: the causes, the table, one line per failure, and the evidence only of the
failures no cause explains; `-v` shows every failure's evidence (issue 25 item 7)."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from rich.console import Console

from netlab import catalog
from netlab.verify.checks.base import Case
from netlab.verify.context import Evidence, Outcome
from netlab.verify.diagnosis import Cause
from netlab.verify.report import print_report
from netlab.verify.runner import VerifyResult

from .conftest import needs_root, netlab_namespaces

NETLAB = [sys.executable, "-m", "netlab"]


def report(result: VerifyResult, verbose: bool) -> str:
    buffer = io.StringIO()
    print_report(Console(file=buffer, width=120, color_system=None), catalog.load("lab10"), result, verbose=verbose)
    return buffer.getvalue()


def test_only_unexplained_failures_show_their_evidence_by_default() -> None:
    explained = Case("params", "boxA", "boxA vxlan0", tunnel="vxlan0")
    alone = Case("socket", "boxC", "boxC udp/4789", tunnel="vxlan0")
    passing = Case("maddr", "boxB", "boxB vxlan0 239.255.0.1", tunnel="vxlan0")
    result = VerifyResult(
        cases=[explained, alone, passing],
        outcomes={
            explained: Outcome(False, "id is 101, lab says 100",
                               [Evidence("boxA", "ip -d -j link show vxlan0", 0, "CAUSED-EVIDENCE")]),
            alone: Outcome(False, "nothing listens on udp/4789",
                           [Evidence("boxC", "ss -Hlun", 0, "LONE-EVIDENCE")]),
            passing: Outcome(True, "ok"),
        },
        causes=[Cause("boxA", "params", "vxlan0 on boxA: id is 101, lab says 100", "vxlan0 on boxA: id is wrong",
                      explains=[explained.id])],
    )
    short = report(result, verbose=False)
    assert "CAUSED-EVIDENCE" not in short
    assert "LONE-EVIDENCE" in short
    assert "FAIL params[boxA vxlan0] on boxA: id is 101, lab says 100 (cause 1)" in short
    assert "FAIL socket[boxC udp/4789] on boxC: nothing listens on udp/4789\n" in short
    assert "netlab verify lab10 -v" in short
    whole = report(result, verbose=True)
    assert "CAUSED-EVIDENCE" in whole and "LONE-EVIDENCE" in whole
    assert "netlab verify lab10 -v" not in whole


@needs_root
@pytest.mark.root
def test_one_wrong_vni_is_one_cause_not_its_failures_evidence_again() -> None:
    name = "rp25-lab10"
    try:
        up = subprocess.run([*NETLAB, "up", "lab10", "--name", name], capture_output=True, text=True, timeout=120)
        assert up.returncode == 0, up.stdout + up.stderr
        # A student's slip on one host: boxA's vxlan0 made with VNI 101.
        for command in ("ip link del vxlan0",
                        "ip link add vxlan0 type vxlan id 101 group 239.255.0.1 ttl 5 dstport 4789 dev enp0s8",
                        "ip addr add 192.168.60.4/24 dev vxlan0", "ip link set vxlan0 up"):
            done = subprocess.run([*NETLAB, "exec", name, "boxA", "--", *command.split()], capture_output=True,
                                  text=True, timeout=60)
            assert done.returncode == 0, done.stderr
        short = subprocess.run([*NETLAB, "verify", name], capture_output=True, text=True, timeout=120)
        whole = subprocess.run([*NETLAB, "verify", name, "-v"], capture_output=True, text=True, timeout=120)
    finally:
        subprocess.run([*NETLAB, "down", name], capture_output=True, timeout=120)
    assert netlab_namespaces(name) == []
    for run in (short, whole):
        assert run.returncode == 1 and "Traceback" not in run.stdout + run.stderr, run.stdout + run.stderr
        assert "1. boxA: vxlan0 on boxA: id is 101, lab says 100" in run.stdout
        assert "FAIL params[boxA vxlan0] on boxA: id is 101, lab says 100 (cause 1)" in run.stdout
    # Every failure is the one cause's: no evidence (commands and their output) by default ...
    failures = [line for line in short.stdout.splitlines() if line.startswith("FAIL ")]
    assert len(failures) >= 10 and all(line.endswith("(cause 1)") for line in failures), failures
    for evidence in ("fping -i 1", "] $ ip -d -j", "] $ bridge fdb show", "tcpdump -n", "is unreachable"):
        assert evidence not in short.stdout, evidence
        assert evidence in whole.stdout, evidence
    assert f"netlab verify {name} -v" in short.stdout
    # ... so the report is short: the cause, the table, a line per failure, the verdict.
    assert len(short.stdout.splitlines()) <= 45, short.stdout
    assert len(whole.stdout.splitlines()) > 80
