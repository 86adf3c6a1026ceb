"""`netlab verify --via pytest` runs the same checks as pytest tests and must reach the same
verdicts as the default path, on a working lab and on a broken one. Needs root (netns)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from netlab.verify.runner import VerifyResult, run_verify

from .conftest import needs_root, netns_lab

pytestmark = [needs_root, pytest.mark.root]

NETLAB = [sys.executable, "-m", "netlab"]


def verdicts(result: VerifyResult) -> dict[str, tuple[bool, str]]:
    """Each case's verdict, and the summary of a failure (a pass may quote a captured packet,
    whose ICMP id differs from run to run)."""
    outcomes = {f"{c.id}@{c.host}": result.outcome(c) for c in result.cases}
    return {key: (o.passed, "" if o.passed else o.summary) for key, o in outcomes.items()}


def test_pytest_and_the_default_path_agree_on_every_case() -> None:
    with netns_lab("lab10") as session:
        default = run_verify(session.lab, session.provider)
        through_pytest = run_verify(session.lab, session.provider, via="pytest")
        assert default.passed and through_pytest.passed
        assert verdicts(default) == verdicts(through_pytest)
        # boxB's VNI wrong: both name the same failures and the same first cause.
        assert session.provider.run("boxB", ["ip", "link", "del", "vxlan0"]).ok
        assert session.provider.run("boxB", ["ip", "link", "add", "vxlan0", "type", "vxlan", "id", "101", "group",
                                             "239.255.0.1", "ttl", "5", "dstport", "4789", "dev", "enp0s8"]).ok
        assert session.provider.run("boxB", ["ip", "addr", "add", "192.168.60.5/24", "dev", "vxlan0"]).ok
        assert session.provider.run("boxB", ["ip", "link", "set", "vxlan0", "up"]).ok
        default = run_verify(session.lab, session.provider)
        through_pytest = run_verify(session.lab, session.provider, via="pytest")
        assert not default.passed
        assert verdicts(default) == verdicts(through_pytest)
        assert default.causes[0].summary == through_pytest.causes[0].summary
        assert "id is 101, lab says 100" in default.causes[0].summary


def test_the_cli_takes_via_pytest_and_refuses_an_unknown_via() -> None:
    with netns_lab("lab10"):
        ok = subprocess.run([*NETLAB, "verify", "lab10", "--via", "pytest"], capture_output=True, text=True)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "24 passed, 0 failed" in ok.stdout
        bad = subprocess.run([*NETLAB, "verify", "lab10", "--via", "nose"], capture_output=True, text=True)
        assert bad.returncode != 0
        assert "--via nose is not known" in bad.stderr and "Traceback" not in bad.stderr
