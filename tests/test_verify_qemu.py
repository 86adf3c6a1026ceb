"""verify never hangs on real VMs (issue 9): a session whose output an SSH ControlMaster holds
open is given up after the local deadline, and a VM whose underlay NIC lost its address makes
verify fail quickly, naming that NIC. Two VMs, slow (emulated)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from netlab.lifecycle import Session, down, open_lab, up
from netlab.verify import local
from netlab.verify.context import Context
from netlab.verify.runner import VerifyResult, run_verify

from .conftest import needs_vms, quiet

pytestmark = [pytest.mark.qemu, pytest.mark.slow, needs_vms]

LAB = Path(__file__).parent / "data" / "qemu-keys.yml"
BOUND = 90  # seconds verify may take with one VM's underlay broken, under emulation


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, vm_image: object) -> Iterator[Session]:
    data = yaml.safe_load(LAB.read_text())
    data["name"] = "vq-nohang"  # no other test uses it
    path = tmp_path_factory.mktemp("vq") / "vq-nohang.yml"
    path.write_text(yaml.safe_dump(data))
    session = open_lab(str(path), "qemu")
    try:
        up(session, quiet)
        yield session
    finally:
        down(session, quiet)


def on(session: Session, host: str, command: str) -> None:
    result = session.provider.run(host, ["sh", "-c", command])
    assert result.ok, f"{host}: {command}: {result.stderr}"


def test_a_session_held_open_through_the_control_master_is_given_up(pair: Session) -> None:
    ctx = Context(pair.lab, pair.provider)
    # A process that escapes the command's process group keeps the session's stdout (and so the
    # master's copy of verify's pipe) open for 5 minutes: the old hang.
    hold = "setsid sh -c 'echo $$ >/run/vq-hold.pid; exec sleep 299' & echo started"
    try:
        start = time.monotonic()
        got = ctx.run_here("ka", hold, 5.0)
        took = time.monotonic() - start
        print(f"\nheld session given up after {took:.1f} s: rc {got.rc}, timed out {got.timed_out}")
        assert took < 5 + local.TERM_GRACE + local.EOF_GRACE + 3, took
        assert "ControlMaster=no" in got.command
        # The shared connection still works for the next command.
        assert ctx.run_here("ka", "echo again", 30.0).stdout == "again\n"
    finally:
        on(pair, "ka", "[ ! -f /run/vq-hold.pid ] || kill $(cat /run/vq-hold.pid); rm -f /run/vq-hold.pid")


def bounded_verify(session: Session, what: str) -> VerifyResult:
    """run_verify, which must end within BOUND s; prints how long it took and the causes."""
    start = time.monotonic()
    result = run_verify(session.lab, session.provider)
    took = time.monotonic() - start
    print(f"{what}: {took:.1f} s, causes: " + "; ".join(c.summary for c in result.causes))
    assert took < BOUND, took
    return result


def test_an_underlay_nic_without_its_address_is_named_in_bounded_time(pair: Session) -> None:
    nic = pair.lab.underlay.interface
    addr = pair.lab.hosts["kb"].ip
    prefix = pair.lab.underlay.network.prefixlen
    on(pair, "kb", f"ip addr del {addr}/{prefix} dev {nic}")
    try:
        result = bounded_verify(pair, "\nverify with kb's underlay address gone")
        assert not result.passed
        cause = result.causes[0]
        assert (cause.host, cause.check, cause.device) == ("kb", "underlay", nic), result.causes
        assert f"lacks its address {addr}" in cause.summary
        # ... and with the NIC down as well, and a tunnel gone on the other VM.
        on(pair, "kb", f"ip link set {nic} down")
        on(pair, "ka", "ip link del gtap1")
        result = bounded_verify(pair, "verify with kb's underlay down and ka's gtap1 gone")
        summaries = " / ".join(c.summary for c in result.causes)
        assert f"the underlay NIC {nic} on kb is down" in summaries
        assert "gtap1" in summaries
    finally:
        on(pair, "kb", f"ip link set {nic} up; ip addr replace {addr}/{prefix} dev {nic}")
