"""The qemu provider: command lines, ports, multicast groups and SSH settings (fast, no VMs), and
one lab of three real VMs with every tunnel type: up, verify, reboot, verify, down (slow)."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

import pytest

from netlab.errors import NetlabError
from netlab.images import build as image_build
from netlab.images import build_image, cached_image, missing_tools
from netlab.lifecycle import Session, down, open_lab, up
from netlab.model import load_lab
from netlab.providers.qemu import (
    QemuProvider,
    VmSpec,
    free_port,
    mac_address,
    mgmt_network,
    pid_alive,
    ssh_config_text,
)
from netlab.providers.segments import choose_mcast, underlay_mcast, used_mcast
from netlab.state import LabState, Resource
from netlab.verify.runner import VerifyResult, run_verify

pytestmark = pytest.mark.qemu

DATA = Path(__file__).parent / "data"
MIX = DATA / "qemu-mix.yml"


def _why_no_vms() -> str | None:
    if shutil.which("qemu-system-x86_64") is None:
        return "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86 qemu-utils)"
    if os.geteuid() != 0:
        return "needs root to build the VM image (mmdebstrap --mode=root)"
    if cached_image() is None and missing_tools():
        return "no cached VM image and no tools to build one (apt-get install mmdebstrap e2fsprogs qemu-utils)"
    return None


needs_vms = pytest.mark.skipif(_why_no_vms() is not None, reason=_why_no_vms() or "")


def quiet(_: str) -> None:
    pass


def provider_for(path: Path) -> QemuProvider:
    lab = load_lab(path)
    return QemuProvider(lab, LabState(lab.name))


def spec(tmp_path: Path, accel: str = "tcg") -> VmSpec:
    image = image_build.Image(tmp_path / "img", {})
    return VmSpec(lab="mix", host="vma", image=image, disk=tmp_path / "vma.qcow2", serial=tmp_path / "vma.serial",
                  monitor=tmp_path / "vma.mon", pidfile=tmp_path / "vma.pid", ssh_port=40022,
                  mcast=("239.255.1.2", 45000), accel=accel, pubkey="ssh-ed25519 AAAAkey netlab-mix\n",
                  machine_id="0" * 32)


# -- the command line ---------------------------------------------------------------------------
def test_qemu_argv_has_fixed_slots_forwarded_ssh_and_the_multicast_underlay(tmp_path: Path) -> None:
    argv = spec(tmp_path).argv()
    line = " ".join(argv)
    assert argv[0] == "qemu-system-x86_64"
    assert "-accel tcg,tb-size=128 -m 384" in line
    assert "PIIX4_PM.acpi-root-pci-hotplug=off" in line
    assert "user,id=mgmt,net=10.0.2.0/24,hostfwd=tcp:127.0.0.1:40022-:22" in line
    assert "virtio-net-pci,netdev=mgmt,addr=0x3," in line
    assert "socket,id=underlay,mcast=239.255.1.2:45000,localaddr=127.0.0.1" in line
    assert "virtio-net-pci,netdev=underlay,addr=0x8," in line
    assert f"file:{tmp_path / 'vma.serial'}" in line
    assert argv[argv.index("-kernel") + 1] == str(tmp_path / "img" / "vmlinuz")


def test_kernel_cmdline_carries_hostname_and_the_labs_key(tmp_path: Path) -> None:
    cmdline = spec(tmp_path).kernel_cmdline()
    assert "root=/dev/vda" in cmdline and "console=ttyS0" in cmdline
    assert "systemd.hostname=vma" in cmdline
    key = next(w for w in cmdline.split() if w.startswith("netlab.ssh_key="))
    assert base64.b64decode(key.split("=", 1)[1]).decode() == "ssh-ed25519 AAAAkey netlab-mix"


def test_kvm_gets_more_memory_and_no_tcg_options(tmp_path: Path) -> None:
    line = " ".join(spec(tmp_path, accel="kvm").argv())
    assert "-accel kvm -m 512" in line and "tb-size" not in line


def test_macs_are_stable_and_distinct() -> None:
    macs = {mac_address("mix", h, n) for h in ("vma", "vmb", "vmc") for n in (3, 8)}
    assert len(macs) == 6
    assert mac_address("mix", "vma", 8) == mac_address("mix", "vma", 8)
    assert all(m.startswith("52:54:00:") for m in macs)


def test_management_network_avoids_the_labs_subnets() -> None:
    from netlab import catalog

    assert mgmt_network(load_lab(MIX)) == "10.0.2.0/24"
    # The catalog's gretap lab puts its overlay in 10.0.2.0/24, QEMU's (and VirtualBox's) default.
    assert mgmt_network(catalog.load("gretap")) == "172.31.255.0/24"


# -- ports and multicast groups -----------------------------------------------------------------
def test_free_port_is_bindable_and_avoids_taken_ones() -> None:
    first = free_port(set())
    second = free_port({first})
    assert second != first
    with socket.socket() as s:
        s.bind(("127.0.0.1", second))


def test_mcast_is_the_labs_own_unless_another_lab_has_it() -> None:
    assert choose_mcast("mix", set()) == underlay_mcast("mix")
    group, port = underlay_mcast("mix")
    other = choose_mcast("mix", {(group, port)})
    assert other[0] == group and other[1] != port


def test_used_mcast_reads_other_running_labs() -> None:
    LabState("other").write({"provider": "qemu", "qemu": {"mcast": ["239.255.9.9", 41000]}})
    LabState("mine").write({"provider": "qemu", "qemu": {"mcast": ["239.255.8.8", 42000]}})
    assert used_mcast("mine") == {("239.255.9.9", 41000)}


# -- SSH ----------------------------------------------------------------------------------------
def test_ssh_config_has_a_block_per_host_and_shared_connections(tmp_path: Path) -> None:
    text = ssh_config_text({"vma": 40001, "vmb": 40002}, tmp_path / "key", tmp_path)
    assert "Host vma\n  HostName 127.0.0.1\n  Port 40001" in text
    assert "Host vmb\n  HostName 127.0.0.1\n  Port 40002" in text
    for option in ("User root", f"IdentityFile {tmp_path / 'key'}", "ControlMaster auto", "ControlPersist",
                   f"ControlPath {tmp_path}/%C", "StrictHostKeyChecking no"):
        assert option in text


def test_reaching_hosts_uses_the_generated_ssh_config() -> None:
    p = provider_for(MIX)
    p.state.write({"provider": "qemu", "qemu": {"hosts": {"vma": {"port": 40001}}}})
    p.vm_dir.mkdir(parents=True)
    p.ssh_config.write_text("")
    argv = p.host_argv("vma", ["sh", "-c", "echo a b"])
    assert argv == ["ssh", "-F", str(p.ssh_config), "-T", "vma", "--", "sh -c 'echo a b'"]
    assert "-t" in p.host_argv("vma", ["bash"], interactive=True)
    conn = p.ansible_connection("vma")
    assert conn["ansible_connection"] == "ssh" and conn["ansible_host"] == "127.0.0.1"
    assert conn["ansible_port"] == 40001 and conn["ansible_user"] == "root"
    assert "ControlPersist" in conn["ansible_ssh_common_args"] and conn["ansible_become"] is False
    assert p.ansible_group_vars()["netlab_boot_unit"] is True
    assert p.testinfra_uri("vma") == f"ssh://vma?ssh_config={p.ssh_config}"


# -- stopping exactly what was started ------------------------------------------------------------
def test_destroy_stops_recorded_pids_only_and_removes_disks() -> None:
    p = provider_for(MIX)
    p.vm_dir.mkdir(parents=True)
    disk = p.disk("vma")
    disk.write_text("not really a disk")
    # A stand-in for a QEMU left over by a crash: its command line names the VM's disk.
    ours = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", str(disk)])
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        p.state.write({"provider": "qemu", "resources": []})
        p.state.record(Resource("disk", str(disk), {"host": "vma"}),
                       Resource("pid", str(ours.pid), {"host": "vma", "disk": str(disk)}),
                       Resource("pid", str(stranger.pid), {"host": "vmb", "disk": str(p.disk("vmb"))}))
        assert pid_alive(ours.pid, str(disk)) and not pid_alive(stranger.pid, str(disk))
        p.destroy(quiet)
        assert ours.wait(timeout=5) is not None
        assert stranger.poll() is None  # its command line is not a VM of this lab
        assert not disk.exists() and not p.vm_dir.exists()
    finally:
        for proc in (ours, stranger):
            proc.kill()
            proc.wait()


# -- the image recipe -----------------------------------------------------------------------------
def test_recipe_hash_changes_with_the_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    before = image_build.recipe_hash()
    assert before == image_build.recipe_hash()
    monkeypatch.setattr(image_build, "PACKAGES", (*image_build.PACKAGES, "less"))
    assert image_build.recipe_hash() != before


def test_image_has_what_labs_and_tools_need() -> None:
    for package in ("openssh-server", "python3", "iproute2", "fping", "tcpdump", "linux-image-cloud-amd64"):
        assert package in image_build.PACKAGES
    ready = image_build.FILES["etc/systemd/system/netlab-ready.service"]
    assert "After=ssh.service" in ready and "/dev/ttyS0" in ready


def test_missing_build_tool_names_its_debian_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(image_build, "images_root", lambda: tmp_path / "images")
    monkeypatch.setattr(image_build, "BUILD_TOOLS", {"mmdebstrap-not-here": "mmdebstrap"})
    monkeypatch.setattr(image_build, "missing_tools", lambda tools=None: [("mmdebstrap", "mmdebstrap")])
    with pytest.raises(NetlabError) as err:
        build_image()
    assert "mmdebstrap" in err.value.message and err.value.hint == "apt-get install mmdebstrap"


def test_image_cli_is_wired() -> None:
    proc = subprocess.run([sys.executable, "-m", "netlab", "image", "build", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "--force" in proc.stdout and "--mirror" in proc.stdout


# -- three real VMs -------------------------------------------------------------------------------
def failures(result: VerifyResult) -> str:
    lines = []
    for case in result.cases:
        outcome = result.outcome(case)
        if not outcome.passed:
            lines.append(f"{case.label}: {outcome.summary}")
            lines += [e.render() for e in outcome.evidence[:2]]
    return "\n".join(lines)


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
            pids = [int(r.name) for r in provider.state.resources("pid")]
            disks = [Path(r.name) for r in provider.state.resources("disk")]
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


# Everything netlab writes on a VM: its commands, the boot unit and its enable link, the .link file
# that names the underlay NIC. Without them the next `up` writes them all again, as on a new VM.
HOST_FILES = ("/etc/netlab", "/etc/systemd/system/netlab-overlay.service",
              "/etc/systemd/system/multi-user.target.wants/netlab-overlay.service",
              "/etc/systemd/network/10-netlab-underlay.link")


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
    seen = provider.ready_count("vmb")
    up(mix_lab, quiet)
    provider.monitor_command("vmb", "system_reset")  # at once, and nothing is shut down cleanly
    started = time.monotonic()
    provider.wait_ready_again("vmb", seen)
    print(f"\nvmb ready again in {time.monotonic() - started:.0f} s")

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
        result = bounded_verify(mix_lab, timeout=300)
        if (result is not None and result.passed) or time.monotonic() > deadline:
            break
        time.sleep(5)
    if result is None:
        pytest.fail(f"verify did not finish within 300 s after vmb's reset; on vmb:\n{on_vmb()}")
    if not result.passed:
        pytest.fail(f"the lab did not come back after vmb's reset:\n{failures(result)}\non vmb:\n{on_vmb()}")
    print(f"lab back in {time.monotonic() - started:.0f} s after the reset")
