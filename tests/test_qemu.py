"""The qemu provider for real: one lab of three VMs with every tunnel type: up, verify, hard reset
over QMP, verify, down (slow). The fast tests without VMs are in test_qemu_units.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

import pytest

from netlab.images import build as image_build
from netlab.lifecycle import Session, down, open_lab, up
from netlab.providers.qemu import QemuProvider
from netlab.tools.processes import pid_alive
from netlab.tools.qemu import qmp_command
from netlab.verify.runner import VerifyResult, run_verify

from .conftest import needs_vms, quiet

pytestmark = pytest.mark.qemu

DATA = Path(__file__).parent / "data"
MIX = DATA / "qemu-mix.yml"


# -- three real VMs -------------------------------------------------------------------------------
def failures(result: VerifyResult) -> str:
    lines = []
    for case in result.cases:
        outcome = result.outcome(case)
        if not outcome.passed:
            lines.append(f"{case.label}: {outcome.summary}")
            lines += [e.render() for e in outcome.evidence[:2]]
    return "\n".join(lines)


def machines_of(provider: QemuProvider) -> tuple[list[int], list[Path]]:
    """The QEMU PIDs and disks the lab's state records (what down must leave none of)."""
    return ([int(r.name) for r in provider.state.resources("pid")],
            [Path(r.name) for r in provider.state.resources("disk")])


@pytest.fixture(scope="module")
def mix_lab(vm_image: image_build.Image, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    state_dir = tmp_path_factory.mktemp("qemu-state")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NETLAB_STATE_DIR", str(state_dir))
        session = open_lab(str(MIX), "qemu")
        provider = session.provider
        assert isinstance(provider, QemuProvider)
        started = time.monotonic()
        try:
            up(session, quiet)
            print(f"\nqemu-mix up in {time.monotonic() - started:.0f} s")
            yield session
        finally:
            pids, disks = machines_of(provider)
            down(session, quiet)
            assert not any(pid_alive(pid, "qemu") for pid in pids), "a QEMU of the lab survived down"
            assert not any(d.exists() for d in disks), "a disk of the lab survived down"
            assert not provider.vm_dir.exists() and not provider.state.exists


@needs_vms
def test_every_tunnel_type_verifies_on_three_vms(mix_lab: Session) -> None:
    provider = mix_lab.provider
    assert all(h.state == "running" for h in provider.status())
    # The lab names its underlay NIC eth1: the provider renamed enp0s8.
    assert provider.run("vma", ["ip", "link", "show", "eth1"]).ok
    started = time.monotonic()
    result = run_verify(mix_lab.lab, provider)
    print(f"\nverify: {len(result.cases)} cases in {time.monotonic() - started:.0f} s")
    assert result.passed, failures(result)


# Everything netlab writes on a VM: its commands, the boot unit and its enable link, the .link files
# that name the underlay NIC and keep udev off the tunnels' MACs. Without them the next `up` writes
# them all again, as on a new VM.
HOST_FILES = ("/etc/netlab", "/etc/systemd/system/netlab-overlay.service",
              "/etc/systemd/system/multi-user.target.wants/netlab-overlay.service",
              "/etc/systemd/network/10-netlab-underlay.link", "/etc/systemd/network/10-netlab-overlay.link")


@needs_vms
def test_every_ethernet_tunnel_keeps_the_mac_netlab_gives_it(mix_lab: Session) -> None:
    """udev made up a MAC for a new device (MACAddressPolicy=persistent) and could set it after
    overlay.sh's own: netlab's MAC was lost on one or two of the three VMs, and the next `up`
    rebuilt the device. udev must have applied netlab's .link file to each device instead."""
    from netlab.configure.ipbatch import host_vars_tunnel

    provider = mix_lab.provider
    lab = mix_lab.lab
    for host in lab.hosts:
        for t in lab.tunnels_of(host):
            mac = host_vars_tunnel(lab, host, t).get("mac")
            if not mac:
                continue
            shown = provider.run(host, ["cat", f"/sys/class/net/{t.name}/address"]).stdout.strip()
            udev = provider.run(host, ["udevadm", "info", "-q", "property", f"/sys/class/net/{t.name}"]).stdout
            assert (host, t.name, shown) == (host, t.name, mac)
            assert "ID_NET_LINK_FILE=/etc/systemd/network/10-netlab-overlay.link" in udev, (host, t.name, udev)


def bounded_verify(session: Session, timeout: float) -> VerifyResult | None:
    """run_verify, or None after `timeout` s (a check may hang on a broken host; down ends it)."""
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(run_verify, session.lab, session.provider).result(timeout=timeout)
    except FutureTimeout:
        return None
    finally:
        pool.shutdown(wait=False)


@needs_vms
def test_overlay_comes_back_after_a_reboot(mix_lab: Session) -> None:
    """A hard reset the moment `up` reports success (a power cut for the guest's page cache): the
    files `up` has just written must be on disk, and the lab must come back by itself."""
    provider = mix_lab.provider
    assert isinstance(provider, QemuProvider)
    # An `up` that changes nothing writes nothing: take vmb's files away (durably), so that the
    # `up` below writes every one of them again.
    wipe = f"rm -rf {' '.join(HOST_FILES)} && systemctl daemon-reload && sync"
    assert provider.run("vmb", ["sh", "-c", wipe]).ok
    # udev may give a renamed NIC its old name as an altname (CI saw it on vmc): `up` must then
    # still leave vmc's eth1 alone. Give it the altname for sure.
    altname = "ip link show enp0s8 >/dev/null 2>&1 || ip link property add dev eth1 altname enp0s8"
    assert provider.run("vmc", ["sh", "-c", altname]).ok
    seen = provider.ready_count("vmb")
    up(mix_lab, quiet)
    provider.monitor_command("vmb", "system_reset")  # at once, and nothing is shut down cleanly
    started = time.monotonic()
    provider.wait_ready_again("vmb", seen)
    print(f"\nvmb ready again in {time.monotonic() - started:.0f} s")

    assert_comes_back(mix_lab, started)


def underlays(session: Session) -> str:
    """Every VM's underlay as the guest sees it (counters, neighbours) and as its QEMU sees it: when
    a host drops off the wire, this says on which side."""
    provider = session.provider
    assert isinstance(provider, QemuProvider)
    nic = session.lab.underlay.interface
    lines = []
    for host in session.lab.hosts:
        out = provider.run(host, ["sh", "-c", f"ip -s link show {nic}; ip neigh show dev {nic}; dmesg | tail -n 15"])
        network = qmp_command(provider.monitor(host), "human-monitor-command",
                              {"command-line": "info network"})
        lines += [f"-- {host} (guest):", out.stdout + out.stderr, f"-- {host} (QEMU):", network]
    return "\n".join(lines)


def assert_comes_back(session: Session, started: float) -> None:
    """After vmb's hard reset: its boot unit is active again and the whole lab verifies, each
    within a bounded time (else the failure says what vmb has)."""
    provider = session.provider

    def on_vmb() -> str:
        out = provider.run("vmb", ["sh", "-c", f"ls -ld {' '.join(HOST_FILES)} /etc/netlab/*; "
                                   "systemctl status --no-pager netlab-overlay.service; ip -br link"])
        return out.stdout + out.stderr

    # The boot unit runs after network-online, beyond sshd's READY.
    deadline = time.monotonic() + 120
    while (unit := provider.run("vmb", ["systemctl", "is-active", "netlab-overlay"]).stdout.strip()) != "active":
        if unit == "failed" or time.monotonic() > deadline:
            pytest.fail(f"netlab-overlay.service on vmb is {unit or 'unknown'} after the reset:\n{on_vmb()}")
        time.sleep(2)
    # Then the whole lab passes again, within a bounded time.
    deadline = time.monotonic() + 180
    while True:
        result = bounded_verify(session, timeout=300)
        if (result is not None and result.passed) or time.monotonic() > deadline:
            break
        time.sleep(5)
    if result is None:
        pytest.fail(f"verify did not finish within 300 s after vmb's reset; on vmb:\n{on_vmb()}")
    if not result.passed:
        pytest.fail(f"the lab did not come back after vmb's reset:\n{failures(result)}\non vmb:\n{on_vmb()}"
                    f"\n{underlays(session)}")
    print(f"lab back in {time.monotonic() - started:.0f} s after the reset")


@needs_vms
def test_overlay_comes_back_after_a_reboot_right_after_break_and_reset(mix_lab: Session) -> None:
    """netlab break, netlab reset, then at once a hard reset: what reset left must survive too."""
    from netlab import faults
    from netlab.configure.ipbatch import apply_ip_batch

    provider = mix_lab.provider
    assert isinstance(provider, QemuProvider)
    tunnel = mix_lab.lab.tunnels_of("vmb")[0]
    faults.apply(provider, "device-down", faults.Target("vmb", tunnel.name))
    assert apply_ip_batch(provider, quiet) == [f"vmb: {tunnel.name} rebuilt (the device is down)"]
    seen = provider.ready_count("vmb")
    provider.monitor_command("vmb", "system_reset")  # right after reset returned
    started = time.monotonic()
    provider.wait_ready_again("vmb", seen)
    assert_comes_back(mix_lab, started)
