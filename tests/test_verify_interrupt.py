"""Ctrl-C during `netlab verify` leaves nothing behind on the hosts: no capture or batch files,
no tcpdump, ping or fping still running in the lab's namespaces. Needs root (netns)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from netlab import catalog
from netlab.lifecycle import Session, down, open_lab, up

from .conftest import needs_root, netlab_namespaces, quiet

pytestmark = [needs_root, pytest.mark.root]

NETLAB = [sys.executable, "-m", "netlab"]
TOOLS = {"tcpdump", "ping", "fping", "timeout"}


@pytest.fixture
def broken_lab(tmp_path: Path) -> Iterator[Session]:
    data = yaml.safe_load(catalog.resolve("lab10").read_text())
    data["name"] = "intr-lab10"
    path = tmp_path / "intr-lab10.yml"
    path.write_text(yaml.safe_dump(data))
    session = open_lab(str(path), "netns")
    up(session, quiet)
    # boxB without its tunnel: every ping towards it waits for its deadline, so verify is slow
    # enough to be interrupted while captures and pings run.
    assert session.provider.run("boxB", ["ip", "link", "del", "vxlan0"]).ok
    try:
        yield session
    finally:
        down(session, quiet)
        assert netlab_namespaces(session.lab.name) == []


def running_tools(namespaces: list[str]) -> list[str]:
    """Our tools still running in the namespaces, by PID (`ip netns pids`)."""
    found = []
    for ns in namespaces:
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                continue
            if comm in TOOLS:
                found.append(f"{comm} (pid {pid}) in {ns}")
    return found


def scratch() -> list[Path]:
    """verify's scratch directories on the hosts (this machine's, for netns): in /dev/shm, else /tmp."""
    return [*Path("/dev/shm").glob("netlab.*"), *Path("/tmp").glob("netlab.*")]


def our_temp_dirs(before: set[str]) -> list[str]:
    """New scratch directories holding a capture (out, err) or a batch's files (N.o, N.e, N.m)."""
    left = []
    for entry in scratch():
        if str(entry) in before or not entry.is_dir():
            continue
        try:
            names = {p.name for p in entry.iterdir()}
        except OSError:
            continue
        if names & {"out", "err", "s", "n"} or any(n.endswith((".o", ".e", ".m")) for n in names):
            left.append(f"{entry}: {sorted(names)}")
    return left


def test_ctrl_c_during_verify_leaves_no_files_or_processes(broken_lab: Session) -> None:
    namespaces = [f"netlab.{broken_lab.lab.name}.{h}" for h in broken_lab.lab.hosts]
    before = {str(p) for p in scratch()}
    env = {**os.environ}
    proc = subprocess.Popen([*NETLAB, "verify", broken_lab.lab.name], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        if any(t.startswith("tcpdump") for t in running_tools(namespaces)):
            break
        time.sleep(0.02)
    assert proc.poll() is None, "verify ended before it could be interrupted"
    time.sleep(0.2)  # the captures and pings are under way
    assert running_tools(namespaces), "nothing ran on the hosts when the interrupt came"
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert b"Traceback" not in err
    assert running_tools(namespaces) == []
    assert our_temp_dirs(before) == []
