"""Build (and cache) the Debian image the qemu provider boots."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import filelock
import platformdirs

from netlab.errors import NetlabError

Progress = Callable[[str], None]

IMAGE_VERSION = 1
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DISK_SIZE = "1536M"
READY_MARKER = "NETLAB-READY"

# What the labs need inside a VM: systemd and udev (NIC names, the boot unit), sshd and python3
# (Ansible, testinfra), iproute2 and the ping/capture tools the checks run, and the stock cloud
# kernel, whose modules have every tunnel type this machine's kernel may lack.
PACKAGES = (
    "systemd-sysv", "udev", "openssh-server", "python3", "iproute2", "iputils-ping", "fping",
    "tcpdump", "kmod", "procps", "linux-image-cloud-amd64",
    # Routers of routed underlays route the labs' multicast groups with smcroute; tracepath shows
    # the hops (leaf-spine's description uses it).
    "smcroute", "iputils-tracepath",
    # Vagrant (the libvirt box) runs its own setup through sudo, even when it logs in as root.
    "sudo",
)
# Documentation and translations are a third of a minimal system and no lab reads them.
DPKG_EXCLUDES = (
    "path-exclude=/usr/share/man/*", "path-exclude=/usr/share/doc/*", "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/info/*", "path-include=/usr/share/locale/locale.alias",
)

# Files written into the image. The management NIC sits in PCI slot 3 and the underlay NICs in
# slots 8, 9, ... (a host has one, a router one per segment; see the provider); networkd must
# leave the underlay alone, Ansible configures it.
UNDERLAY_SLOTS = range(0x8, 0x20)
FILES: dict[str, str] = {
    "etc/systemd/network/05-netlab-underlay.network": (
        "# netlab: the underlay NICs (PCI slots 8 and up) are configured by the lab, not by networkd.\n"
        "[Match]\nPath=" + " ".join(f"pci-0000:00:{slot:02x}.0" for slot in UNDERLAY_SLOTS)
        + "\n\n[Link]\nUnmanaged=yes\n"
    ),
    # Only NICs on the PCI bus: a lab's own devices are virtual (no PCI path) and may be named
    # like NICs (the seed's lab8 has enp0s8.100); networkd managing one removed the addresses
    # netlab gave it, as foreign to its DHCP configuration.
    "etc/systemd/network/90-netlab-dhcp.network": (
        "# netlab: DHCP on any other NIC (the management NIC: QEMU user networking, Vagrant NAT).\n"
        "[Match]\nName=en* eth*\nPath=pci-*\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n"
    ),
    "usr/local/sbin/netlab-authkey": (
        "#!/bin/sh\n"
        "# netlab: root's authorized key comes base64-encoded on the kernel command line\n"
        "# (netlab.ssh_key=...), so one image serves every lab, each with its own key.\n"
        "set -eu\n"
        "for word in $(cat /proc/cmdline); do\n"
        "  case \"$word\" in\n"
        "    netlab.ssh_key=*)\n"
        "      install -d -m 0700 /root/.ssh\n"
        "      echo \"${word#netlab.ssh_key=}\" | base64 -d > /root/.ssh/authorized_keys\n"
        "      chmod 0600 /root/.ssh/authorized_keys ;;\n"
        "  esac\n"
        "done\n"
    ),
    "etc/systemd/system/netlab-authkey.service": (
        "[Unit]\nDescription=netlab: root's SSH key from the kernel command line\n"
        "Before=ssh.service\n\n"
        "[Service]\nType=oneshot\nExecStart=/usr/local/sbin/netlab-authkey\n\n"
        "[Install]\nWantedBy=multi-user.target\n"
    ),
    "etc/systemd/system/netlab-ready.service": (
        "[Unit]\nDescription=netlab: tell the host on the serial console that SSH is up\n"
        "After=ssh.service netlab-authkey.service network-online.target\n"
        "Wants=network-online.target\n\n"
        "[Service]\nType=oneshot\n"
        f"ExecStart=/bin/sh -c 'echo \"{READY_MARKER} $(hostname)\" > /dev/ttyS0'\n\n"
        "[Install]\nWantedBy=multi-user.target\n"
    ),
    "etc/ssh/sshd_config.d/netlab.conf": (
        "# netlab: root by key only; no DNS lookups and no throttling of the test tools' connections.\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\nMaxStartups 100\n"
    ),
    "etc/fstab": "/dev/vda / ext4 rw,noatime 0 1\n",
}
ENABLE = ("systemd-networkd", "netlab-authkey", "netlab-ready")
# Timers that would only cost CPU in an emulated VM.
# smcroute.service is Debian's own smcrouted: it would take the kernel's multicast routing table
# before the router role's netlab-smcroute.service (only one daemon may hold it).
MASK = ("apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer", "smcroute.service")

# The tools a build needs and the Debian package that has each.
BUILD_TOOLS = {"mmdebstrap": "mmdebstrap", "mke2fs": "e2fsprogs", "qemu-img": "qemu-utils"}


def recipe_hash() -> str:
    """Changes whenever anything that goes into the image changes: then the cache is stale."""
    recipe = {
        "version": IMAGE_VERSION, "suite": SUITE, "packages": PACKAGES, "excludes": DPKG_EXCLUDES,
        "files": FILES, "enable": ENABLE, "mask": MASK, "size": DISK_SIZE,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def images_root() -> Path:
    return Path(platformdirs.user_cache_dir("netlab")) / "images"


def image_dir(digest: str | None = None) -> Path:
    return images_root() / f"{SUITE}-{(digest or recipe_hash())[:12]}"


@dataclass(frozen=True)
class Image:
    dir: Path
    manifest: dict

    @property
    def disk(self) -> Path:
        return self.dir / "base.qcow2"

    @property
    def kernel(self) -> Path:
        return self.dir / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.dir / "initrd.img"


def cached_image() -> Image | None:
    """The built image for the current recipe, if it is complete."""
    d = image_dir()
    try:
        manifest = json.loads((d / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    image = Image(d, manifest)
    if manifest.get("recipe") != recipe_hash() or not all(
        p.exists() for p in (image.disk, image.kernel, image.initrd)
    ):
        return None
    return image


def missing_tools(tools: dict[str, str] = BUILD_TOOLS) -> list[tuple[str, str]]:
    """(tool, Debian package) for each tool that is not installed."""
    sbin = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return [(tool, pkg) for tool, pkg in tools.items() if shutil.which(tool, path=sbin) is None]


def _require_tools() -> None:
    missing = missing_tools()
    if missing:
        names = ", ".join(t for t, _ in missing)
        packages = " ".join(sorted({p for _, p in missing}))
        raise NetlabError(f"building the VM image needs {names}, which is not installed",
                          hint=f"apt-get install {packages}")
    if os.geteuid() != 0:
        raise NetlabError("building the VM image needs root (mmdebstrap --mode=root, file ownership)",
                          hint="run `sudo netlab image build` once; the image is cached")


# Who still boots from an image directory (names of labs): the caller knows, from its own
# state; the images layer does not read lab state.
InUse = Callable[[Path], list[str]]


def build_image(force: bool = False, mirror: str | None = None, progress: Progress = lambda _: None,
                in_use: InUse | None = None) -> Image:
    """The cached image, built first if the recipe changed, it is missing, or `force`.

    `in_use(dir)` names the labs whose VMs have disks on the image in `dir`: a forced rebuild
    refuses while there are any, and older images are removed only when none uses them. Without
    it, a forced rebuild is not checked and older images are kept.
    """
    root = images_root()
    root.mkdir(parents=True, exist_ok=True)
    # Two labs coming up at once must not build the same image twice.
    with filelock.FileLock(str(root / ".build.lock")):
        image = cached_image()
        if image is not None and not force:
            return image
        target = image_dir()
        if force and target.exists():
            users = in_use(target) if in_use else []
            if users:
                raise NetlabError(f"the VM image is in use by lab {', '.join(users)}",
                                  hint=f"netlab down {users[0]} first, then rebuild")
        _require_tools()
        image = _build(target, mirror or DEFAULT_MIRROR, progress)
        if in_use is not None:
            _remove_stale(root, keep=target, in_use=in_use)
        return image


def _run(argv: list[str], log: Path, what: str) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-20:])
        raise NetlabError(f"{what} failed (exit {proc.returncode}):\n{tail}",
                          hint=f"the whole log is in {log}; a Debian mirror must be reachable (--mirror URL)")


def _customize_hook() -> str:
    """Shell run by mmdebstrap with the root file system in $1: our files, units, clean-up."""
    lines = []
    for rel, text in FILES.items():
        path = f'"$1/{rel}"'
        lines.append(f"mkdir -p \"$(dirname {path})\" && cat > {path} <<'NETLAB_EOF'\n{text}NETLAB_EOF")
    lines += [
        'chmod 0755 "$1/usr/local/sbin/netlab-authkey"',
        f'chroot "$1" systemctl enable {" ".join(ENABLE)}',
        f'chroot "$1" systemctl mask {" ".join(MASK)}',
        # Every VM gets its identity from the kernel command line (systemd.machine_id).
        ': > "$1/etc/machine-id"',
        'rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/*.log',
    ]
    return "\n".join(lines)


def _build(target: Path, mirror: str, progress: Progress) -> Image:
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    log = work / "build.log"
    try:
        rootfs = work / "rootfs"
        hook = work / "customize.sh"
        hook.write_text(_customize_hook() + "\n")
        progress(f"mmdebstrap {SUITE} from {mirror} (a minute or two)")
        argv = ["mmdebstrap", "--mode=root", "--variant=minbase", f"--include={','.join(PACKAGES)}",
                *(f"--dpkgopt={o}" for o in DPKG_EXCLUDES),
                f"--customize-hook=sh {hook} \"$1\"", SUITE, str(rootfs), mirror]
        try:
            _run(argv, log, "mmdebstrap")
        except NetlabError:
            # A mirror or DNS hiccup is common and passes; anything else fails again the same way.
            if "Temporary failure" not in log.read_text() and "Failed to fetch" not in log.read_text():
                raise
            progress("the mirror did not answer; trying once more")
            shutil.rmtree(rootfs, ignore_errors=True)
            time.sleep(3)
            _run(argv, log, "mmdebstrap")
        kernel, initrd = _boot_files(rootfs)
        out = work / "image"
        out.mkdir()
        shutil.copy2(kernel, out / "vmlinuz")
        shutil.copy2(initrd, out / "initrd.img")
        progress(f"making a {DISK_SIZE} ext4 disk and converting it to qcow2")
        raw = work / "base.raw"
        # mke2fs -d fills the file system from a directory: no loop device, no mount.
        _run(["mke2fs", "-q", "-t", "ext4", "-L", "netlab-root", "-d", str(rootfs), str(raw), DISK_SIZE],
             log, "mke2fs")
        _run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(out / "base.qcow2")], log, "qemu-img convert")
        manifest = {
            "recipe": recipe_hash(), "version": IMAGE_VERSION, "suite": SUITE, "mirror": mirror,
            "packages": list(PACKAGES), "built": datetime.now(UTC).isoformat(timespec="seconds"),
            "build_seconds": round(time.monotonic() - started, 1),
            "kernel": kernel.name,
            "sizes": {p.name: p.stat().st_size for p in sorted(out.iterdir())},
            "rootfs_bytes": _du(rootfs),
        }
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        out.replace(target)
        progress(f"image ready in {manifest['build_seconds']} s: {target}")
        return Image(target, manifest)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _boot_files(rootfs: Path) -> tuple[Path, Path]:
    kernels = sorted((rootfs / "boot").glob("vmlinuz-*"))
    initrds = sorted((rootfs / "boot").glob("initrd.img-*"))
    if not kernels or not initrds:
        raise NetlabError("the image has no kernel or initrd in /boot",
                          hint="check that linux-image-cloud-amd64 and initramfs-tools installed")
    return kernels[-1], initrds[-1]


def _du(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _remove_stale(root: Path, keep: Path, in_use: InUse) -> None:
    """Images of older recipes, unless a running lab still boots from one."""
    for d in root.glob(f"{SUITE}-*"):
        if d != keep and d.is_dir() and not in_use(d):
            shutil.rmtree(d, ignore_errors=True)
