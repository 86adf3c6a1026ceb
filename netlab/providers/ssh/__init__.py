"""The ssh provider: the lab's hosts are machines that already exist (lab PCs, cloud VMs).

`netlab up LAB --provider ssh --inventory hosts.yml`: an Ansible inventory names each lab host
(as the lab file does) and says how to reach it. netlab makes no machine and no wire: it writes an
ssh_config for the lab into the lab's state directory, checks every host before anything changes
(SSH, root or passwordless sudo, the underlay address, the kernel's tunnel types), and leaves
configuration to the same roles as every other provider (configurer "ansible"). Its files go to
/etc/netlab/LAB and its boot unit is netlab-overlay-LAB.service, so two labs (or a machine that
is also a netlab VM) never share them; `down` removes exactly those, the lab's tunnel devices and
an underlay address netlab added, never anything else.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shlex
import shutil
import subprocess
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from netlab import labfolder
from netlab.errors import NetlabError
from netlab.model import Lab
from netlab.providers.base import Availability, HostStatus, Progress, Provider, run_argv
from netlab.providers.ssh.preflight import Facts, parse_facts, probe_script, problems
from netlab.providers.ssh.targets import Target, read_inventory, ssh_config_text
from netlab.state import Resource

SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; leave room for ssh's temporary suffix
PROBE_TIMEOUT = 60.0


class SshProvider(Provider):
    name = "ssh"
    description = "existing machines over SSH, named in an Ansible inventory (--inventory FILE)"
    configurer = "ansible"
    owns_machines = False
    reply_timeout = 3.0
    max_parallel_commands = 6

    @classmethod
    def availability(cls, lab: Lab | None = None) -> Availability:
        if shutil.which("ssh") is None:
            return Availability(False, "the ssh client is not installed", "apt-get install openssh-client")
        if importlib.util.find_spec("ansible") is None:
            return Availability(False, "ansible-core is not installed", "pip install ansible-core")
        if lab is not None and lab.routers:
            return Availability(False, f"lab {lab.name} has routers; the ssh provider configures hosts only",
                                "use --provider netns or qemu for routed underlays")
        return Availability(True, "the ssh client and ansible-core are installed (machines: --inventory FILE)")

    # -- where things live --------------------------------------------------------------------
    @property
    def ssh_config(self) -> Path:
        return self.state.dir / "ssh_config"

    @property
    def control_dir(self) -> Path:
        """SSH control sockets: in the lab's folder unless that path is too long for a socket."""
        mine = self.state.dir / "ssh"
        # ssh adds "/" + %C (40 characters) + a temporary ".XXXXXXXXXXXXXXXX" to the path.
        if len(str(mine)) + 50 < SOCKET_PATH_MAX:
            return mine
        tag = zlib.crc32(str(self.state.dir).encode())
        return Path(tempfile.gettempdir()) / f"netlab-{os.getuid()}-{tag:08x}-ssh"

    @property
    def netlab_dir(self) -> str:
        """Where the roles keep this lab's files on each machine."""
        return f"/etc/netlab/{self.lab.name}"

    @property
    def unit(self) -> str:
        return f"netlab-overlay-{self.lab.name}.service"

    def _hosts(self) -> dict[str, dict[str, Any]]:
        """What create learnt about each host (sudo, systemd, what netlab changed on the underlay)."""
        return dict(self.state.read().provider_data.get("hosts", {}))

    # -- create -------------------------------------------------------------------------------
    def create(self, progress: Progress) -> None:
        available = self.availability(self.lab)
        if not available.ok:
            raise NetlabError(f"ssh cannot run lab {self.lab.name}: {available.reason}", available.fix)
        inventory = self.state.read().inventory
        if not inventory:
            raise NetlabError(f"provider ssh needs the machines of lab {self.lab.name}",
                              hint=f"netlab up {self.lab.name} --provider ssh --inventory hosts.yml "
                                   "(an Ansible inventory naming the lab's hosts)")
        targets = read_inventory(Path(inventory), list(self.lab.hosts))
        self.state.record(Resource("dir", str(self.control_dir)))
        self.control_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.write_ssh_config(targets)
        known = self._hosts()
        progress(f"checking {len(targets)} machines over SSH ({', '.join(targets)})")
        facts = self.probe(list(targets))
        found = []
        for host, target in targets.items():
            found += problems(self.lab, target, facts[host], host not in known, str(self.ssh_config))
        if found:
            self.close_connections()
            raise NetlabError(
                f"the machines of lab {self.lab.name} are not ready; nothing was changed:\n  " + "\n  ".join(found),
                hint=f"fix the inventory {inventory} or the machines, then run up again",
            )
        for host, f in facts.items():
            if f.missing_tools:
                progress(f"warning: {host} lacks {', '.join(f.missing_tools)} (checks that use them fail); "
                         "set netlab_install_tools: true in the inventory to install them")
        hosts = {h: self._learnt(targets[h], facts[h], known.get(h, {})) for h in targets}
        self.state.set(provider_data={"inventory": inventory, "hosts": hosts})

    def _learnt(self, target: Target, facts: Facts, before: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {"sudo": facts.sudo == "yes", "systemd": facts.systemd, "user": target.user,
                                "python": target.python, "install_tools": target.install_tools}
        # What netlab changes on the underlay (netlab_configure_underlay), to undo at down; kept
        # from an earlier up, when the underlay was netlab's from the start.
        info["underlay_added"] = before.get("underlay_added")
        info["mtu_before"] = before.get("mtu_before")
        if target.configure_underlay and facts.link is not None:
            want = f"{self.lab.hosts[target.host].ip}/{self._prefix(target.host)}"
            have = {f"{a['local']}/{a['prefixlen']}" for a in facts.link.get("addr_info", []) if "local" in a}
            if want not in have:
                info["underlay_added"] = want
            if facts.link.get("mtu") != self.lab.underlay.mtu and info["mtu_before"] is None:
                info["mtu_before"] = facts.link.get("mtu")
        return info

    def _prefix(self, host: str) -> int:
        segment = self.lab.underlay.segment_of(self.lab.hosts[host].ip) or next(iter(self.lab.underlay.networks))
        return self.lab.underlay.networks[segment].prefixlen

    def write_ssh_config(self, targets: dict[str, Target]) -> None:
        labfolder.make(self.state.dir)
        self.ssh_config.write_text(ssh_config_text(targets, self.control_dir))
        self.ssh_config.chmod(0o600)

    def probe(self, hosts: list[str]) -> dict[str, Facts]:
        """The preflight script on every host at once; changes nothing."""
        def one(host: str) -> Facts:
            argv = ["ssh", "-F", str(self.ssh_config), "-T", host, "--", "sh -s"]
            result = run_argv(argv, PROBE_TIMEOUT, input=probe_script(self.lab, host))
            return parse_facts(result.returncode, result.stdout, result.stderr)

        with ThreadPoolExecutor(max_workers=max(1, min(16, len(hosts)))) as pool:
            return dict(zip(hosts, pool.map(one, hosts), strict=True))

    # -- destroy ------------------------------------------------------------------------------
    def cleanup_script(self, host: str, info: dict[str, Any]) -> str:
        """Removes what netlab configured on `host`, and nothing else."""
        iface = self.lab.underlay.interface
        tunnels = " ".join(t.name for t in self.lab.tunnels_of(host))
        lines = [
            "export PATH=\"$PATH:/usr/sbin:/sbin\"",
            f"dir={self.netlab_dir}",
            f"unit={self.unit}",
            'devices=""; [ -f "$dir/devices" ] && devices=$(cat "$dir/devices")',
            f'for dev in $devices {tunnels}; do ip link del "$dev" 2>/dev/null && echo "removed $dev"; done',
            'if [ -e "/etc/systemd/system/$unit" ]; then',
            '  systemctl disable --quiet "$unit" 2>/dev/null',
            '  rm -f "/etc/systemd/system/$unit" "/etc/systemd/system/multi-user.target.wants/$unit"',
            '  [ -d /run/systemd/system ] && systemctl daemon-reload',
            '  echo "removed $unit"',
            "fi",
            f"link=/etc/systemd/network/10-{self.unit.removesuffix('.service')}.link",
            'if [ -e "$link" ]; then rm -f "$link" && echo "removed $link"; fi',
            'rm -rf "$dir"; rmdir /etc/netlab 2>/dev/null',
        ]
        if info.get("underlay_added"):
            lines.append(f"ip addr del {info['underlay_added']} dev {iface} 2>/dev/null && "
                         f"echo 'removed {info['underlay_added']}'")
        if info.get("mtu_before"):
            lines.append(f"ip link set {iface} mtu {int(info['mtu_before'])}")
        lines.append("echo netlab: clean")
        return "\n".join(lines) + "\n"

    def destroy(self, progress: Progress) -> None:
        hosts = self._hosts()
        failed = []
        if hosts and self.ssh_config.exists():
            progress(f"removing lab {self.lab.name}'s devices, files and unit from {len(hosts)} machines")

            def one(item: tuple[str, dict[str, Any]]) -> str | None:
                host, info = item
                result = self.run(host, ["sh", "-s"], timeout=PROBE_TIMEOUT, input=self.cleanup_script(host, info))
                if "netlab: clean" in result.stdout:
                    return None
                return f"{host}: {(result.stderr.strip().splitlines() or ['no answer'])[-1]}"

            with ThreadPoolExecutor(max_workers=max(1, min(16, len(hosts)))) as pool:
                failed = [f for f in pool.map(one, hosts.items()) if f]
        self.close_connections()
        if failed:
            raise NetlabError(
                f"could not clean up lab {self.lab.name} on: " + "; ".join(failed),
                hint=f"netlab down {self.lab.name} again once they answer (if a machine is gone for good, "
                     f"remove {self.state.dir})",
            )
        shutil.rmtree(self.control_dir, ignore_errors=True)

    def close_connections(self) -> None:
        """End the shared SSH connections (ControlMaster) to the lab's hosts, if any are open."""
        if not self.ssh_config.exists():
            return
        for host in self.lab.hosts:
            with contextlib.suppress(subprocess.TimeoutExpired):
                subprocess.run(["ssh", "-F", str(self.ssh_config), "-O", "exit", host],
                               capture_output=True, timeout=10, check=False, stdin=subprocess.DEVNULL)

    # -- status -------------------------------------------------------------------------------
    def status(self) -> list[HostStatus]:
        hosts = self._hosts()

        def one(host: str) -> HostStatus:
            if host not in hosts or not self.ssh_config.exists():
                return HostStatus(host, "missing")
            result = self.run(host, ["ip", "-j", "addr", "show"], timeout=20)
            if not result.ok:
                return HostStatus(host, "unreachable")
            return HostStatus(host, "running", _interfaces(result.stdout))

        with ThreadPoolExecutor(max_workers=max(1, min(16, len(self.lab.hosts)))) as pool:
            return list(pool.map(one, self.lab.hosts))

    # -- reaching hosts -----------------------------------------------------------------------
    def host_argv(self, host: str, command: list[str], interactive: bool = False) -> list[str]:
        if host in self.lab.tenants:
            return self.tenant_argv(host, command, interactive)
        if not self.ssh_config.exists():
            raise NetlabError(f"lab {self.lab.name} is not up on any machine",
                              hint=f"netlab up {self.lab.name} --provider ssh --inventory FILE")
        argv = ["ssh", "-F", str(self.ssh_config)]
        if interactive:
            return [*argv, "-t", "-o", "BatchMode=no", host, "--", shlex.join(command)]
        sudo = "sudo -n " if self._hosts().get(host, {}).get("sudo") else ""
        return [*argv, "-T", host, "--", sudo + shlex.join(command)]

    def ansible_connection(self, host: str) -> dict[str, Any]:
        info = self._hosts().get(host, {})
        out: dict[str, Any] = {
            "ansible_connection": "ssh",
            "ansible_host": host,  # the lab's ssh_config maps the name to the machine
            "ansible_ssh_common_args": f"-F {self.ssh_config}",
            "ansible_become": bool(info.get("sudo")),
        }
        if info.get("user"):
            out["ansible_user"] = info["user"]
        if info.get("python"):
            out["ansible_python_interpreter"] = info["python"]
        if info.get("install_tools") is not None:
            out["netlab_install_tools"] = bool(info["install_tools"])
        if not info.get("systemd", True):
            out["netlab_boot_unit"] = False
        return out

    def ansible_group_vars(self) -> dict[str, Any]:
        return {"netlab_dir": self.netlab_dir, "netlab_unit": self.unit, "netlab_boot_unit": True,
                "netlab_install_tools": False}

    def testinfra_uri(self, host: str) -> str:
        sudo = "&sudo=true" if self._hosts().get(host, {}).get("sudo") else ""
        return f"ssh://{host}?ssh_config={self.ssh_config}{sudo}"

    def testinfra_options(self) -> dict[str, Any]:
        return {"controlpersist": 120}


def _interfaces(text: str) -> list[dict[str, Any]]:
    import json

    try:
        links = json.loads(text or "[]")
    except ValueError:
        return []
    return [{"name": link["ifname"], "state": link.get("operstate", "?"), "mtu": link.get("mtu"),
             "addresses": [f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])
                           if a.get("scope") != "link"]}
            for link in links if isinstance(link, dict) and link.get("ifname") not in (None, "lo")]
