"""The netns provider: one network namespace per host, a bridge in a switch namespace as the wire.

Nothing is created in the machine's own namespace: the veth pairs are made inside the switch
namespace, their host ends moved straight into each host's namespace as the underlay NIC.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

from netlab.errors import NetlabError, ToolMissing
from netlab.files import private_dir
from netlab.model import Lab
from netlab.providers.base import Availability, HostStatus, Progress, Provider, interfaces_of
from netlab.render.tenants import TENANT_IFNAME
from netlab.state import Resource
from netlab.tools import namespaces
from netlab.tools.processes import stop_processes
from netlab.tunnels import TUNNEL_TYPES

BRIDGE = "underlay"  # the first segment's bridge in the switch namespace (underlay1, 2 ... the others)


def namespace(lab: str, host: str) -> str:
    # '.' cannot appear in lab or host names, so no two labs' names can collide.
    return f"netlab.{lab}.{host}"


def switch_namespace(lab: str) -> str:
    return f"netlab.{lab}._switch"


def switch_port(lab: str, index: int) -> str:
    suffix = f"-{index}"
    return lab[: 15 - len(suffix)] + suffix


@cache
def kernel_tunnel_types() -> frozenset[str]:
    """Tunnel types this kernel can create, probed in a throw-away namespace (`unshare -n`)."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return frozenset()
    # A throw-away device of each type: the kernel refuses the ones it lacks.
    script = "; ".join(
        f"{{ {' && '.join(kind.probe_commands(f'p{i}'))}; }} >/dev/null 2>&1 && echo {kind.name}"
        for i, kind in enumerate(TUNNEL_TYPES.values())
    )
    proc = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True)
    return frozenset(proc.stdout.split())


def kernel_routes_multicast() -> bool:
    """Whether this kernel can forward multicast (smcroute needs its multicast routing table)."""
    return Path("/proc/net/ip_mr_vif").exists()


def _ip(*args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], input=input, capture_output=True, text=True)
    if check and proc.returncode != 0:
        cmd = "ip " + " ".join(args)
        detail = proc.stderr.strip() or proc.stdout.strip()
        raise NetlabError(f"{cmd} failed: {detail}" + (f"\n  input:\n{input}" if input else ""))
    return proc


def existing_namespaces() -> set[str]:
    return namespaces.existing()


class NetnsProvider(Provider):
    name = "netns"
    description = "Linux network namespaces: a lab in well under a second, no VMs"
    reply_timeout = 0.3
    max_parallel_commands = 32
    configurer = "ip-batch"
    needs_connection_plugin = True
    reachable_before_up = True

    @classmethod
    def availability(cls, lab: Lab | None = None) -> Availability:
        if not sys.platform.startswith("linux"):
            return Availability(False, "network namespaces exist only on Linux", "use --provider qemu")
        if os.geteuid() != 0:
            return Availability(False, "needs root to create namespaces", "run netlab as root (sudo)")
        for tool, package in (("ip", "iproute2"), ("unshare", "util-linux")):
            if shutil.which(tool) is None:
                return Availability(False, f"{tool} is not installed", f"apt-get install {package}")
        if lab is not None:
            missing = sorted({t.type for t in lab.tunnels} - kernel_tunnel_types())
            if missing:
                return Availability(
                    False,
                    f"this kernel has no {', '.join(missing)}",
                    "use --provider qemu: its VMs run their own kernel with every tunnel type",
                )
        if lab is not None and any(r.multicast == "static" for r in lab.routers.values()) \
                and not kernel_routes_multicast():
            return Availability(False, "this kernel has no IPv4 multicast routing (CONFIG_IP_MROUTE): the lab's "
                                "routers cannot forward its multicast groups",
                                "use --provider qemu: its VMs run their own kernel, which routes multicast")
        if lab is not None and any(r.multicast == "static" for r in lab.routers.values()) \
                and shutil.which("smcrouted", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin") is None:
            return Availability(False, "the lab's routers route multicast with smcroute, which is not installed",
                                "apt-get install smcroute")
        if lab is not None:
            return Availability(True, "root on Linux, and the kernel has the lab's tunnel types")
        have = kernel_tunnel_types()
        lacks = [t for t in TUNNEL_TYPES if t not in have]
        reason = f"root on Linux; this kernel has {', '.join(sorted(have)) or 'no tunnel type'}"
        fix = f"for labs with {', '.join(lacks)}: --provider qemu" if lacks else ""
        return Availability(bool(have), reason + (f", not {', '.join(lacks)}" if lacks else ""), fix)

    # -- names -------------------------------------------------------------------------------
    def ns(self, host: str) -> str:
        return namespace(self.lab.name, host)

    @property
    def switch(self) -> str:
        return switch_namespace(self.lab.name)

    def _all_namespaces(self) -> list[str]:
        # Tenants are namespaces of the lab like hosts (the host's bridge reaches them by a veth).
        return [self.switch, *(self.ns(m) for m in self.lab.nodes)]

    def segment_bridge(self, segment: str) -> str:
        index = list(self.lab.underlay.networks).index(segment)
        return BRIDGE if index == 0 else f"{BRIDGE}{index}"

    def nics(self) -> list[tuple[str, str, str]]:
        """(machine, NIC name inside it, segment) for every cable: hosts, then routers' NICs."""
        lab = self.lab
        out = [(h, lab.underlay.interface, lab.underlay.segment_of(spec.ip) or next(iter(lab.underlay.networks)))
               for h, spec in lab.hosts.items()]
        for router in lab.routers:
            out += [(router, nic, segment) for segment, nic in lab.router_nics(router).items()]
        return out

    def host_dir(self, host: str) -> Path:
        """Where the Ansible role keeps this host's command files (hosts share our disk)."""
        return self.state.dir / "hosts" / host

    # -- lifecycle -------------------------------------------------------------------------------
    def _ownership(self, present: set[str]) -> namespaces.Ownership:
        recorded = {r.name for r in self.state.resources("netns")}
        return namespaces.ownership(self.lab.name, self.state.token, recorded, present)

    def prepare(self, progress: Progress) -> None:
        found = self._ownership(existing_namespaces())
        if found.elsewhere:
            folder = next(iter(found.elsewhere.values()))
            raise NetlabError(
                f"lab {self.lab.name}'s namespaces belong to the same lab brought up from another netlab state "
                f"folder ({folder})",
                hint=f"take that one down first (NETLAB_STATE_DIR={shlex.quote(str(folder.parent))} netlab down "
                     f"{self.lab.name}), or give this one another name (--name)")
        if found.unclaimed:
            raise NetlabError(
                f"namespaces {', '.join(found.unclaimed)} exist and no netlab state here made them",
                hint=f"if they are left from a lab whose state is lost: netlab down {self.lab.name} removes them")
        if found.orphans:
            progress(f"removing {len(found.orphans)} namespaces left by lab {self.lab.name} of a state folder "
                     "that is gone")
            namespaces.delete(found.orphans)

    def create(self, progress: Progress) -> None:
        self._ensure_neighbour_capacity(progress)
        self._ensure_backlog(progress)
        present = existing_namespaces()
        wanted = self._all_namespaces()
        missing = [n for n in wanted if n not in present]
        gone = sorted(n for n in self._ownership(present).ours if n not in wanted)
        if gone:
            # Hosts and tenants taken out of the lab file: their namespaces (and cables) go.
            progress(f"removing {', '.join(n.rsplit('.', 1)[1] for n in gone)} (no longer in the lab)")
            # A namespace's devices go some time after the namespace: a tenant's cable is cut first,
            # or its host's end could still be there when the configuration looks (and gone when
            # it removes it).
            _ip("-force", "-batch", "-", input="".join(f"netns exec {n} ip link del {TENANT_IFNAME}\n" for n in gone),
                check=False)
            namespaces.delete(gone)
            self.removed = [n.rsplit(".", 1)[1] for n in gone]
        self.state.record(*(Resource("netns", n) for n in wanted))
        token = self.state.token
        assert token is not None  # the state has been written: its folder is made
        namespaces.claim(wanted, token, self.state.dir)
        if missing:
            progress(f"creating {len(missing)} namespaces")
            _ip("-batch", "-", input="".join(f"netns add {n}\n" for n in missing))
            # A machine's loopback is up, as on any booted machine: whichever way configures the
            # lab then finds the same devices (the fast path, Ansible). Tenants' come from the template.
            machines = {self.ns(m) for m in self.lab.machines}
            loopbacks = "".join(f"netns exec {n} ip link set lo up\n" for n in missing if n in machines)
            if loopbacks:
                _ip("-batch", "-", input=loopbacks, check=False)
        if self.switch in missing:
            self._wire()
        else:
            self._rewire_missing_ports()
        for machine in self.lab.machines:
            # The hosts share this machine's disk: the roles keep their files here.
            private_dir(self.host_dir(machine))

    def neighbours_needed(self) -> int:
        """ARP entries the lab fills once every host has talked to every peer (underlay+overlay)."""
        hosts = len(self.lab.hosts)
        overlay = sum(len(t.endpoints) * (len(t.endpoints) - 1) for t in self.lab.tunnels)
        return hosts * (hosts - 1) + overlay

    def _ensure_backlog(self, progress: Progress) -> None:
        # Every namespace's packets pass one per-CPU backlog. The first ping sweep of a big flood
        # lab floods ARP to every peer (about n^3/2 copies at n hosts): past the default 1000 the
        # kernel drops them and the first verify after `up` fails. Raise it (never lower it).
        hosts = len(self.lab.hosts)
        path = Path("/proc/sys/net/core/netdev_max_backlog")
        try:
            current = int(path.read_text())
        except (OSError, ValueError):
            return
        target = 1 << max(0, 3 * hosts * hosts - 1).bit_length()
        if target > current and hosts > 16:
            progress(f"raising net.core.netdev_max_backlog from {current} to {target}: this lab floods "
                     f"ARP across {hosts} hosts")
            path.write_text(str(target))

    def _ensure_neighbour_capacity(self, progress: Progress) -> None:
        # The kernel's ARP table is shared by all namespaces; past gc_thresh3 entries it refuses
        # new neighbours ("neighbor table overflow") and big labs lose pings at random. Raise the
        # limit when a lab needs more (never lower it: other labs may rely on it).
        needed = self.neighbours_needed()
        for family in ("ipv4", "ipv6"):
            path = Path(f"/proc/sys/net/{family}/neigh/default/gc_thresh3")
            try:
                current = int(path.read_text())
            except (OSError, ValueError):
                continue
            # Twice the need leaves room for the machine's own entries and other labs.
            if current >= 2 * needed:
                continue
            target = max(1024, 1 << (2 * needed - 1).bit_length())
            progress(f"raising net.{family}.neigh.default.gc_thresh3 from {current} to {target}: "
                     f"this lab needs about {needed} neighbour entries")
            path.write_text(str(target))
            thresh2 = path.with_name("gc_thresh2")
            if int(thresh2.read_text()) < target // 2:
                thresh2.write_text(str(target // 2))

    def _bridge_lines(self, segment: str) -> list[str]:
        bridge = self.segment_bridge(segment)
        return [f"link add {bridge} type bridge mcast_snooping 0", f"link set {bridge} mtu {self.lab.underlay.mtu} up"]

    def _wire(self) -> None:
        lines = [line for segment in self.lab.underlay.networks for line in self._bridge_lines(segment)]
        for index, nic in enumerate(self.nics()):
            lines += self._port_lines(index, *nic)
        _ip("-n", self.switch, "-batch", "-", input="\n".join(lines) + "\n")

    def _port_lines(self, index: int, machine: str, nic: str, segment: str) -> list[str]:
        port = switch_port(self.lab.name, index)
        mtu = self.lab.underlay.mtu
        return [
            f"link add {port} mtu {mtu} type veth peer name {nic} mtu {mtu} netns {self.ns(machine)}",
            f"link set {port} master {self.segment_bridge(segment)} up",
        ]

    def _rewire_missing_ports(self) -> None:
        """A second `up` after a half-finished one: plug in machines whose cable is missing."""
        proc = _ip("-n", self.switch, "-j", "link", "show", check=False)
        ports = {link["ifname"] for link in json.loads(proc.stdout or "[]")}
        lines = []
        for segment in self.lab.underlay.networks:
            if self.segment_bridge(segment) not in ports:
                lines += self._bridge_lines(segment)
        for index, (machine, nic, segment) in enumerate(self.nics()):
            if switch_port(self.lab.name, index) not in ports:
                _ip("-n", self.ns(machine), "link", "del", nic, check=False)
                lines += self._port_lines(index, machine, nic, segment)
        if lines:
            _ip("-n", self.switch, "-batch", "-", input="\n".join(lines) + "\n")

    def daemons(self) -> dict[int, str]:
        """{pid: marker} of the daemons the routers run (smcrouted), from their pidfiles. A
        namespace's deletion does not stop its processes: they are stopped first, by PID, after
        checking that the PID still runs our configuration (a reused PID is left alone)."""
        found = {}
        for pidfile in sorted((self.state.dir / "hosts").glob("*/smcroute.pid")):
            with contextlib.suppress(OSError, ValueError):
                found[int(pidfile.read_text().split()[0])] = str(pidfile.with_name("smcroute.conf"))
        return found

    def destroy(self, progress: Progress) -> None:
        daemons = self.daemons()
        if daemons:
            progress(f"stopping {len(daemons)} smcrouted")
            stop_processes(daemons, grace=5)
        found = self._ownership(existing_namespaces())
        if found.elsewhere:
            folder = next(iter(found.elsewhere.values()))
            progress(f"leaving {len(found.elsewhere)} namespaces of lab {self.lab.name} alone: another netlab "
                     f"state folder owns them ({folder})")
        doomed = sorted(found.ours + found.orphans)
        if doomed:
            progress(f"deleting {len(doomed)} namespaces")
            # Deleting a namespace deletes every interface inside it, veth peers included; the
            # processes inside (exec, ssh, capture) are ended first, by PID.
            namespaces.delete(doomed)

    def status(self) -> list[HostStatus]:
        """Every machine and tenant: each is a namespace here."""
        present = existing_namespaces()
        out = []
        for host in self.lab.nodes:
            ns = self.ns(host)
            if ns not in present:
                out.append(HostStatus(host, "missing"))
                continue
            proc = _ip("-n", ns, "-j", "addr", "show", check=False)
            interfaces = interfaces_of(proc.stdout)
            out.append(HostStatus(host, "running", interfaces))
        return out

    # -- reaching hosts ------------------------------------------------------------------------
    def host_argv(self, host: str, command: list[str], interactive: bool = False) -> list[str]:
        if shutil.which("ip") is None:
            raise ToolMissing("ip", "iproute2", "enter network namespaces")
        # Each command gets a UTS namespace of its own named after the host: a shell on boxA says
        # boxA (a network namespace has no hostname of its own), and nothing is left to clean up.
        named = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', host]
        return ["ip", "netns", "exec", self.ns(host), *named, *command]

    def batch_argv(self, host: str, tool: str, *options: str) -> list[str]:
        # `ip -n` enters the namespace without `ip netns exec`'s remount of /sys.
        return [tool, "-n", self.ns(host), *options, "-batch", "-"]

    def switch_argv(self, command: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.switch, *command]

    def ansible_connection(self, host: str) -> dict[str, Any]:
        return {
            "ansible_connection": "netns",
            "ansible_host": self.ns(host),
            "ansible_python_interpreter": sys.executable,
            "ansible_become": False,
            "netlab_dir": str(self.host_dir(host)),
        }

    def ansible_group_vars(self) -> dict[str, Any]:
        # The tenants' namespaces are made here, with the lab's prefix (inside a VM the overlay
        # script makes them, named like the tenants).
        return {"netlab_boot_unit": False, "netlab_tenant_prefix": namespace(self.lab.name, "")}

    def testinfra_uri(self, host: str) -> str:
        return f"netns://{self.ns(host)}"
