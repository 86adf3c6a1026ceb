"""One QEMU VM: its command line, its NICs' MACs and slots, its management network."""

from __future__ import annotations

import base64
import ipaddress
import shlex
import socket
from dataclasses import dataclass
from pathlib import Path

from netlab.errors import NetlabError
from netlab.images import Image
from netlab.macs import stable_mac
from netlab.model import Lab
from netlab.tools.qemu import QEMU, qmp_argv

MGMT_SLOT, UNDERLAY_SLOT, DISK_SLOT, RNG_SLOT = 0x3, 0x8, 0x5, 0x6
DEFAULT_UNDERLAY_NIC = f"enp0s{UNDERLAY_SLOT}"
# A router's NICs take the slots after the first underlay NIC's (enp0s8, enp0s9, enp0s10 ...);
# the root bus ends at slot 0x1f.
MAX_UNDERLAY_NICS = 0x20 - UNDERLAY_SLOT
# Under emulation (no KVM) a VM needs about 380 MB with a bounded translation cache (FACTS.md).
TCG_MEMORY_MB, KVM_MEMORY_MB = 384, 512
BOOT_TIMEOUT = {"tcg": 300.0, "kvm": 90.0}
# Where the VM's .link file names the underlay NIC (a lab may call it other than enp0s8).
UNDERLAY_LINK = "/etc/systemd/network/10-netlab-underlay.link"
SYSFS = "/sys"  # where the rename script finds the NIC in a PCI slot (tests: a scratch tree)

# QEMU's user network defaults to 10.0.2.0/24 (like VirtualBox NAT), which teaching labs use too
# (the catalog's gretap lab does): a VM whose overlay covers its own gateway loses SSH.
MGMT_NETWORKS = ("10.0.2.0/24", "172.31.255.0/24", "10.255.254.0/24", "100.127.255.0/24")


def free_port(taken: set[int]) -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (and not one handed out already)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in taken:
            return port
    raise NetlabError("found no free TCP port on 127.0.0.1 for SSH forwarding")


def mgmt_network(lab: Lab) -> str:
    """The first management subnet that overlaps neither an underlay segment nor a tunnel address."""
    used = list(lab.underlay.networks.values())
    for tunnel in lab.tunnels:
        for address in tunnel.addresses.values():
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


@dataclass(frozen=True)
class VmSpec:
    """Everything that makes up one VM's command line."""

    lab: str
    host: str
    image: Image
    disk: Path
    serial: Path
    monitor: Path  # the QMP socket
    pidfile: Path
    ssh_port: int
    underlay: tuple[tuple[str, int], ...]  # the hub (group, port) of each underlay NIC: slots 8, 9 ...
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
        if not 1 <= len(self.underlay) <= MAX_UNDERLAY_NICS:
            raise NetlabError(f"{self.host}: a VM has 1 to {MAX_UNDERLAY_NICS} underlay NICs, not {len(self.underlay)}")
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
            *self.underlay_argv(),
            "-device", f"virtio-rng-pci,addr={RNG_SLOT:#x}",  # sshd must not wait for entropy
            "-serial", f"file:{self.serial}",
            *qmp_argv(self.monitor),
            "-pidfile", str(self.pidfile),
        ]

    def underlay_argv(self) -> list[str]:
        """One NIC per hub, in slots 8, 9 ...: each a socket multicast hub (the segment's wire)."""
        argv = []
        for index, (group, port) in enumerate(self.underlay):
            netdev, slot = "underlay" if index == 0 else f"underlay{index}", UNDERLAY_SLOT + index
            argv += ["-netdev", f"socket,id={netdev},mcast={group}:{port},localaddr=127.0.0.1",
                     "-device", f"virtio-net-pci,netdev={netdev},addr={slot:#x},"
                                f"mac={mac_address(self.lab, self.host, slot)}"]
        return argv


def underlay_link(index: int) -> str:
    """The .link file that names underlay NIC `index` (slot 8 + index)."""
    return UNDERLAY_LINK if index == 0 else UNDERLAY_LINK.replace(".link", f"-{index}.link")


def underlay_rename_script(*names: str) -> str:
    """Shell for a VM: .link files that name its underlay NICs `names` from now on (every boot;
    the NIC in slot 8 the first name, slot 9 the second ...), and the live renames.

    Each file is written durably: to a temporary file in the same directory, synced, moved into
    place, and the directory synced, so a hard reset right after `up` leaves the old file or
    the new one, never an empty one. NICs are renamed through temporary names (a router's new
    names may be another NIC's old one: enp0s8 -> enp0s9).

    A NIC is found by its PCI slot in sysfs, never by `ip link show enp0s8`: once renamed, udev
    may give it `enp0s8` as an altname, which `ip` still matches, and a second `up` then set the
    lab's eth1 down (CI saw vmc drop off the underlay). A renamed NIC is set up again.
    """
    script = ["set -e"]
    directory = shlex.quote(UNDERLAY_LINK.rsplit("/", 1)[0])
    renames = []
    for index, name in enumerate(names):
        slot = UNDERLAY_SLOT + index
        link = f"[Match]\nPath=pci-0000:00:{slot:02x}.0\n\n[Link]\nName={name}\n"
        path = underlay_link(index)
        target = shlex.quote(path)
        tmp = shlex.quote(path.rsplit("/", 1)[0] + "/." + path.rsplit("/", 1)[1] + ".tmp")
        script.append(f"printf '%s' {shlex.quote(link)} > {tmp}; sync {tmp}; mv -f {tmp} {target}")
        renames.append((f"{SYSFS}/bus/pci/devices/0000:00:{slot:02x}.0", f"netlabtmp{index}", name))
    script.append(f"sync -f {directory}")
    for pci, tmp_name, name in renames:
        # The kernel's name of the NIC in that slot now (an altname never shows here); a virtio
        # NIC keeps it one level down, under virtioN/net.
        script.append(f"nic=; for n in {shlex.quote(pci)}/net/* {shlex.quote(pci)}/virtio*/net/*; do "
                      f'if [ -e "$n" ]; then nic=${{n##*/}}; fi; done; '
                      f'if [ -n "$nic" ] && [ "$nic" != {shlex.quote(name)} ]; then '
                      f'ip link set dev "$nic" down && ip link set dev "$nic" name {tmp_name}; fi')
    for _, tmp_name, name in renames:
        script.append(f"if [ -e /sys/class/net/{tmp_name} ]; then "
                      f"ip link set dev {tmp_name} name {shlex.quote(name)} && "
                      f"ip link set dev {shlex.quote(name)} up; fi")
    return "; ".join(script)


def read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
