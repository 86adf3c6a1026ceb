"""Shared fixtures: an isolated state directory, and skips for what a test machine lacks."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netlab import catalog
from netlab.lifecycle import Session, down, open_lab, up

REPO = Path(__file__).resolve().parent.parent


def quiet(_: str) -> None:
    """A progress callback that prints nothing."""


@contextlib.contextmanager
def netns_lab(lab: str) -> Iterator[Session]:
    """`lab` (a catalog name or a file) up on netns for the block; then down, and none of its
    namespaces left."""
    session = open_lab(lab, "netns")
    up(session, quiet)
    try:
        yield session
    finally:
        down(session, quiet)
        assert netlab_namespaces(session.lab.name) == []


@pytest.fixture(autouse=True)
def _state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own netlab state directory: no test sees another's labs."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("NETLAB_STATE_DIR", str(state))
    monkeypatch.delenv("NETLAB_PROVIDER", raising=False)
    return state


def netlab_namespaces(lab: str | None = None) -> list[str]:
    if shutil.which("ip") is None:
        return []
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    prefix = f"netlab.{lab}." if lab else "netlab."
    return [n for n in names if n.startswith(prefix)]


def vxlan_lab(name: str, hosts: int, mode: str = "multicast", vni: int = 7) -> dict[str, Any]:
    """A generated one-segment lab: `hosts` VTEPs on one VXLAN tunnel (multicast or flood)."""
    names = [f"h{i}" for i in range(hosts)]

    def address(prefix: str, i: int) -> str:
        return f"{prefix}.{(i + 10) // 250}.{(i + 10) % 250 + 1}"

    tunnel: dict[str, Any] = {"name": "vxlan0", "type": "vxlan", "vni": vni, "mode": mode,
                              "endpoints": {h: address("10.78", i) + "/16" for i, h in enumerate(names)}}
    if mode == "multicast":
        tunnel.update(group="239.255.7.7", ttl=5)
    return {
        "name": name,
        "underlay": {"name": "wire", "subnet": "10.77.0.0/16"},
        "hosts": {h: {"ip": address("10.77", i)} for i, h in enumerate(names)},
        "tunnels": [tunnel],
    }


def write_lab(directory: Path, lab: dict[str, Any]) -> Path:
    path = directory / f"{lab['name']}.yml"
    path.write_text(json.dumps(lab))
    return path


needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None,
    reason="needs root and iproute2 to create network namespaces",
)


def why_no_vms() -> str | None:
    """Why QEMU VMs cannot run here, or None."""
    from netlab.images import cached_image, missing_tools

    if shutil.which("qemu-system-x86_64") is None:
        return "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86 qemu-utils)"
    if os.geteuid() != 0:
        return "needs root to build the VM image (mmdebstrap --mode=root)"
    if cached_image() is None and missing_tools():
        return "no cached VM image and no tools to build one (apt-get install mmdebstrap e2fsprogs qemu-utils)"
    return None


needs_vms = pytest.mark.skipif(why_no_vms() is not None, reason=why_no_vms() or "")


@pytest.fixture(scope="session")
def vm_image() -> object:
    """One VM image for every qemu test (built once, then cached across runs)."""
    from netlab.images.build import build_image

    return build_image()


def netns_cannot_run(lab: str) -> str | None:
    """Why the netns provider cannot run `lab` (a catalog name or file) on this machine, or None.
    Such a lab is for the qemu provider: the QEMU catalog test runs every catalog lab."""
    from netlab.providers.netns import NetnsProvider

    available = NetnsProvider.availability(catalog.load(lab))
    return None if available.ok else f"{available.reason}: a lab for the qemu provider"
