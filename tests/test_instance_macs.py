"""An instance (`up lab10 --name NAME`) is the same lab: `explain lab10` and `explain NAME` give the
same MACs, and a tunnel a student typed from `explain lab10` is not rebuilt by `up NAME` (issue 25
item 9)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from netlab import catalog
from netlab.lifecycle import renamed
from netlab.render.scripts import host_script

from .conftest import needs_root, netlab_namespaces

NETLAB = [sys.executable, "-m", "netlab"]
MAC_LINE = re.compile(r"ip link set \S+ address (52:54(?::[0-9a-f]{2}){4})")


def test_an_instance_renders_the_labs_macs() -> None:
    lab = catalog.load("lab10")
    for host in lab.hosts:
        mine = [c for c in host_script(lab, host).commands if MAC_LINE.search(c)]
        theirs = [c for c in host_script(renamed(lab, "alice"), host).commands if MAC_LINE.search(c)]
        assert mine and mine == theirs
    # Still one MAC per host.
    macs = {m[1] for h in lab.hosts for c in host_script(lab, h).commands if (m := MAC_LINE.search(c))}
    assert len(macs) == len(lab.hosts)


@needs_root
@pytest.mark.root
def test_explain_of_the_instance_is_the_labs_and_up_keeps_what_the_student_typed() -> None:
    name = "mc25-lab10"
    try:
        up = subprocess.run([*NETLAB, "up", "lab10", "--name", name], capture_output=True, text=True, timeout=120)
        assert up.returncode == 0, up.stdout + up.stderr
        of_lab = subprocess.run([*NETLAB, "explain", "lab10"], capture_output=True, text=True, timeout=60).stdout
        of_instance = subprocess.run([*NETLAB, "explain", name], capture_output=True, text=True, timeout=60).stdout
        assert MAC_LINE.findall(of_lab) and MAC_LINE.findall(of_lab) == MAC_LINE.findall(of_instance)
        # The student rebuilds boxA's tunnel by hand from `explain lab10`.
        block = of_lab.split("boxA (192.168.50.4)\n", 1)[1].split("\n\n", 1)[0]
        typed = [line.strip() for line in block.splitlines() if "vxlan0" in line]
        assert any(MAC_LINE.search(line) for line in typed), typed
        for command in ["ip link del vxlan0", *typed]:
            done = subprocess.run([*NETLAB, "exec", name, "boxA", "--", *command.split()], capture_output=True,
                                  text=True, timeout=60)
            assert done.returncode == 0, (command, done.stderr)
        again = subprocess.run([*NETLAB, "up", name], capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "nothing changed" in again.stdout + again.stderr, again.stdout + again.stderr
    finally:
        subprocess.run([*NETLAB, "down", name], capture_output=True, timeout=120)
    assert netlab_namespaces(name) == []
