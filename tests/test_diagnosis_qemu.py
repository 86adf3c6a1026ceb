"""The diagnosis of a GRE / gretap key set on one side only, on real VMs (this kernel has no GRE):
two VMs, one lab up, two breakages in turn. Slow (emulated VMs)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from netlab.configure import configure
from netlab.lifecycle import down, open_lab, up
from netlab.verify.runner import run_verify

from .conftest import needs_vms, quiet

pytestmark = [pytest.mark.qemu, pytest.mark.slow, needs_vms]

LAB = Path(__file__).parent / "data" / "qemu-keys.yml"


def test_a_gre_key_on_one_side_is_named(vm_image: object) -> None:
    session = open_lab(str(LAB), "qemu")
    provider = session.provider
    try:
        up(session, quiet)

        def on(host: str, *commands: str) -> None:
            for command in commands:
                result = provider.run(host, command.split())
                assert result.ok, f"{host}: {command}: {result.stderr}"

        # kb's GRE device loses its key; ka still sends key 12.
        on("kb", "ip link del gre1", "ip link add gre1 type gre local 192.168.50.32 remote 192.168.50.31",
           "ip addr add 10.0.1.2/30 dev gre1", "ip link set gre1 up")
        started = time.monotonic()
        result = run_verify(session.lab, provider)
        print(f"\nverify with a broken key: {time.monotonic() - started:.1f} s")
        cause = result.causes[0]
        assert (cause.host, cause.device, cause.param) == ("kb", "gre1", "key"), result.causes
        assert "gre key missing on kb, ka sends key 12" in cause.summary
        assert "ping[ka->kb gre1]" in cause.explains
        # Not put down to the MTU the missing key changed.
        assert not any(c.param == "mtu" for c in result.causes)

        # gretap has no key in the lab: ka gets one.
        configure(provider, quiet)
        on("ka", "ip link del gtap1", "ip link add gtap1 type gretap local 192.168.50.31 remote 192.168.50.32 key 12",
           "ip addr add 10.0.5.1/30 dev gtap1", "ip link set gtap1 up")
        result = run_verify(session.lab, provider, only=["params", "ping"])
        cause = result.causes[0]
        assert (cause.host, cause.device, cause.param) == ("ka", "gtap1", "key"), result.causes
        assert "gretap key 12 on ka, kb sends no key" in cause.summary
        assert "lab says no key" in cause.summary
    finally:
        down(session, quiet)
