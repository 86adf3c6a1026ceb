"""The qemu provider without VMs: command lines, MACs, ports, multicast groups, SSH settings, the
image recipe, and the tools under it (processes by PID and marker, QMP, the KVM probe's cache).

Fast: nothing here boots a VM (the QMP test starts a QEMU with no machine for a moment).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from netlab import labfolder
from netlab.errors import NetlabError
from netlab.images import build as image_build
from netlab.images import build_image
from netlab.model import load_lab
from netlab.providers.qemu import QemuProvider, labs_using_image
from netlab.providers.qemu import vm as qemu_vm
from netlab.providers.qemu.ssh import ssh_config_text
from netlab.providers.qemu.vm import VmSpec, free_port, mac_address, mgmt_network, underlay_rename_script
from netlab.providers.qemu.wires import lab_hubs, nic_hubs, underlay_names
from netlab.providers.segments import choose_mcast, qemu_hubs, segment_hubs, underlay_mcast, used_mcast
from netlab.state import LabState, Resource, StateRecord
from netlab.tools import qemu as qemu_tool
from netlab.tools.processes import pid_alive, stop_processes
from netlab.tools.qemu import qmp_command

from .conftest import needs_root, quiet

DATA = Path(__file__).parent / "data"
MIX = DATA / "qemu-mix.yml"


def provider_for(path: Path) -> QemuProvider:
    lab = load_lab(path)
    return QemuProvider(lab, LabState(lab.name))


def spec(tmp_path: Path, accel: str = "tcg") -> VmSpec:
    image = image_build.Image(tmp_path / "img", {})
    return VmSpec(lab="mix", host="vma", image=image, disk=tmp_path / "vma.qcow2", serial=tmp_path / "vma.serial",
                  monitor=tmp_path / "vma.qmp", pidfile=tmp_path / "vma.pid", ssh_port=40022,
                  underlay=(("239.255.1.2", 45000),), accel=accel, pubkey="ssh-ed25519 AAAAkey netlab-mix\n",
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


def test_a_router_vm_has_one_nic_per_segment_in_slots_8_9_10(tmp_path: Path) -> None:
    hubs = (("239.255.1.2", 45000), ("239.255.1.2", 45001), ("239.255.1.2", 45002))
    line = " ".join(replace(spec(tmp_path), underlay=hubs).argv())
    for index, (slot, port) in enumerate(((0x8, 45000), (0x9, 45001), (0xA, 45002))):
        netdev = "underlay" if index == 0 else f"underlay{index}"
        assert f"socket,id={netdev},mcast=239.255.1.2:{port},localaddr=127.0.0.1" in line
        assert f"virtio-net-pci,netdev={netdev},addr={slot:#x},mac={mac_address('mix', 'vma', slot)}" in line
    with pytest.raises(NetlabError):
        replace(spec(tmp_path), underlay=()).argv()


def test_routed_labs_put_each_nic_on_its_segments_hub() -> None:
    from netlab import catalog

    lab = catalog.load("leaf-spine")
    hubs = segment_hubs(list(lab.underlay.networks), ("239.255.3.3", 50000))
    assert len(set(hubs.values())) == 9
    assert nic_hubs(lab, "h2", hubs) == (hubs["rack2"],)
    assert nic_hubs(lab, "s1", hubs) == (hubs["l1-s1"], hubs["l2-s1"], hubs["l3-s1"])
    # Slots 8, 9, 10 come up as enp0s8, enp0s9, enp0s10: the names the lab model gives the NICs.
    assert list(lab.router_nics("s1").values()) == ["enp0s8", "enp0s9", "enp0s10"]
    assert underlay_names(lab, "s1") == ["enp0s8", "enp0s9", "enp0s10"]
    assert underlay_names(lab, "h1") == ["enp0s8"]
    # Hosts and routers are VMs; the management network avoids every segment.
    p = QemuProvider(lab, LabState(lab.name))
    assert p.lab.machines == ["h1", "h2", "h3", "l1", "l2", "l3", "s1", "s2"]
    assert mgmt_network(lab) == "10.0.2.0/24"


def test_routed_lab_hubs_are_recorded_and_kept(tmp_path: Path) -> None:
    from netlab import catalog

    lab = catalog.load("lab10-routed")
    first = lab_hubs(lab, {}, tmp_path)
    assert list(first) == ["left", "right"]
    (group, port), (group2, port2) = first.values()
    assert group == group2 and port2 == port + 1
    recorded = {"segments": {s: list(h) for s, h in first.items()}}
    assert lab_hubs(lab, recorded, tmp_path) == first


def test_the_monitor_is_qmp_on_a_unix_socket(tmp_path: Path) -> None:
    argv = spec(tmp_path).argv()
    assert argv[argv.index("-qmp") + 1] == f"unix:{tmp_path / 'vma.qmp'},server=on,wait=off"
    assert "-monitor" not in argv


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


# -- the underlay NIC's name, written durably -------------------------------------------------------
def test_underlay_link_is_written_to_a_temp_file_synced_and_moved(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    script = underlay_rename_script("eth1")
    steps = [script.index(s) for s in ("printf", "sync /etc/systemd/network/.10-netlab", "mv -f",
                                       "sync -f /etc/systemd/network", "name netlabtmp0",
                                       "ip link set dev netlabtmp0 name eth1")]
    assert steps == sorted(steps), script
    # Run it here against a scratch directory, with an `ip` that knows no enp0s8 (never this host's NICs).
    link = tmp_path / "network" / "10-netlab-underlay.link"
    link.parent.mkdir()
    link.write_text("old\n")
    monkeypatch.setattr(qemu_vm, "UNDERLAY_LINK", str(link))
    monkeypatch.setattr(qemu_vm, "SYSFS", str(tmp_path / "sys"))  # no PCI slots: never this host's NICs
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "ip").write_text("#!/bin/sh\nexit 1\n")
    (fake_bin / "ip").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}"}
    proc = subprocess.run(["sh", "-c", underlay_rename_script("eth1")], env=env, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert link.read_text() == "[Match]\nPath=pci-0000:00:08.0\n\n[Link]\nName=eth1\n"
    assert sorted(p.name for p in link.parent.iterdir()) == [link.name]  # no temporary file left
    # A router: one file per NIC (slots 8, 9), renamed through temporary names.
    proc = subprocess.run(["sh", "-c", underlay_rename_script("eth1", "eth2")], env=env, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    second = link.with_name("10-netlab-underlay-1.link")
    assert second.read_text() == "[Match]\nPath=pci-0000:00:09.0\n\n[Link]\nName=eth2\n"
    assert sorted(p.name for p in link.parent.iterdir()) == sorted([link.name, second.name])


def _link(ns: str, name: str) -> dict:
    out = subprocess.run(["ip", "-n", ns, "-j", "link", "show", "dev", name], capture_output=True, text=True,
                         timeout=10)
    return json.loads(out.stdout)[0] if out.returncode == 0 else {}


@needs_root
def test_a_renamed_nic_whose_old_name_is_an_altname_stays_up(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A second `up` on a VM whose eth1 carries udev's altname enp0s8: the script must leave eth1
    alone (same ifindex, still up). It used to ask `ip link show enp0s8`, which matches the altname,
    and set eth1 down. Real `ip` in a namespace; the PCI slots are a scratch sysfs."""
    ns = f"netlab-test-rename-{os.getpid()}"
    sysfs = tmp_path / "sys"
    # A virtio NIC's name is under virtioN/net (the VMs' case), another driver's under net.
    for nic in ("0000:00:08.0/virtio3/net/eth1", "0000:00:09.0/net/enp0s9"):
        (sysfs / "bus/pci/devices" / nic).mkdir(parents=True)
    link = tmp_path / "network" / "10-netlab-underlay.link"
    link.parent.mkdir()
    monkeypatch.setattr(qemu_vm, "UNDERLAY_LINK", str(link))
    monkeypatch.setattr(qemu_vm, "SYSFS", str(sysfs))
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=10)
    try:
        for cmd in (["link", "add", "eth1", "type", "veth", "peer", "name", "peer1"],
                    ["link", "property", "add", "dev", "eth1", "altname", "enp0s8"],
                    ["link", "set", "eth1", "up"],
                    ["link", "add", "enp0s9", "type", "veth", "peer", "name", "peer2"]):
            subprocess.run(["ip", "-n", ns, *cmd], check=True, timeout=10)
        before = _link(ns, "eth1")

        proc = subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", underlay_rename_script("eth1", "eth2")],
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        after = _link(ns, "eth1")
        assert after["ifindex"] == before["ifindex"] and "UP" in after["flags"], after
        # The NIC in slot 9 was still enp0s9: renamed, and up.
        assert "UP" in _link(ns, "eth2").get("flags", []) and not _link(ns, "enp0s9")
    finally:
        subprocess.run(["ip", "netns", "del", ns], timeout=10)


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
    # A routed lab takes a run of ports: none of them may be another lab's.
    group, port = choose_mcast("mix", {(group, port + 2)}, count=3)
    assert not {(group, port + k) for k in range(3)} & {(group, underlay_mcast("mix")[1] + 2)}
    # The run stays inside the range.
    assert choose_mcast("mix", set(), count=20000)[1] == 40000


def test_same_lab_name_under_two_state_roots_gets_two_wires() -> None:
    assert underlay_mcast("lab10-routed", "/tmp/a") != underlay_mcast("lab10-routed", "/tmp/b")
    assert underlay_mcast("lab10-routed", "") == underlay_mcast("lab10-routed")


def test_used_mcast_reads_other_running_labs() -> None:
    LabState("other").write(StateRecord(provider="qemu", provider_data={"mcast": ["239.255.9.9", 41000]}))
    LabState("mine").write(StateRecord(provider="qemu", provider_data={"mcast": ["239.255.8.8", 42000]}))
    LabState("routed").write(StateRecord(provider="qemu", provider_data={
        "mcast": ["239.255.7.7", 43000], "segments": {"a": ["239.255.7.7", 43000], "b": ["239.255.7.7", 43001]}}))
    assert used_mcast("mine", probe=False) == {("239.255.9.9", 41000), ("239.255.7.7", 43000),
                                               ("239.255.7.7", 43001)}


def test_hubs_of_running_qemus_are_read_from_their_command_lines() -> None:
    argvs = [
        ["qemu-system-x86_64", "-netdev", "socket,id=underlay,mcast=239.255.1.2:45000,localaddr=127.0.0.1",
         "-drive", "file=/s/other/qemu/h1.qcow2"],
        ["qemu-system-x86_64", "-netdev", "socket,id=underlay,mcast=239.255.5.5:47000,localaddr=127.0.0.1",
         "-drive", "file=/s/mine/qemu/h1.qcow2"],
        # libvirt writes netdevs as JSON
        ["qemu-system-x86_64", "-netdev", '{"type":"socket","mcast":"239.255.6.6:5558","id":"hostnet1"}'],
        ["qemu-system-x86_64", "-netdev", "user,id=mgmt"],
    ]
    assert qemu_hubs(argvs, exclude="/s/mine/qemu/") == {("239.255.1.2", 45000), ("239.255.6.6", 5558)}


def test_a_running_qemu_of_another_state_root_is_seen(tmp_path: Path) -> None:
    """Two test runs with different NETLAB_STATE_DIRs and the same lab name: the second must
    not join the first one's wire. A process whose command line names the hub stands in for QEMU
    (psutil reads names and command lines; nothing is signalled)."""
    from netlab.tools import processes

    group, port = underlay_mcast("lab10-routed", str(tmp_path / "other-root"))
    with child(f"socket,id=underlay,mcast={group}:{port},localaddr=127.0.0.1") as proc:
        name = psutil.Process(proc.pid).name()
        seen = qemu_hubs(processes.command_lines(name))
    assert (group, port) in seen


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
    p.state.write(StateRecord(provider="qemu", provider_data={"hosts": {"vma": {"port": 40001}}}))
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


# -- processes: by PID, confirmed by the command line ----------------------------------------------
@contextlib.contextmanager
def child(marker: str, ignore_term: bool = False) -> Iterator[subprocess.Popen[str]]:
    """A harmless sleeping child whose command line carries `marker`."""
    code = "import signal, sys, time\n"
    if ignore_term:
        code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    code += "print('ready', flush=True)\ntime.sleep(120)\n"
    proc = subprocess.Popen([sys.executable, "-c", code, marker], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(ChildProcessError):
            proc.wait(timeout=5)


def test_pid_alive_needs_the_marker_in_the_command_line(tmp_path: Path) -> None:
    marker = str(tmp_path / "vma.qcow2")
    with child(marker) as proc:
        assert pid_alive(proc.pid, marker)
        assert not pid_alive(proc.pid, str(tmp_path / "vmb.qcow2"))  # a PID is not proof on its own
    assert not pid_alive(proc.pid, marker)  # gone


def test_a_zombie_is_not_alive(tmp_path: Path) -> None:
    marker = str(tmp_path / "exits")
    proc = subprocess.Popen([sys.executable, "-c", "pass", marker])
    try:
        deadline = time.monotonic() + 10
        while psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE:  # exited, not reaped
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert not pid_alive(proc.pid, marker)
    finally:
        proc.wait(timeout=5)


def test_stop_processes_terminates_and_reaps_only_what_carries_the_marker(tmp_path: Path) -> None:
    marker = str(tmp_path / "vma.qcow2")
    with child(marker) as ours, child(str(tmp_path / "unrelated")) as stranger:
        started = time.monotonic()
        # The stranger's PID is listed with our marker (as after a PID reuse): it must survive.
        assert stop_processes({ours.pid: marker, stranger.pid: marker}, grace=5) == []
        assert time.monotonic() - started < 3  # SIGTERM is enough: no waiting out the grace
        assert not psutil.pid_exists(ours.pid)  # reaped, not left as a zombie
        assert stranger.poll() is None


def test_stop_processes_kills_what_ignores_sigterm_after_the_grace(tmp_path: Path) -> None:
    marker = str(tmp_path / "stubborn")
    with child(marker, ignore_term=True) as proc:
        started = time.monotonic()
        assert stop_processes({proc.pid: marker}, grace=0.5) == []
        assert 0.5 <= time.monotonic() - started < 5
        assert not psutil.pid_exists(proc.pid)


def test_destroy_stops_recorded_pids_only_and_removes_disks() -> None:
    p = provider_for(MIX)
    labfolder.make(p.state.dir)
    p.vm_dir.mkdir()
    disk = p.disk("vma")
    disk.write_text("not really a disk")
    # A stand-in for a QEMU left over by a crash: its command line names the VM's disk.
    ours = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", str(disk)])
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        p.state.write(StateRecord(provider="qemu"))
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


# -- QMP ------------------------------------------------------------------------------------------
needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None,
                                reason="qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)")


@needs_qemu
def test_monitor_command_speaks_qmp_to_a_real_qemu() -> None:
    p = provider_for(MIX)
    p.socket_dir.mkdir(parents=True, exist_ok=True)
    qmp = p.monitor("vma")
    # No machine, no disk, no display: a QEMU that only answers its monitor.
    proc = subprocess.Popen(["qemu-system-x86_64", "-nodefaults", "-display", "none", "-machine", "none",
                             "-qmp", f"unix:{qmp},server=on,wait=off"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not qmp.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "QEMU did not open its QMP socket"
            time.sleep(0.05)
        status = qmp_command(qmp, "query-status", timeout=5)
        assert status["status"] in ("running", "prelaunch")
        assert json.loads(p.monitor_command("vma", "system_reset")) == {}
        with pytest.raises(NetlabError, match="no-such-command"):
            p.monitor_command("vma", "no-such-command")
        assert json.loads(p.monitor_command("vma", "quit")) == {}
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        shutil.rmtree(p.socket_dir, ignore_errors=True)  # a short path under /tmp when the state's is long


def test_qmp_fails_fast_without_a_monitor(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(NetlabError, match="system_reset"):
        qmp_command(tmp_path / "nothing.qmp", "system_reset", timeout=5)
    assert time.monotonic() - started < 2


def test_qmp_gives_up_on_a_monitor_that_never_answers(tmp_path: Path) -> None:
    path = tmp_path / "silent.qmp"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True).start()
    try:
        started = time.monotonic()
        with pytest.raises(NetlabError, match="did not answer"):
            qmp_command(path, "system_reset", timeout=1)
        assert time.monotonic() - started < 4
    finally:
        for conn in accepted:
            conn.close()
        server.close()


# -- the KVM probe's answer -------------------------------------------------------------------------
def test_accelerator_honours_the_override_and_the_cached_probe(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    qemu_tool.accelerator.cache_clear()
    assert qemu_tool.accelerator("/no/kernel", tmp_path, "tcg") == "tcg"
    assert qemu_tool.accelerator("/no/kernel", tmp_path, "kvm") == "kvm"
    # A usable-looking /dev/kvm and a saved answer for this kernel and QEMU build: no probe runs.
    monkeypatch.setattr(qemu_tool.os, "access", lambda *_: True)
    monkeypatch.setattr(qemu_tool.subprocess, "run", lambda *a, **k: pytest.fail("the probe ran"))
    (tmp_path / qemu_tool.PROBE_FILE).write_text(json.dumps({"key": qemu_tool._probe_key(), "accel": "kvm"}))
    assert qemu_tool.accelerator("/no/kernel", tmp_path) == "kvm"
    qemu_tool.accelerator.cache_clear()


# -- the image recipe, and who uses an image ------------------------------------------------------------
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


def test_a_forced_rebuild_refuses_while_the_caller_says_a_lab_uses_the_image(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(image_build, "images_root", lambda: tmp_path / "images")
    image_build.image_dir().mkdir(parents=True)
    asked: list[Path] = []

    def in_use(d: Path) -> list[str]:
        asked.append(d)
        return ["lab10"]

    with pytest.raises(NetlabError, match="in use by lab lab10"):
        build_image(force=True, in_use=in_use)
    assert asked == [image_build.image_dir()]


def test_labs_using_an_image_come_from_the_qemu_state(tmp_path: Path) -> None:
    LabState("a").write(StateRecord(provider="qemu", provider_data={"image": str(tmp_path / "img1")}))
    LabState("b").write(StateRecord(provider="qemu", provider_data={"image": str(tmp_path / "img2")}))
    LabState("c").write(StateRecord(provider="netns"))
    assert labs_using_image(tmp_path / "img1") == ["a"]
    assert labs_using_image(tmp_path / "img3") == []


def test_image_cli_is_wired() -> None:
    proc = subprocess.run([sys.executable, "-m", "netlab", "image", "build", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "--force" in proc.stdout and "--mirror" in proc.stdout
