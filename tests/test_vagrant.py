"""The Vagrant providers: parsing Vagrant's output, and libvirt labs brought up for real."""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import filelock
import pytest

from netlab.errors import NetlabError
from netlab.lifecycle import down, open_lab, up
from netlab.providers.vagrant import Claim, LibvirtProvider, VirtualboxProvider
from netlab.state import StateRecord
from netlab.tools import libvirt
from netlab.tools.libvirt import LIBVIRT_URI, volume_names
from netlab.tools.vagrant import machine_states
from netlab.verify.runner import run_verify

from .conftest import quiet

NETLAB = [sys.executable, "-m", "netlab"]

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


DOMAIN_XML = """<domain type='qemu'>
  <name>netlab-lab9-boxA</name>
  <uuid>4782fe40-0a57-4e2b-aa82-b89eaa061d5a</uuid>
  <description>Source: /tmp/s/lab9/work/Vagrantfile</description>
</domain>"""


def test_a_domain_names_the_vagrantfile_that_made_it() -> None:
    made = libvirt.parse_domain("netlab-lab9-boxA", DOMAIN_XML)
    assert made == libvirt.Domain("netlab-lab9-boxA", "4782fe40-0a57-4e2b-aa82-b89eaa061d5a",
                                  Path("/tmp/s/lab9/work/Vagrantfile"))
    by_hand = libvirt.parse_domain("x", DOMAIN_XML.replace("Source: /tmp/s/lab9/work/Vagrantfile", "my VM"))
    assert by_hand is not None and by_hand.vagrantfile is None
    assert libvirt.parse_domain("x", "not xml") is None


def test_a_domain_belongs_to_the_state_whose_vagrant_knows_it(tmp_path: Path) -> None:
    provider = open_lab("lab9", "libvirt").provider
    assert isinstance(provider, LibvirtProvider)
    elsewhere = tmp_path / "root" / "lab9"

    def domain(maker: Path | None, uuid: str = "u-1") -> libvirt.Domain:
        return libvirt.Domain("netlab-lab9-boxA", uuid, maker / "work" / "Vagrantfile" if maker else None)

    def knows(state_dir: Path, uuid: str) -> None:
        id_file = state_dir / "work" / ".vagrant" / "machines" / "boxA" / "libvirt" / "id"
        id_file.parent.mkdir(parents=True, exist_ok=True)
        id_file.write_text(uuid)

    here = provider.state.dir
    assert provider.claim(domain(None), "boxA") is Claim.FOREIGN
    assert provider.claim(domain(here), "boxA") is Claim.ORPHAN  # our up was killed before Vagrant wrote the id
    knows(here, "u-1")
    assert provider.claim(domain(here), "boxA") is Claim.OURS
    assert provider.claim(domain(here, "u-2"), "boxA") is Claim.ORPHAN
    assert provider.claim(domain(elsewhere), "boxA") is Claim.ORPHAN  # that state is gone
    elsewhere.mkdir(parents=True)
    lock = filelock.FileLock(str(elsewhere.parent / ".lab9.lock"))
    with lock:  # a netlab command there is bringing it up right now: its id may come any moment
        assert provider.claim(domain(elsewhere), "boxA") is Claim.ELSEWHERE
    assert provider.claim(domain(elsewhere), "boxA") is Claim.ORPHAN
    knows(elsewhere, "u-1")
    assert provider.claim(domain(elsewhere), "boxA") is Claim.ELSEWHERE


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
    _down_labs_of_killed_test_runs()
    yield
    for pid in reversed(started):  # only the daemons this fixture started, by their PIDs
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def _down_labs_of_killed_test_runs() -> None:
    """A run of these tests that was killed leaves its labs up, in a state folder under pytest's
    temporary root; their domains would stand in the way of this run's labs of the same name.
    Taken down as netlab's error says to, from that folder (nothing else is touched)."""
    runs = Path(tempfile.gettempdir()) / f"pytest-of-{getpass.getuser()}"
    for name in virsh("list", "--all", "--name"):
        domain = libvirt.domain(name)
        if not name.startswith("netlab-") or domain is None or domain.vagrantfile is None:
            continue
        state_dir = domain.vagrantfile.parent.parent  # <state root>/<lab>/work/Vagrantfile
        if state_dir.is_relative_to(runs) and (state_dir / "state.json").exists():
            subprocess.run([*NETLAB, "down", state_dir.name], env={**os.environ, "NETLAB_STATE_DIR":
                           str(state_dir.parent)}, capture_output=True, timeout=600)


def virsh(*args: str) -> list[str]:
    out = subprocess.run(["virsh", "-c", LIBVIRT_URI, *args], capture_output=True, text=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


@pytest.mark.vagrant
@pytest.mark.slow
@pytest.mark.parametrize("lab", ["lab10"])  # lab9: test_libvirt_up_after_an_up_killed_half_way
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


def _id_files(workdir: Path, hosts: list[str]) -> list[Path]:
    return [workdir / ".vagrant" / "machines" / h / "libvirt" / "id" for h in hosts]


@pytest.mark.vagrant
@pytest.mark.slow
def test_libvirt_up_after_an_up_killed_half_way(libvirtd: None, tmp_path: Path) -> None:
    """`up` killed once its domains exist: another state's `up` of the same lab refuses and says
    where they come from; once that state is gone they are nobody's, and `up` clears them and
    brings the lab up."""
    session = open_lab("lab9", "libvirt")
    prefix = "netlab-lab9-"
    other = tmp_path / "killed"
    env = {**os.environ, "NETLAB_STATE_DIR": str(other)}
    killed = subprocess.Popen([*NETLAB, "-q", "up", "lab9", "--provider", "libvirt"], env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    workdir = other / "lab9" / "work"
    try:
        deadline = time.monotonic() + 600
        # Half way: both domains defined and Vagrant's ids written, the machines not yet configured.
        while not all(p.exists() for p in _id_files(workdir, ["boxA", "boxB"])):
            assert killed.poll() is None, f"up ended by itself (exit {killed.returncode}) before it was killed"
            assert time.monotonic() < deadline, "up made no domains within 600 s"
            time.sleep(0.5)
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait(timeout=60)
        assert StateRecord.model_validate_json((other / "lab9" / "state.json").read_text()).phase == "creating"
        left = {d for d in virsh("list", "--all", "--name") if d.startswith(prefix)}
        assert left == {prefix + "boxA", prefix + "boxB"}

        with pytest.raises(NetlabError) as refused:
            up(session, quiet)
        assert str(other / "lab9") in refused.value.message, refused.value.message
        assert refused.value.hint is not None and f"NETLAB_STATE_DIR={other}" in refused.value.hint
        assert {d for d in virsh("list", "--all", "--name") if d.startswith(prefix)} == left

        shutil.rmtree(other)  # the state that knew the domains is gone: they are nobody's now
        said: list[str] = []
        session = open_lab("lab9", "libvirt")
        up(session, said.append)
        assert sum("left by a `vagrant up` that was stopped" in line for line in said) == 2, said
        result = run_verify(session.lab, session.provider)
        assert result.passed, {c.id: result.outcome(c).summary for c in result.cases if not result.outcome(c).passed}
    finally:
        if killed.poll() is None:
            os.killpg(killed.pid, signal.SIGKILL)
            killed.wait(timeout=60)
        if (other / "lab9" / "state.json").exists():
            subprocess.run([*NETLAB, "down", "lab9"], env=env, capture_output=True, timeout=600)
        down(session, quiet)
    assert [d for d in virsh("list", "--all", "--name") if d.startswith(prefix)] == []
    assert [v for v in volume_names() if v.startswith(prefix)] == []
