"""`netlab break --host ROUTER` says what a router can break, not "no host" (issue 25 item 9)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import needs_root, netlab_namespaces

NETLAB = [sys.executable, "-m", "netlab"]

# Two segments joined by gw; a point-to-point VXLAN across it (no multicast routing needed).
ROUTED = {
    "name": "br25-routed",
    "underlay": {"interface": "enp0s8", "segments": {"left": {"subnet": "192.168.50.0/24"},
                                                     "right": {"subnet": "192.168.51.0/24"}}},
    "routers": {"gw": {"interfaces": {"left": "192.168.50.1", "right": "192.168.51.1"}, "multicast": "none"}},
    "hosts": {"boxA": {"ip": "192.168.50.4"}, "boxC": {"ip": "192.168.51.6"}},
    "tunnels": [{"name": "vxlan0", "type": "vxlan", "vni": 100, "mode": "p2p",
                 "endpoints": {"boxA": "192.168.60.4/24", "boxC": "192.168.60.6/24"}}],
}


@needs_root
@pytest.mark.root
def test_break_on_a_router_says_what_a_router_can_break(tmp_path: Path) -> None:
    path = tmp_path / "br25-routed.yml"
    path.write_text(yaml.safe_dump(ROUTED))
    name = ROUTED["name"]
    try:
        up = subprocess.run([*NETLAB, "up", str(path)], capture_output=True, text=True, timeout=120)
        assert up.returncode == 0, up.stdout + up.stderr
        for extra in ([], ["wrong-vni"], ["--list"]):
            run = subprocess.run([*NETLAB, "break", name, "--host", "gw", *extra], capture_output=True, text=True,
                                 timeout=60)
            assert run.returncode == 1, (extra, run.stdout, run.stderr)
            assert "no host" not in run.stderr and "Traceback" not in run.stderr
            assert "gw is a router of lab br25-routed" in run.stderr, run.stderr
            assert "break a host (boxA, boxC)" in run.stderr and f"netlab exec {name} gw -- ip link set" in run.stderr
        # A host still breaks as before; a name that is neither is still "no host".
        assert subprocess.run([*NETLAB, "break", name, "--host", "boxA", "wrong-vni"], capture_output=True,
                              timeout=60).returncode == 0
        nowhere = subprocess.run([*NETLAB, "break", name, "--host", "gx"], capture_output=True, text=True, timeout=60)
        assert nowhere.returncode == 1 and "no host 'gx'" in nowhere.stderr
    finally:
        subprocess.run([*NETLAB, "down", name], capture_output=True, timeout=120)
    assert netlab_namespaces(name) == []
