"""Shared fixtures: an isolated state directory, and skips for what a test machine lacks."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


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


needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None,
    reason="needs root and iproute2 to create network namespaces",
)


@pytest.fixture(scope="session")
def vm_image() -> object:
    """One VM image for every qemu test (built once, then cached across runs)."""
    from netlab.images.build import build_image

    return build_image()
