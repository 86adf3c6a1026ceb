"""The qemu provider: one QEMU VM per host, booted straight from netlab's Debian image.

Every VM gets a qcow2 overlay on the shared base image (a few MB each), two NICs in fixed PCI
slots so they come out as enp0s3 (management) and enp0s8 (underlay), and a direct kernel boot
whose command line carries the hostname and the lab's SSH key. Management is QEMU user
networking with a forwarded SSH port on 127.0.0.1; the underlay is a QEMU socket multicast hub,
which makes all VMs of a lab one L2 segment without root, bridges or taps. A unit in the image
prints a marker on the serial console once sshd is up: that is when a VM is ready.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from netlab.errors import NetlabError
from netlab.images import Image, build_image, missing_tools
from netlab.images.build import READY_MARKER, images_root
from netlab.macs import stable_mac
from netlab.model import Lab
from netlab.providers.base import Availability, HostStatus, Progress, Provider
from netlab.providers.segments import choose_mcast, used_mcast
from netlab.settings import settings
from netlab.state import Resource

QEMU = "qemu-system-x86_64"
# What a VM needs besides the image: the emulator, the disk tool and the SSH client.
RUN_TOOLS = {QEMU: "qemu-system-x86", "qemu-img": "qemu-utils", "ssh": "openssh-client",
             "ssh-keygen": "openssh-client"}
MGMT_SLOT, UNDERLAY_SLOT, DISK_SLOT, RNG_SLOT = 0x3, 0x8, 0x5, 0x6
DEFAULT_UNDERLAY_NIC = f"enp0s{UNDERLAY_SLOT}"
# Under emulation (no KVM) a VM needs about 380 MB with a bounded translation cache (FACTS.md).
TCG_MEMORY_MB, KVM_MEMORY_MB = 384, 512
BOOT_TIMEOUT = {"tcg": 300.0, "kvm": 90.0}
SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; leave room for ssh's temporary suffix


# -- machine-wide facts -------------------------------------------------------------------------
def _probe_key() -> str:
    qemu = shutil.which(QEMU) or ""
    mtime = os.stat(qemu).st_mtime if qemu else 0
    return f"{os.uname().release}|{qemu}|{mtime}"


@cache
def accelerator(kernel: str) -> str:
    """'kvm' only if a short probe proves KVM runs a guest here, else 'tcg'.

    /dev/kvm can exist while guests hang, so the probe boots the kernel without a root disk
    under KVM: a working KVM panics and exits (panic=-1, -no-reboot) within a few seconds.
    The answer is cached per host kernel and QEMU build; NETLAB_QEMU_ACCEL=tcg|kvm overrides.
    """
    forced = settings().qemu_accel
    if forced in ("tcg", "kvm"):
        return forced
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    cache_file = images_root() / "kvm-probe.json"
    with contextlib.suppress(OSError, ValueError):
        saved = json.loads(cache_file.read_text())
        if saved.get("key") == _probe_key():
            return saved["accel"]
    argv = [QEMU, "-accel", "kvm", "-m", "128", "-nodefaults", "-display", "none", "-no-reboot",
            "-serial", "stdio", "-kernel", kernel, "-append", "console=ttyS0 panic=-1"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=8)
        accel = "kvm" if "Kernel panic" in proc.stdout or "VFS" in proc.stdout else "tcg"
    except subprocess.TimeoutExpired:
        accel = "tcg"
    with contextlib.suppress(OSError):
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        cache_file.write_text(json.dumps({"key": _probe_key(), "accel": accel}))
    return accel


def free_port(taken: set[int]) -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (and not one handed out already)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in taken:
            return port
    raise NetlabError("found no free TCP port on 127.0.0.1 for SSH forwarding")


# QEMU's user network defaults to 10.0.2.0/24 (like VirtualBox NAT), which teaching labs use too
# (the catalog's gretap lab does): a VM whose overlay covers its own gateway loses SSH.
MGMT_NETWORKS = ("10.0.2.0/24", "172.31.255.0/24", "10.255.254.0/24", "100.127.255.0/24")


def mgmt_network(lab: Lab) -> str:
    """The first management subnet that overlaps neither the underlay nor any tunnel address."""
    used = [lab.underlay.network]
    for tunnel in lab.tunnels:
        for address in tunnel.endpoints.values():
            net = ipaddress.ip_interface(address).network
            if net.version == 4:
                used.append(net)
    for candidate in MGMT_NETWORKS:
        net = ipaddress.IPv4Network(candidate)
        if not any(net.overlaps(u) for u in used):
            return candidate
    raise NetlabError(f"lab {lab.name} uses every subnet netlab could give the VMs' management NIC",
                      hint=f"keep one of {', '.join(MGMT_NETWORKS)} free of lab addresses")


def mac_address(lab: str, host: str, nic: int) -> str:
    """Stable, locally administered MAC (QEMU's 52:54:00 prefix), unique per lab, host and NIC."""
    return stable_mac(lab, host, f"nic{nic}", prefix="52:54:00")


def pid_alive(pid: int, marker: str) -> bool:
    """Whether `pid` is still the QEMU we started: its command line must contain `marker`
    (a PID reused by another program after a crash is never ours to stop)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    if not cmdline or marker not in cmdline:
        return False
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":  # exited, not yet reaped by its parent
            return False
    return True


@dataclass(frozen=True)
class VmSpec:
    """Everything that makes up one VM's command line."""

    lab: str
    host: str
    image: Image
    disk: Path
    serial: Path
    monitor: Path
    pidfile: Path
    ssh_port: int
    mcast: tuple[str, int]
    accel: str
    pubkey: str
    machine_id: str
    mgmt_net: str = MGMT_NETWORKS[0]

    @property
    def process_name(self) -> str:
        return f"netlab-{self.lab}-{self.host}"

    def kernel_cmdline(self) -> str:
        key = base64.b64encode(self.pubkey.strip().encode()).decode()
        return (f"root=/dev/vda rw console=ttyS0 quiet systemd.hostname={self.host} "
                f"systemd.machine_id={self.machine_id} netlab.ssh_key={key}")

    def argv(self) -> list[str]:
        memory = TCG_MEMORY_MB if self.accel == "tcg" else KVM_MEMORY_MB
        accel = "tcg,tb-size=128" if self.accel == "tcg" else "kvm"
        group, port = self.mcast
        return [
            QEMU, "-name", self.process_name,  # keeps the comm qemu-system-x86: pgrep qemu-system finds it
            "-machine", "pc", "-accel", accel, "-m", str(memory), "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none",
            # Without ACPI hotplug on the root bus, udev names NICs by slot: enp0s3, enp0s8.
            "-global", "PIIX4_PM.acpi-root-pci-hotplug=off",
            "-kernel", str(self.image.kernel), "-initrd", str(self.image.initrd),
            "-append", self.kernel_cmdline(),
            "-drive", f"file={self.disk},if=none,id=root,format=qcow2,discard=unmap",
            "-device", f"virtio-blk-pci,drive=root,addr={DISK_SLOT:#x}",
            "-netdev", f"user,id=mgmt,net={self.mgmt_net},hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22",
            "-device", f"virtio-net-pci,netdev=mgmt,addr={MGMT_SLOT:#x},"
                       f"mac={mac_address(self.lab, self.host, MGMT_SLOT)}",
            "-netdev", f"socket,id=underlay,mcast={group}:{port},localaddr=127.0.0.1",
            "-device", f"virtio-net-pci,netdev=underlay,addr={UNDERLAY_SLOT:#x},"
                       f"mac={mac_address(self.lab, self.host, UNDERLAY_SLOT)}",
            "-device", f"virtio-rng-pci,addr={RNG_SLOT:#x}",  # sshd must not wait for entropy
            "-serial", f"file:{self.serial}",
            "-monitor", f"unix:{self.monitor},server=on,wait=off",
            "-pidfile", str(self.pidfile),
        ]


def ssh_config_text(hosts: dict[str, int], key: Path, control_dir: Path) -> str:
    """One Host block per VM (its forwarded port) and shared options for all, Ansible included."""
    blocks = [f"Host {h}\n  HostName 127.0.0.1\n  Port {port}\n" for h, port in hosts.items()]
    blocks.append(
        "Host *\n"
        "  User root\n"
        f"  IdentityFile {key}\n"
        "  IdentitiesOnly yes\n"
        # Every lab's VMs share the image's host keys and ports get reused: never pin them.
        "  StrictHostKeyChecking no\n"
        "  UserKnownHostsFile /dev/null\n"
        "  LogLevel ERROR\n"
        "  BatchMode yes\n"
        "  ConnectTimeout 20\n"
        "  ServerAliveInterval 10\n"
        # One TCP connection per VM for all commands: a new SSH handshake under emulation is slow.
        "  ControlMaster auto\n"
        f"  ControlPath {control_dir}/%C\n"
        "  ControlPersist 120s\n"
    )
    return "# netlab: SSH to this lab's VMs (ssh -F this-file HOST)\n" + "\n".join(blocks)


class QemuProvider(Provider):
    name = "qemu"
    description = "QEMU VMs booted from a local Debian image: every tunnel type, no Vagrant"
    reply_timeout = 3.0
    max_parallel_commands = 6

    @classmethod
    def availability(cls, lab: Lab | None = None) -> Availability:
        if os.uname().sysname != "Linux":
            return Availability(False, "the qemu provider runs on Linux", "use --provider virtualbox")
        missing = missing_tools(RUN_TOOLS)
        if missing:
            tools = ", ".join(t for t, _ in missing)
            return Availability(False, f"{tools} not installed",
                                f"apt-get install {' '.join(sorted({p for _, p in missing}))}")
        from netlab.images import cached_image

        if cached_image() is None:
            need = missing_tools()
            if need:
                return Availability(False, f"no VM image yet, and {', '.join(t for t, _ in need)} "
                                    "is needed to build it",
                                    f"apt-get install {' '.join(sorted({p for _, p in need}))}")
            if os.geteuid() != 0:
                return Availability(False, "no VM image yet, and building it needs root",
                                    "sudo netlab image build")
            return Availability(True, "QEMU is installed (the VM image is built on first use)")
        return Availability(True, "QEMU is installed and the VM image is built")

    # -- where things live --------------------------------------------------------------------
    @property
    def vm_dir(self) -> Path:
        return self.state.dir / "qemu"

    @property
    def key(self) -> Path:
        return self.vm_dir / "id_ed25519"

    @property
    def ssh_config(self) -> Path:
        return self.vm_dir / "ssh_config"

    @property
    def socket_dir(self) -> Path:
        """Monitor and SSH control sockets: in the lab's folder unless that path is too long."""
        if len(str(self.vm_dir)) + 50 < SOCKET_PATH_MAX:
            return self.vm_dir
        tag = zlib.crc32(str(self.state.dir).encode())
        return Path(tempfile.gettempdir()) / f"netlab-{os.getuid()}-{tag:08x}"

    def disk(self, host: str) -> Path:
        return self.vm_dir / f"{host}.qcow2"

    def serial_log(self, host: str) -> Path:
        return self.vm_dir / f"{host}.serial"

    def pidfile(self, host: str) -> Path:
        return self.vm_dir / f"{host}.pid"

    def monitor(self, host: str) -> Path:
        return self.socket_dir / f"{host}.mon"

    def _info(self) -> dict[str, Any]:
        return dict(self.state.read().provider_data)

    def _port(self, host: str) -> int:
        port = self._info().get("hosts", {}).get(host, {}).get("port")
        if port is None:
            raise NetlabError(f"host {host} of lab {self.lab.name} has no VM", hint=f"netlab up {self.lab.name}")
        return int(port)

    def pid(self, host: str) -> int | None:
        """The running QEMU of `host`, if any (from the state, else QEMU's own pidfile)."""
        candidates = [int(r.name) for r in self.state.resources("pid") if (r.extra or {}).get("host") == host]
        with contextlib.suppress(OSError, ValueError):
            candidates.append(int(self.pidfile(host).read_text().strip()))
        for pid in reversed(candidates):
            if pid_alive(pid, str(self.disk(host))):
                return pid
        return None

    # -- create ---------------------------------------------------------------------------------
    def create(self, progress: Progress) -> None:
        available = self.availability(self.lab)
        if not available.ok:
            raise NetlabError(f"qemu cannot run lab {self.lab.name}: {available.reason}", available.fix)
        image = build_image(progress=progress)
        self.state.record(*(Resource("dir", d) for d in dict.fromkeys((str(self.vm_dir), str(self.socket_dir)))))
        self.vm_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._make_key()
        info = self._info()
        mcast = tuple(info["mcast"]) if info.get("mcast") else choose_mcast(self.lab.name, used_mcast(self.lab.name))
        accel = accelerator(str(image.kernel))
        hosts: dict[str, Any] = dict(info.get("hosts", {}))
        to_boot = [h for h in self.lab.hosts if self.pid(h) is None]
        if info.get("image") not in (None, str(image.dir)):
            # The image was rebuilt since these disks were made: their backing file is another.
            for host in to_boot:
                self.disk(host).unlink(missing_ok=True)
        taken = {int(v["port"]) for h, v in hosts.items() if h not in to_boot}
        for host in to_boot:
            port = free_port(taken)
            taken.add(port)
            hosts[host] = {"port": port, "machine_id": hosts.get(host, {}).get("machine_id") or uuid.uuid4().hex}
        self.state.set(provider_data={"image": str(image.dir), "mcast": list(mcast), "accel": accel, "hosts": hosts})
        self._write_ssh_config()
        if to_boot:
            progress(f"booting {len(to_boot)} VMs ({accel}; {', '.join(to_boot)}) on underlay "
                     f"{mcast[0]}:{mcast[1]}")
            started = time.monotonic()
            specs = [self._spec(h, image, mcast, accel, hosts[h]) for h in to_boot]
            for spec in specs:
                self._start(spec)
            self._wait_ready(specs)
            progress(f"VMs ready in {time.monotonic() - started:.0f} s")
        self._check_ssh(progress)
        self._rename_underlay()

    def _make_key(self) -> None:
        if self.key.exists():
            return
        self.state.record(Resource("key", str(self.key)))
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"netlab-{self.lab.name}",
                        "-f", str(self.key)], check=True, capture_output=True)
        self.key.chmod(0o600)

    def _write_ssh_config(self) -> None:
        ports = {h: v["port"] for h, v in self._info().get("hosts", {}).items()}
        self.ssh_config.write_text(ssh_config_text(ports, self.key, self.socket_dir))

    def _spec(self, host: str, image: Image, mcast: tuple[str, int], accel: str, info: dict[str, Any]) -> VmSpec:
        return VmSpec(
            lab=self.lab.name, host=host, image=image, disk=self.disk(host), serial=self.serial_log(host),
            monitor=self.monitor(host), pidfile=self.pidfile(host), ssh_port=int(info["port"]),
            mcast=mcast, accel=accel, pubkey=self.key.with_suffix(".pub").read_text(),
            machine_id=info["machine_id"], mgmt_net=mgmt_network(self.lab),
        )

    def _start(self, spec: VmSpec) -> None:
        self.state.record(Resource("disk", str(spec.disk), {"host": spec.host}))
        if not spec.disk.exists():
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(spec.image.disk), "-F", "qcow2",
                            str(spec.disk)], check=True, capture_output=True, text=True)
        for stale in (spec.serial, spec.monitor, spec.pidfile):
            stale.unlink(missing_ok=True)
        log = (self.vm_dir / f"{spec.host}.log").open("w")
        # Its own session: a Ctrl-C at the terminal must not kill the lab's VMs halfway.
        proc = subprocess.Popen(spec.argv(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        self.state.record(Resource("pid", str(proc.pid), {"host": spec.host, "disk": str(spec.disk)}))

    def _wait_ready(self, specs: list[VmSpec]) -> None:
        accel = specs[0].accel
        started = time.monotonic()
        waiting = {s.host: s for s in specs}
        retried: set[str] = set()
        while waiting:
            for host, spec in list(waiting.items()):
                if READY_MARKER in _read(spec.serial):
                    del waiting[host]
                # Two seconds' grace: until QEMU has exec'd, its PID's command line is not QEMU's.
                elif time.monotonic() - started > 2 and self.pid(host) is None:
                    if host in retried or "forward" not in _read(self.vm_dir / f"{host}.log"):
                        raise self._boot_error(host, "QEMU exited")
                    # Another program took the SSH port between our probe and QEMU's bind.
                    retried.add(host)
                    waiting[host] = self._restart_on_new_port(spec)
            if waiting and time.monotonic() - started > BOOT_TIMEOUT[accel]:
                raise self._boot_error(sorted(waiting)[0], f"not ready after {BOOT_TIMEOUT[accel]:.0f} s")
            time.sleep(0.5)

    def _restart_on_new_port(self, spec: VmSpec) -> VmSpec:
        info = self._info()
        port = free_port({int(v["port"]) for v in info["hosts"].values()})
        info["hosts"][spec.host]["port"] = port
        self.state.set(provider_data=info)
        self._write_ssh_config()
        spec = replace(spec, ssh_port=port)
        self._start(spec)
        return spec

    def _boot_error(self, host: str, what: str) -> NetlabError:
        qemu_log = _read(self.vm_dir / f"{host}.log").strip()[-1500:]
        serial = "\n".join(_read(self.serial_log(host)).splitlines()[-15:])
        return NetlabError(
            f"VM {host} of lab {self.lab.name}: {what}\n  qemu: {qemu_log or '(nothing)'}\n  console:\n{serial}",
            hint=f"netlab down {self.lab.name}, then up again; the console log is {self.serial_log(host)}",
        )

    def _check_ssh(self, progress: Progress) -> None:
        """One SSH login per VM (it also opens the shared connection every later command reuses)."""
        def attempt(host: str) -> str | None:
            result = None
            for _ in range(10):
                result = self.run(host, ["true"], timeout=30)
                if result.ok:
                    return None
                time.sleep(2)
            return f"{host}: {(result.stderr if result else '').strip()}"

        with ThreadPoolExecutor(max_workers=len(self.lab.hosts)) as pool:
            failures = [f for f in pool.map(attempt, self.lab.hosts) if f]
        if failures:
            raise NetlabError("SSH to the VMs failed: " + "; ".join(failures),
                              hint=f"try: ssh -F {self.ssh_config} {self.lab.hosts[0] if self.lab.hosts else ''}")

    def _rename_underlay(self) -> None:
        """Labs may name the underlay NIC; the VMs call it enp0s8 (its PCI slot) until told."""
        name = self.lab.underlay.interface
        if name == DEFAULT_UNDERLAY_NIC:
            return
        link = (f"[Match]\nPath=pci-0000:00:{UNDERLAY_SLOT:02x}.0\n\n[Link]\nName={name}\n")
        script = (f"printf '{link}' > /etc/systemd/network/10-netlab-underlay.link; "
                  f"if ip link show {DEFAULT_UNDERLAY_NIC} >/dev/null 2>&1; then "
                  f"ip link set {DEFAULT_UNDERLAY_NIC} down && ip link set {DEFAULT_UNDERLAY_NIC} name {name}; fi")
        for host in self.lab.hosts:
            result = self.run(host, ["sh", "-c", script])
            if not result.ok:
                raise NetlabError(f"renaming the underlay NIC to {name} on {host} failed: {result.stderr.strip()}")

    # -- destroy --------------------------------------------------------------------------------
    def destroy(self, progress: Progress) -> None:
        self._close_ssh()
        pids = self._recorded_pids()
        if pids:
            progress(f"stopping {len(pids)} VMs")
        survivors = stop_processes(pids)
        if survivors:
            raise NetlabError(f"could not stop QEMU processes {', '.join(map(str, survivors))}",
                              hint="look at them with ps; netlab down again once they are gone")
        for res in self.state.resources():
            if res.kind in ("disk", "key"):
                Path(res.name).unlink(missing_ok=True)
                if res.kind == "key":
                    Path(res.name).with_suffix(".pub").unlink(missing_ok=True)
        for res in self.state.resources("dir"):
            shutil.rmtree(res.name, ignore_errors=True)
        shutil.rmtree(self.vm_dir, ignore_errors=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    def _recorded_pids(self) -> dict[int, str]:
        """{pid: marker} of every QEMU this lab may have started, still ours and running."""
        found: dict[int, str] = {}
        for res in self.state.resources("pid"):
            disk = (res.extra or {}).get("disk", "")
            if disk and pid_alive(int(res.name), disk):
                found[int(res.name)] = disk
        for host in self.lab.hosts:  # a crash between starting QEMU and recording its PID
            with contextlib.suppress(OSError, ValueError):
                pid = int(self.pidfile(host).read_text().strip())
                if pid_alive(pid, str(self.disk(host))):
                    found[pid] = str(self.disk(host))
        return found

    def _close_ssh(self) -> None:
        if not self.ssh_config.exists():
            return
        for host in self._info().get("hosts", {}):
            subprocess.run(["ssh", "-F", str(self.ssh_config), "-O", "exit", host],
                           capture_output=True, timeout=10, check=False)

    # -- status ---------------------------------------------------------------------------------
    def status(self) -> list[HostStatus]:
        def one(host: str) -> HostStatus:
            if self.pid(host) is None:
                return HostStatus(host, "stopped" if self.disk(host).exists() else "missing")
            result = self.run(host, ["ip", "-j", "addr", "show"], timeout=20)
            return HostStatus(host, "running", _interfaces(result.stdout) if result.ok else [])

        with ThreadPoolExecutor(max_workers=max(1, len(self.lab.hosts))) as pool:
            return list(pool.map(one, self.lab.hosts))

    # -- reaching hosts -------------------------------------------------------------------------
    def host_argv(self, host: str, command: list[str], interactive: bool = False) -> list[str]:
        if not self.ssh_config.exists():
            raise NetlabError(f"lab {self.lab.name} has no VMs", hint=f"netlab up {self.lab.name}")
        argv = ["ssh", "-F", str(self.ssh_config)]
        argv += ["-t", "-o", "BatchMode=no"] if interactive else ["-T"]
        # ssh joins its arguments with spaces for the remote shell: quote them once, here.
        return [*argv, host, "--", shlex.join(command)]

    def ansible_connection(self, host: str) -> dict[str, Any]:
        return {
            "ansible_connection": "ssh",
            "ansible_host": "127.0.0.1",
            "ansible_port": self._port(host),
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.key),
            # The ssh_config's `Host *` options: no host key pinning, the shared control socket.
            "ansible_ssh_common_args": f"-F {self.ssh_config} -o ControlMaster=auto -o ControlPersist=120s",
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_become": False,
        }

    def ansible_group_vars(self) -> dict[str, Any]:
        # netlab's image has the tools already; the boot unit brings the overlay back on reboot.
        return {"netlab_boot_unit": True, "netlab_install_tools": False}

    def testinfra_uri(self, host: str) -> str:
        return f"ssh://{host}?ssh_config={self.ssh_config}"

    def testinfra_options(self) -> dict[str, Any]:
        return {"controlpersist": 120}

    # -- for tests and the curious ----------------------------------------------------------------
    def monitor_command(self, host: str, command: str) -> str:
        """One command on the VM's QEMU monitor (e.g. system_reset); returns its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(str(self.monitor(host)))
            time.sleep(0.3)
            s.recv(4096)  # the banner and prompt
            s.sendall(command.encode() + b"\n")
            time.sleep(0.5)
            return s.recv(4096).decode(errors="replace")

    def wait_ready_again(self, host: str, seen: int, timeout: float | None = None) -> None:
        """After a reboot: wait for a READY marker beyond the first `seen` ones on the console."""
        accel = self._info().get("accel", "tcg")
        deadline = time.monotonic() + (timeout or BOOT_TIMEOUT[accel])
        while _read(self.serial_log(host)).count(READY_MARKER) <= seen:
            if time.monotonic() > deadline:
                raise self._boot_error(host, "not ready again after the reboot")
            time.sleep(0.5)

    def ready_count(self, host: str) -> int:
        return _read(self.serial_log(host)).count(READY_MARKER)


def stop_processes(pids: dict[int, str], grace: float = 10.0) -> list[int]:
    """SIGTERM (QEMU exits at once), then SIGKILL after `grace`; returns PIDs still alive."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(pid_alive(p, m) for p, m in pids.items()):
        _reap(pids)
        time.sleep(0.1)
    for pid, marker in pids.items():
        if pid_alive(pid, marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    _reap(pids)
    return [p for p, m in pids.items() if pid_alive(p, m)]


def _reap(pids: dict[int, str]) -> None:
    """Collect our own children that exited (else they linger as zombies while we run)."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _interfaces(stdout: str) -> list[dict[str, Any]]:
    try:
        links = json.loads(stdout or "[]")
    except ValueError:
        return []
    return [
        {
            "name": link["ifname"], "state": link.get("operstate", "?"), "mtu": link.get("mtu"),
            "addresses": [f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])
                          if a.get("scope") != "link"],
        }
        for link in links
        if link.get("ifname") != "lo"
    ]
