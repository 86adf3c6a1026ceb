"""The qemu provider: one QEMU VM per machine (hosts and routers), booted from netlab's Debian image.

Every VM gets a qcow2 overlay on the shared base image (a few MB each), NICs in fixed PCI slots
so they come out as enp0s3 (management) and enp0s8 (underlay; a router's further segments
enp0s9, enp0s10 ...), and a direct kernel boot whose command line carries the hostname and the
lab's SSH key. Management is QEMU user networking with a forwarded SSH port on 127.0.0.1; each
underlay segment is a QEMU socket multicast hub (a group and port of its own), which makes the
NICs that join it one L2 segment without root, bridges or taps. A unit in the image prints a
marker on the serial console once sshd is up: that is when a VM is ready.

This module is the lifecycle (create, destroy, status, reaching hosts); `vm` builds a VM's
command line, `wires` says which hub each underlay NIC joins, `ssh` its SSH settings; the
machine-wide facts and programs (KVM probe, QMP, processes) are in netlab.tools.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from netlab.errors import NetlabError
from netlab.images import Image, build_image, cached_image, missing_tools
from netlab.images.build import READY_MARKER, images_root
from netlab.model import Lab
from netlab.providers.base import Availability, HostStatus, Progress, Provider, interfaces_of
from netlab.providers.qemu.ssh import SOCKET_PATH_MAX, check_ssh, close_masters, ssh_config_text
from netlab.providers.qemu.vm import (
    BOOT_TIMEOUT,
    UNDERLAY_SLOT,
    VmSpec,
    free_port,
    mac_address,
    mgmt_network,
    read_text,
    underlay_rename_script,
)
from netlab.providers.qemu.wires import lab_hubs, nic_hubs, underlay_names
from netlab.settings import settings
from netlab.state import LabState, Resource, active_labs
from netlab.tools.processes import pid_alive, stop_processes
from netlab.tools.qemu import QEMU, accelerator, create_overlay, qmp_command

# The provider, and (for callers of the former single module) the names its parts export.
__all__ = ["QemuProvider", "VmSpec", "free_port", "labs_using_image", "mac_address", "mgmt_network", "pid_alive",
           "ssh_config_text"]

# What a VM needs besides the image: the emulator, the disk tool and the SSH client.
RUN_TOOLS = {QEMU: "qemu-system-x86", "qemu-img": "qemu-utils", "ssh": "openssh-client",
             "ssh-keygen": "openssh-client"}


def labs_using_image(image_dir: Path) -> list[str]:
    """Labs whose VMs have disks on the image in `image_dir` (replacing it would corrupt them)."""
    users = []
    for name in active_labs():
        with contextlib.suppress(NetlabError):
            if LabState(name).read().provider_data.get("image") == str(image_dir):
                users.append(name)
    return users


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
        """QMP and SSH control sockets: in the lab's folder unless that path is too long."""
        if len(str(self.vm_dir)) + 50 < SOCKET_PATH_MAX:
            return self.vm_dir
        tag = zlib.crc32(str(self.state.dir).encode())
        return Path(tempfile.gettempdir()) / f"netlab-{os.getuid()}-{tag:08x}"

    def disk(self, host: str) -> Path:
        return self.vm_dir / f"{host}.qcow2"

    def serial_log(self, host: str) -> Path:
        return self.vm_dir / f"{host}.serial"

    def qemu_log(self, host: str) -> Path:
        return self.vm_dir / f"{host}.log"

    def pidfile(self, host: str) -> Path:
        return self.vm_dir / f"{host}.pid"

    def monitor(self, host: str) -> Path:
        """The VM's QMP socket."""
        return self.socket_dir / f"{host}.qmp"

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
        image = build_image(progress=progress, in_use=labs_using_image)
        self.state.record(*(Resource("dir", d) for d in dict.fromkeys((str(self.vm_dir), str(self.socket_dir)))))
        self.vm_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._make_key()
        info = self._info()
        hubs = lab_hubs(self.lab, info, self.vm_dir)
        mcast = next(iter(hubs.values()))
        accel = accelerator(str(image.kernel), images_root(), settings().qemu_accel)
        hosts: dict[str, Any] = dict(info.get("hosts", {}))
        machines = self.lab.machines
        to_boot = [h for h in machines if self.pid(h) is None]
        if info.get("image") not in (None, str(image.dir)):
            # The image was rebuilt since these disks were made: their backing file is another.
            for host in to_boot:
                self.disk(host).unlink(missing_ok=True)
        taken = {int(v["port"]) for h, v in hosts.items() if h not in to_boot}
        for host in to_boot:
            port = free_port(taken)
            taken.add(port)
            hosts[host] = {"port": port, "machine_id": hosts.get(host, {}).get("machine_id") or uuid.uuid4().hex}
        self.state.set(provider_data={"image": str(image.dir), "mcast": list(mcast), "accel": accel, "hosts": hosts,
                                      "segments": {s: list(hub) for s, hub in hubs.items()}})
        self._write_ssh_config()
        if to_boot:
            ports = sorted(port for _, port in hubs.values())
            wire = f"{mcast[0]}:{ports[0]}" + (f"-{ports[-1]}" if len(ports) > 1 else "")
            progress(f"booting {len(to_boot)} VMs ({accel}; {', '.join(to_boot)}) on underlay {wire}")
            started = time.monotonic()
            specs = [self._spec(h, image, nic_hubs(self.lab, h, hubs), accel, hosts[h]) for h in to_boot]
            for spec in specs:
                self._start(spec)
                self.machine_event(spec.host, "booting")
            self._wait_ready(specs)
            progress(f"VMs ready in {time.monotonic() - started:.0f} s")
        check_ssh(self.run, machines, self.ssh_config)
        self._rename_underlay()

    def _make_key(self) -> None:
        if self.key.exists():
            return
        self.state.record(Resource("key", str(self.key)))
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"netlab-{self.lab.name}",
                        "-f", str(self.key)], check=True, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        self.key.chmod(0o600)

    def _write_ssh_config(self) -> None:
        ports = {h: v["port"] for h, v in self._info().get("hosts", {}).items()}
        self.ssh_config.write_text(ssh_config_text(ports, self.key, self.socket_dir))

    def _spec(self, host: str, image: Image, underlay: tuple[tuple[str, int], ...], accel: str,
              info: dict[str, Any]) -> VmSpec:
        return VmSpec(
            lab=self.lab.name, host=host, image=image, disk=self.disk(host), serial=self.serial_log(host),
            monitor=self.monitor(host), pidfile=self.pidfile(host), ssh_port=int(info["port"]),
            underlay=underlay, accel=accel, pubkey=self.key.with_suffix(".pub").read_text(),
            machine_id=info["machine_id"], mgmt_net=mgmt_network(self.lab),
        )

    def _start(self, spec: VmSpec) -> None:
        self.state.record(Resource("disk", str(spec.disk), {"host": spec.host}))
        if not spec.disk.exists():
            create_overlay(spec.image.disk, spec.disk)
        for stale in (spec.serial, spec.monitor, spec.pidfile):
            stale.unlink(missing_ok=True)
        with self.qemu_log(spec.host).open("w") as log:
            # Its own session: a Ctrl-C at the terminal must not kill the lab's VMs halfway.
            proc = subprocess.Popen(spec.argv(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.state.record(Resource("pid", str(proc.pid), {"host": spec.host, "disk": str(spec.disk)}))

    def _wait_ready(self, specs: list[VmSpec]) -> None:
        accel = specs[0].accel
        started = time.monotonic()
        waiting = {s.host: s for s in specs}
        retried: set[str] = set()
        while waiting:
            for host, spec in list(waiting.items()):
                if READY_MARKER in read_text(spec.serial):
                    del waiting[host]
                    self.machine_event(host, "ready")
                # Two seconds' grace: until QEMU has exec'd, its PID's command line is not QEMU's.
                elif time.monotonic() - started > 2 and self.pid(host) is None:
                    if host in retried or "forward" not in read_text(self.qemu_log(host)):
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
        qemu_log = read_text(self.qemu_log(host)).strip()[-1500:]
        serial = "\n".join(read_text(self.serial_log(host)).splitlines()[-15:])
        return NetlabError(
            f"VM {host} of lab {self.lab.name}: {what}\n  qemu: {qemu_log or '(nothing)'}\n  console:\n{serial}",
            hint=f"netlab down {self.lab.name}, then up again; the console log is {self.serial_log(host)}",
        )

    def _rename_underlay(self) -> None:
        """Labs may name the underlay NICs; the VMs call them enp0s8, enp0s9 ... (their PCI slots)
        until told."""
        def rename(machine: str) -> str | None:
            names = underlay_names(self.lab, machine)
            if names == [f"enp0s{UNDERLAY_SLOT + i}" for i in range(len(names))]:
                return None
            result = self.run(machine, ["sh", "-c", underlay_rename_script(*names)])
            return None if result.ok else f"{machine}: {result.stderr.strip()}"

        with ThreadPoolExecutor(max_workers=max(1, len(self.lab.machines))) as pool:
            failures = [f for f in pool.map(rename, self.lab.machines) if f]
        if failures:
            raise NetlabError("renaming the underlay NICs failed: " + "; ".join(failures))

    # -- destroy --------------------------------------------------------------------------------
    def destroy(self, progress: Progress) -> None:
        close_masters(self.ssh_config, list(self._info().get("hosts", {})))
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
        for host in self.lab.machines:  # a crash between starting QEMU and recording its PID
            with contextlib.suppress(OSError, ValueError):
                pid = int(self.pidfile(host).read_text().strip())
                if pid_alive(pid, str(self.disk(host))):
                    found[pid] = str(self.disk(host))
        return found

    # -- status ---------------------------------------------------------------------------------
    def status(self) -> list[HostStatus]:
        def one(host: str) -> HostStatus:
            if self.pid(host) is None:
                return HostStatus(host, "stopped" if self.disk(host).exists() else "missing")
            result = self.run(host, ["ip", "-j", "addr", "show"], timeout=20)
            return HostStatus(host, "running", interfaces_of(result.stdout) if result.ok else [])

        with ThreadPoolExecutor(max_workers=max(1, len(self.lab.machines))) as pool:
            return list(pool.map(one, self.lab.machines))

    # -- reaching hosts -------------------------------------------------------------------------
    def host_argv(self, host: str, command: list[str], interactive: bool = False) -> list[str]:
        if host in self.lab.tenants:
            return self.tenant_argv(host, command, interactive)
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
    def monitor_command(self, host: str, command: str, timeout: float = 10.0) -> str:
        """One QMP command on the VM's QEMU (e.g. system_reset); returns QMP's answer as JSON."""
        return json.dumps(qmp_command(self.monitor(host), command, timeout=timeout))

    def wait_ready_again(self, host: str, seen: int, timeout: float | None = None) -> None:
        """After a reboot: wait for a READY marker beyond the first `seen` ones on the console."""
        accel = self._info().get("accel", "tcg")
        deadline = time.monotonic() + (timeout or BOOT_TIMEOUT[accel])
        while read_text(self.serial_log(host)).count(READY_MARKER) <= seen:
            if time.monotonic() > deadline:
                raise self._boot_error(host, "not ready again after the reboot")
            time.sleep(0.5)

    def ready_count(self, host: str) -> int:
        return read_text(self.serial_log(host)).count(READY_MARKER)
