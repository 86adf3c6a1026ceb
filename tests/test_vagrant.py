"""The Vagrant providers: parsing Vagrant's output, and libvirt labs brought up for real."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netlab.lifecycle import down, open_lab, up
from netlab.providers.vagrant import LibvirtProvider, VirtualboxProvider
from netlab.tools.libvirt import LIBVIRT_URI, volume_names
from netlab.tools.vagrant import machine_states
from netlab.verify.runner import run_verify

from .conftest import quiet

STATUS = """1700000000,boxA,metadata,provider,libvirt
1700000000,boxA,provider-name,libvirt
1700000000,boxA,state,running
1700000000,boxA,state-human-short,running
1700000000,boxB,state,not_created
1700000000,boxB,state-human-long,Not created. Run `vagrant up` to%!(VAGRANT_COMMA) then,extra
1700000000,,ui,info,Current machine states:
"""


def test_machine_readable_status_is_parsed_with_any_number_of_fields() -> None:
    assert machine_states(STATUS) == {"boxA": "running", "boxB": "not_created"}


def test_virtualbox_is_reported_missing_here_with_a_fix() -> None:
    if shutil.which("VBoxManage"):
        pytest.skip("VirtualBox is installed here")
    avail = VirtualboxProvider.availability(None)
    assert not avail.ok
    assert "VirtualBox" in avail.reason or "Vagrant" in avail.reason
    assert avail.fix


def _libvirt_ready() -> bool:
    return os.geteuid() == 0 and all(shutil.which(t) for t in ("vagrant", "virsh", "libvirtd", "qemu-system-x86_64"))


def _pid(pidfile: str) -> int | None:
    try:
        return int(Path(pidfile).read_text().strip())
    except (OSError, ValueError):
        return None


@pytest.fixture(scope="module")
def libvirtd() -> Iterator[None]:
    """libvirtd and virtlogd, started here when no service manager runs them (as in CI).

    libvirtd must not see a /dev/kvm that cannot run guests, or every call takes seconds: it
    runs in its own mount namespace with /dev/null bound over /dev/kvm (see FACTS.md).
    """
    if not _libvirt_ready():
        pytest.skip("needs root, vagrant, vagrant-libvirt, libvirt and QEMU (scripts/setup --test)")
    started: list[int] = []
    probe = subprocess.run(["virsh", "-c", LIBVIRT_URI, "uri"], capture_output=True, timeout=60)
    if probe.returncode != 0:
        subprocess.run(["virtlogd", "-d"], check=True)
        if os.path.exists("/dev/kvm"):
            subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                            "mount --bind /dev/null /dev/kvm && exec libvirtd -d"], check=True)
        else:
            subprocess.run(["libvirtd", "-d"], check=True)
        for pidfile in ("/run/virtlogd.pid", "/run/libvirtd.pid"):
            deadline = time.monotonic() + 10
            while _pid(pidfile) is None and time.monotonic() < deadline:
                time.sleep(0.1)
            pid = _pid(pidfile)
            if pid:
                started.append(pid)
        subprocess.run(["virsh", "-c", LIBVIRT_URI, "uri"], check=True, capture_output=True, timeout=120)
    yield
    for pid in reversed(started):  # only the daemons this fixture started, by their PIDs
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def virsh(*args: str) -> list[str]:
    out = subprocess.run(["virsh", "-c", LIBVIRT_URI, *args], capture_output=True, text=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


@pytest.mark.vagrant
@pytest.mark.slow
@pytest.mark.parametrize("lab", ["lab9", "lab10"])
def test_libvirt_lab_up_verify_down(lab: str, libvirtd: None) -> None:
    assert LibvirtProvider.availability(None).ok, LibvirtProvider.availability(None)
    session = open_lab(lab, "libvirt")
    prefix = f"netlab-{lab}-"
    try:
        up(session, quiet)
        assert {d for d in virsh("list", "--name") if d.startswith(prefix)} == {
            prefix + h for h in session.lab.hosts
        }
        result = run_verify(session.lab, session.provider)
        failed = {c.id: result.outcome(c).summary for c in result.cases if not result.outcome(c).passed}
        assert result.passed, failed
        assert {c.check for c in result.cases} >= {"ping", "params", "fdb", "socket", "mtu", "wire"}
    finally:
        down(session, quiet)
    assert [d for d in virsh("list", "--all", "--name") if d.startswith(prefix)] == []
    assert [v for v in volume_names() if v.startswith(prefix)] == []
    assert "vagrant-libvirt" not in virsh("net-list", "--all", "--name")
