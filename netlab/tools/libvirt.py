"""libvirt through `virsh`: the few queries and clean-ups netlab needs (no libvirt bindings)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

LIBVIRT_URI = "qemu:///system"
TIMEOUT = 60.0


def virsh(*args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """`virsh -c qemu:///system ARGS` with a deadline; a timeout counts as failure (exit 124)."""
    argv = ["virsh", "-c", LIBVIRT_URI, *args]
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 124, "", f"virsh {' '.join(args)}: no answer within {timeout:g} s")


def answers(timeout: float = 30.0) -> bool:
    """Whether libvirtd runs and answers."""
    return virsh("uri", timeout=timeout).returncode == 0


def domain_names() -> list[str] | None:
    """Every domain, running or not; None when libvirtd does not answer."""
    proc = virsh("list", "--all", "--name")
    if proc.returncode != 0:
        return None
    return [d.strip() for d in proc.stdout.splitlines() if d.strip()]


@dataclass(frozen=True)
class Domain:
    name: str
    uuid: str
    # The Vagrantfile that made it: vagrant-libvirt's default description is "Source: <path>".
    vagrantfile: Path | None


def domain(name: str) -> Domain | None:
    """The domain called `name`, or None when there is none (or libvirtd does not answer)."""
    proc = virsh("dumpxml", name)
    return parse_domain(name, proc.stdout) if proc.returncode == 0 else None


def parse_domain(name: str, xml: str) -> Domain | None:
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return None
    description = root.findtext("description") or ""
    source = description.removeprefix("Source: ").strip() if description.startswith("Source: ") else ""
    vagrantfile = Path(source) if source.endswith("/Vagrantfile") else None
    return Domain(name, (root.findtext("uuid") or "").strip(), vagrantfile)


def volume_names(pool: str = "default") -> list[str]:
    """Volumes in a libvirt storage pool (virsh vol-list has no --name: first column of the table)."""
    proc = virsh("vol-list", pool)
    rows = proc.stdout.splitlines()[2:] if proc.returncode == 0 else []
    return [row.split()[0] for row in rows if row.strip()]


def remove_domain(domain: str) -> None:
    """Stop a domain and remove it with its storage (errors ignored: it may be half gone)."""
    virsh("destroy", domain)
    virsh("undefine", domain, "--remove-all-storage")


def remove_volume(volume: str, pool: str = "default") -> None:
    virsh("vol-delete", volume, "--pool", pool)
