"""The Vagrant providers: VirtualBox (as in the seed labs) and libvirt.

Both drive the few `vagrant` calls netlab needs (up, provision, destroy, status, ssh-config)
through the thin wrapper in netlab.tools.vagrant; libvirt's leftovers are cleaned up through
netlab.tools.libvirt (virsh).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

from netlab.errors import NetlabError
from netlab.model import Lab
from netlab.providers.base import Availability, HostStatus, Progress, Provider
from netlab.providers.segments import underlay_mcast
from netlab.render import RenderOptions, render
from netlab.settings import settings
from netlab.state import Resource, busy
from netlab.tools import libvirt
from netlab.tools.vagrant import base_env, machine_id, machine_states, plugins, run_vagrant
from netlab.tools.vagrant import failure as vagrant_failure


class VagrantProvider(Provider):
    vagrant_provider: ClassVar[str]
    # Both ways are Ansible here: Vagrant's own provisioner runs site.yml on every machine.
    configurer = "vagrant"
    reply_timeout = 2.0
    max_parallel_commands = 6

    # -- files ---------------------------------------------------------------------------
    @property
    def workdir(self) -> Path:
        return self.state.workdir

    @property
    def ssh_config(self) -> Path:
        return self.state.dir / "ssh_config"

    def render_options(self) -> RenderOptions:
        return RenderOptions(provider=self.vagrant_provider, box=self.state.read().box,
                             mcast=underlay_mcast(self.lab.name))

    # -- running vagrant -----------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        # Vagrant's Ansible provisioner runs ansible-playbook from PATH: use netlab's own.
        bin_dir = str(Path(sys.executable).parent)
        return {**base_env(), "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                "VAGRANT_CWD": str(self.workdir), "ANSIBLE_NOCOLOR": "1"}

    def vagrant(self, *args: str, progress: Progress | None = None, check: bool = True,
                timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        return run_vagrant(list(args), self.workdir, self._env(), progress=progress, check=check, timeout=timeout)

    # -- lifecycle -------------------------------------------------------------------------
    def create(self, progress: Progress) -> None:
        self.state.record(Resource("vagrant", str(self.workdir)))
        render(self.lab, self.workdir, self.render_options())
        progress(f"vagrant up --provider={self.vagrant_provider} (machines only)")
        self.vagrant("up", f"--provider={self.vagrant_provider}", "--no-provision", progress=progress)
        self._write_ssh_config()

    def destroy(self, progress: Progress) -> None:
        failed = None
        if (self.workdir / "Vagrantfile").exists():
            progress("vagrant destroy -f")
            proc = self.vagrant("destroy", "-f", progress=progress, check=False)
            failed = proc if proc.returncode != 0 else None
        # Also when Vagrant failed: it fails on exactly the machines it lost track of.
        self.cleanup_leftovers(progress)
        if failed is not None and self.machines_left():
            raise vagrant_failure(failed, self.workdir)
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.ssh_config.unlink(missing_ok=True)

    def cleanup_leftovers(self, progress: Progress) -> None:
        """Anything of this lab that a crashed Vagrant left behind (per provider)."""

    def machines_left(self) -> bool:
        """Whether machines of this lab may still exist after a failed `vagrant destroy`."""
        return True

    def status(self) -> list[HostStatus]:
        if not (self.workdir / "Vagrantfile").exists():
            return [HostStatus(h, "missing") for h in self.lab.hosts]
        states = machine_states(self.vagrant("status", "--machine-readable", check=False).stdout)
        out = []
        for host in self.lab.hosts:
            state = states.get(host, "missing")
            interfaces: list[dict[str, Any]] = []
            if state == "running":
                result = self.run(host, ["ip", "-br", "addr"], timeout=20)
                for line in result.stdout.splitlines():
                    parts = line.split()
                    if len(parts) >= 2 and parts[0] != "lo":
                        interfaces.append({"name": parts[0].split("@")[0], "state": parts[1], "mtu": "",
                                           "addresses": parts[2:]})
            out.append(HostStatus(host, state, interfaces))
        return out

    # -- reaching hosts -----------------------------------------------------------------------
    def _write_ssh_config(self) -> None:
        text = self.vagrant("ssh-config").stdout
        # Defaults for every host go last: ssh takes the first value it finds for an option.
        text += (
            "\nHost *\n"
            f"  ControlPath {self.state.dir}/cm-%r@%h:%p\n"
            "  ControlMaster auto\n  ControlPersist 120s\n  LogLevel ERROR\n"
        )
        self.ssh_config.write_text(text)
        self.ssh_config.chmod(0o600)

    def _needs_sudo(self, host: str) -> bool:
        """The checks need root (tcpdump, ip); VirtualBox boxes log in as `vagrant`."""
        if not self.ssh_config.exists():
            self._write_ssh_config()
        current = None
        for line in self.ssh_config.read_text().splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] == "Host":
                current = words[1]
            elif len(words) >= 2 and words[0] == "User" and current == host:
                return words[1] != "root"
        return True

    def host_argv(self, host: str, command: list[str], interactive: bool = False) -> list[str]:
        if host in self.lab.tenants:
            return self.tenant_argv(host, command, interactive)
        argv = ["ssh", "-F", str(self.ssh_config)] + (["-t"] if interactive else [])
        if interactive:
            return [*argv, host, *command]
        sudo = "sudo -n " if self._needs_sudo(host) else ""
        return [*argv, host, "--", sudo + shlex.join(command)]

    def ansible_connection(self, host: str) -> dict[str, Any]:
        return {}

    def testinfra_uri(self, host: str) -> str:
        sudo = "&sudo=true" if self._needs_sudo(host) else ""
        return f"ssh://{host}?ssh_config={self.ssh_config}{sudo}"


class VirtualboxProvider(VagrantProvider):
    name = "virtualbox"
    vagrant_provider = "virtualbox"
    description = "Vagrant + VirtualBox, as in the seed labs"

    @classmethod
    def availability(cls, lab: Lab | None = None) -> Availability:
        if shutil.which("vagrant") is None:
            return Availability(False, "Vagrant is not installed", "install Vagrant (apt-get install vagrant)")
        if shutil.which("VBoxManage") is None:
            return Availability(False, "VirtualBox is not installed",
                                "install VirtualBox from virtualbox.org, or use --provider libvirt / qemu")
        return Availability(True, "Vagrant and VirtualBox are installed")


class LibvirtProvider(VagrantProvider):
    name = "libvirt"
    vagrant_provider = "libvirt"
    description = "Vagrant + vagrant-libvirt (QEMU/KVM through libvirt)"

    @classmethod
    def availability(cls, lab: Lab | None = None) -> Availability:
        if shutil.which("vagrant") is None:
            return Availability(False, "Vagrant is not installed", "apt-get install vagrant vagrant-libvirt")
        if "vagrant-libvirt" not in plugins():
            return Availability(False, "the vagrant-libvirt plugin is missing", "apt-get install vagrant-libvirt")
        if shutil.which("virsh") is None or shutil.which("libvirtd") is None:
            return Availability(False, "libvirt is not installed", "apt-get install libvirt-daemon-system dnsmasq-base")
        if not libvirt.answers(timeout=30):
            return Availability(False, "libvirtd is not running (or not answering)",
                                "systemctl start libvirtd virtlogd")
        return Availability(True, "Vagrant, vagrant-libvirt and libvirtd are ready")

    def uses_netlab_box(self) -> bool:
        from netlab.images.box import BOX_NAME
        from netlab.render import host_box

        chosen = self.state.read().box
        return any(host_box(self.lab, h, self.vagrant_provider, chosen) == BOX_NAME for h in self.lab.hosts)

    def create(self, progress: Progress) -> None:
        if self.uses_netlab_box():
            from netlab.images.box import build_box

            build_box(progress=progress)
        super().create(progress)

    def _env(self) -> dict[str, str]:
        env = super()._env()
        # Vagrantfile.j2 reads it: kvm where a probe shows KVM runs guests, else qemu (emulation).
        env["NETLAB_LIBVIRT_DRIVER"] = settings().libvirt_driver or self._driver()
        return env

    @staticmethod
    def _driver() -> str:
        """libvirt's "kvm" only where a probe shows KVM really runs guests, else "qemu" (emulation)."""
        from netlab.images.build import cached_image, images_root
        from netlab.tools.qemu import accelerator

        image = cached_image()
        if image is None:
            return "kvm" if os.access("/dev/kvm", os.R_OK | os.W_OK) else "qemu"
        return "kvm" if accelerator(str(image.kernel), images_root(), settings().qemu_accel) == "kvm" else "qemu"

    # -- domains a crash left behind ---------------------------------------------------------
    def domain_name(self, host: str) -> str:
        return f"netlab-{self.lab.name}-{host}"  # Vagrantfile.j2's default_prefix + the host

    def claim(self, domain: libvirt.Domain, host: str) -> Claim:
        if domain.vagrantfile is None:
            return Claim.FOREIGN
        maker = domain.vagrantfile.parent
        known = machine_id(maker, host, "libvirt") == domain.uuid
        if maker.resolve() == self.workdir.resolve():
            return Claim.OURS if known else Claim.ORPHAN
        # A lab whose netlab command runs right now may not have written the id yet.
        return Claim.ELSEWHERE if known or busy(maker.parent) else Claim.ORPHAN

    def _claimed(self) -> list[tuple[libvirt.Domain, Claim]]:
        """Every domain that carries one of the lab's names, and whose it is."""
        found = []
        for host in self.lab.hosts:
            domain = libvirt.domain(self.domain_name(host))
            if domain is not None:
                found.append((domain, self.claim(domain, host)))
        return found

    def prepare(self, progress: Progress) -> None:
        for domain, claim in self._claimed():
            if claim is Claim.ORPHAN:
                progress(f"removing domain {domain.name}: left by a `vagrant up` that was stopped before it "
                         f"finished ({domain.vagrantfile})")
                libvirt.remove_domain(domain.name)
            elif claim is Claim.ELSEWHERE:
                assert domain.vagrantfile is not None
                state_dir = domain.vagrantfile.parent.parent
                raise NetlabError(
                    f"libvirt domain {domain.name} belongs to lab {self.lab.name} as brought up from another "
                    f"netlab state folder ({state_dir})",
                    hint=f"take that one down first (NETLAB_STATE_DIR={shlex.quote(str(state_dir.parent))} "
                         f"netlab down {self.lab.name}), or give this lab another name (netlab up ... --name NAME)")
            elif claim is Claim.FOREIGN:
                raise NetlabError(
                    f"libvirt domain {domain.name} exists and netlab did not make it (its description names "
                    "no Vagrantfile)",
                    hint=f"remove it (virsh -c {libvirt.LIBVIRT_URI} undefine {domain.name}), or give this lab "
                         "another name (netlab up ... --name NAME)")

    def cleanup_leftovers(self, progress: Progress) -> None:
        kept = set()
        for domain, claim in self._claimed():
            if claim in (Claim.OURS, Claim.ORPHAN):
                progress(f"removing leftover domain {domain.name}")
                libvirt.remove_domain(domain.name)
            else:
                progress(f"leaving domain {domain.name} alone: netlab's state here did not make it")
                kept.add(domain.name)
        # A disk whose domain is gone (a removed domain's own disks went with it).
        disks = {f"{self.domain_name(h)}.img" for h in self.lab.hosts} - {f"{name}.img" for name in kept}
        for volume in libvirt.volume_names():
            if volume in disks:
                progress(f"removing leftover volume {volume}")
                libvirt.remove_volume(volume)

    def machines_left(self) -> bool:
        return any(claim is Claim.OURS for _, claim in self._claimed())


class Claim(Enum):
    """Whose a libvirt domain with one of this lab's names is."""

    OURS = "ours"            # made from this state's Vagrantfile, and Vagrant knows it
    ORPHAN = "orphan"        # made by a Vagrant that no longer knows it: a killed up, a deleted state
    ELSEWHERE = "elsewhere"  # the same lab name, up from another netlab state folder
    FOREIGN = "foreign"      # not made from a Vagrantfile at all
