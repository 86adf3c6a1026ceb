"""Turn netlab's QEMU image into a local Vagrant box for the libvirt provider.

The image is a bare ext4 file system (no partition table, no boot loader), so the box boots it
the way the qemu provider does: vagrant-libvirt's direct kernel boot with the image's own
kernel and initrd. Root logs in with a key made for the box; the kernel command line carries
its public half (the image's netlab-authkey unit installs it at boot).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from netlab.images.build import Image, InUse, Progress, build_image
from netlab.tools import libvirt
from netlab.tools.vagrant import box_add

BOX_NAME = "netlab/debian12"


def box_dir(image: Image) -> Path:
    return image.dir / "vagrant-box"


def box_key(image: Image) -> Path:
    return box_dir(image) / "id_ed25519"


# libvirt runs QEMU as its own user, which cannot read the user's cache directory: the kernel
# and initrd the box boots are copied to libvirt's directory for them.
LIBVIRT_BOOT_DIR = Path("/var/lib/libvirt/boot")


def boot_files(image: Image) -> tuple[Path, Path]:
    tag = str(image.manifest.get("recipe", "image"))[:12]
    return (LIBVIRT_BOOT_DIR / f"netlab-{tag}-vmlinuz", LIBVIRT_BOOT_DIR / f"netlab-{tag}-initrd.img")


def _install_boot_files(image: Image) -> None:
    kernel, initrd = boot_files(image)
    LIBVIRT_BOOT_DIR.mkdir(parents=True, exist_ok=True)
    for source, target in ((image.kernel, kernel), (image.initrd, initrd)):
        shutil.copyfile(source, target)
        target.chmod(0o644)


def box_vagrantfile(image: Image, pubkey: str) -> str:
    encoded = base64.b64encode(pubkey.strip().encode()).decode()
    kernel, initrd = boot_files(image)
    return f'''# netlab's libvirt box: Debian {image.manifest.get("suite", "bookworm")}, booted with its own kernel.
Vagrant.configure("2") do |config|
  config.ssh.username = "root"
  config.ssh.private_key_path = "{box_key(image)}"
  config.ssh.insert_key = false
  config.vm.provider :libvirt do |lv|
    lv.kernel = "{kernel}"
    lv.initrd = "{initrd}"
    lv.cmd_line = "root=/dev/vda rw console=ttyS0 quiet netlab.ssh_key={encoded}"
    lv.disk_bus = "virtio"
  end
end
'''


def metadata(image: Image) -> dict[str, object]:
    size_gib = max(1, -(-int(image.manifest.get("disk_virtual_bytes", 2 << 30)) // (1 << 30)))
    return {"provider": "libvirt", "format": "qcow2", "virtual_size": size_gib}


def installed_box_digest() -> str | None:
    """The image digest of the netlab box Vagrant has, if any (recorded when it was added)."""
    marker = Path(os.environ.get("VAGRANT_HOME", Path.home() / ".vagrant.d")) / "netlab-box.json"
    try:
        return json.loads(marker.read_text()).get("recipe")
    except (OSError, ValueError):
        return None


def build_box(force: bool = False, progress: Progress = lambda _: None, in_use: InUse | None = None) -> Path:
    """Build the image if needed, package it as a libvirt box and `vagrant box add` it."""
    image = build_image(progress=progress, in_use=in_use)
    recipe = image.manifest.get("recipe")
    target = box_dir(image) / "netlab-debian12.box"
    _install_boot_files(image)
    if not force and target.exists() and installed_box_digest() == recipe:
        progress(f"vagrant box {BOX_NAME} is up to date")
        return target
    box_dir(image).mkdir(parents=True, exist_ok=True)
    if not box_key(image).exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "netlab-box", "-f",
                        str(box_key(image))], check=True)
    box_key(image).chmod(0o600)
    pubkey = box_key(image).with_suffix(".pub").read_text()
    progress(f"packaging {target.name}")
    with tempfile.TemporaryDirectory(dir=box_dir(image)) as tmp:
        staging = Path(tmp)
        (staging / "metadata.json").write_text(json.dumps(metadata(image)))
        (staging / "Vagrantfile").write_text(box_vagrantfile(image, pubkey))
        # The box's disk is a full copy: Vagrant uploads it into libvirt's storage pool.
        subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(image.disk), str(staging / "box.img")],
                       check=True)
        partial = target.with_suffix(".partial")
        with tarfile.open(partial, "w") as tar:
            for name in ("metadata.json", "Vagrantfile", "box.img"):
                tar.add(staging / name, arcname=name)
        partial.replace(target)
    progress(f"vagrant box add {BOX_NAME}")
    box_add(BOX_NAME, target)
    marker = Path(os.environ.get("VAGRANT_HOME", Path.home() / ".vagrant.d")) / "netlab-box.json"
    marker.write_text(json.dumps({"recipe": recipe, "box": str(target)}))
    _drop_old_box_volumes(progress)
    return target


def _drop_old_box_volumes(progress: Progress) -> None:
    """vagrant-libvirt keeps each uploaded version of the box as a volume; a new box makes the
    old ones garbage. Removed only while no netlab domain exists (they back its disks)."""
    if shutil.which("virsh") is None:
        return
    domains = libvirt.domain_names()
    if domains is None or any(d.startswith("netlab-") for d in domains):
        return
    prefix = BOX_NAME.replace("/", "-VAGRANTSLASH-") + "_vagrant_box_image_"
    for volume in libvirt.volume_names():
        if volume.startswith(prefix):
            progress(f"removing the old box volume {volume}")
            libvirt.remove_volume(volume)
