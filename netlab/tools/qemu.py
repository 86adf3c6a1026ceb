"""QEMU as a program: whether KVM really runs guests here, disk overlays, and the QMP monitor."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from qemu.qmp import QMPClient, QMPError

from netlab.errors import NetlabError

QEMU = "qemu-system-x86_64"
PROBE_FILE = "kvm-probe.json"
PROBE_TIMEOUT = 8.0


def _probe_key() -> str:
    qemu = shutil.which(QEMU) or ""
    mtime = os.stat(qemu).st_mtime if qemu else 0
    return f"{os.uname().release}|{qemu}|{mtime}"


@cache
def accelerator(kernel: str, cache_dir: Path, forced: str | None = None) -> str:
    """'kvm' only if a short probe proves KVM runs a guest here, else 'tcg'.

    /dev/kvm can exist while guests hang, so the probe boots `kernel` without a root disk under
    KVM: a working KVM panics and exits (panic=-1, -no-reboot) within a few seconds. The answer
    is kept in `cache_dir` per host kernel and QEMU build; `forced` (tcg | kvm) skips the probe.
    Used by the qemu provider and by libvirt's choice of domain type.
    """
    if forced in ("tcg", "kvm"):
        return forced
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    cache_file = cache_dir / PROBE_FILE
    with contextlib.suppress(OSError, ValueError):
        saved = json.loads(cache_file.read_text())
        if saved.get("key") == _probe_key():
            return saved["accel"]
    argv = [QEMU, "-accel", "kvm", "-m", "128", "-nodefaults", "-display", "none", "-no-reboot",
            "-serial", "stdio", "-kernel", kernel, "-append", "console=ttyS0 panic=-1"]
    try:
        # On timeout subprocess.run kills the probe (its own child) before raising.
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT,
                              stdin=subprocess.DEVNULL)
        accel = "kvm" if "Kernel panic" in proc.stdout or "VFS" in proc.stdout else "tcg"
    except subprocess.TimeoutExpired:
        accel = "tcg"
    with contextlib.suppress(OSError):
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        cache_file.write_text(json.dumps({"key": _probe_key(), "accel": accel}))
    return accel


def create_overlay(base: Path, disk: Path, timeout: float = 60) -> None:
    """A qcow2 overlay `disk` backed by `base` (a few MB; writes go to the overlay only)."""
    proc = subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", "qcow2", str(disk)],
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise NetlabError(f"qemu-img create {disk} failed: {proc.stderr.strip()}",
                          hint="check the disk space and that the VM image is intact (netlab image build --force)")


def qmp_argv(path: Path) -> list[str]:
    """QEMU options for a QMP monitor on the unix socket `path` (QEMU listens, never waits)."""
    return ["-qmp", f"unix:{path},server=on,wait=off"]


async def _execute(path: Path, command: str, arguments: dict[str, Any] | None, timeout: float) -> Any:
    client = QMPClient("netlab")
    try:
        async with asyncio.timeout(timeout):
            await client.connect(str(path))  # greeting and capabilities negotiation included
            return await client.execute(command, arguments)
    finally:
        # Clean-up only: a QEMU that quit or reset the connection has nothing more to say.
        with contextlib.suppress(QMPError, OSError, EOFError, TimeoutError):
            async with asyncio.timeout(2):
                await client.disconnect()


def qmp_command(path: Path, command: str, arguments: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
    """Run one QMP command (e.g. system_reset, query-status) on the monitor at `path`; returns
    QMP's answer (a dict, often empty). The whole exchange has a deadline of `timeout` seconds."""
    try:
        return asyncio.run(_execute(path, command, arguments, timeout))
    except TimeoutError:
        raise NetlabError(f"QEMU's monitor {path} did not answer {command} within {timeout:g} s",
                          hint="is the VM's QEMU still running? (netlab status)") from None
    except (QMPError, OSError) as exc:
        raise NetlabError(f"QMP command {command} on {path} failed: {exc}",
                          hint="is the VM's QEMU still running? (netlab status)") from None
