"""`up` converges (Molecule's idempotence): a second `up` changes nothing, and `up` after an edit of
the lab file makes the running lab equal to the file. Real namespaces; needs root."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from netlab import catalog
from netlab.lifecycle import down, open_lab, up
from netlab.providers.base import Provider

from .conftest import needs_root, netlab_namespaces, quiet

pytestmark = [needs_root, pytest.mark.root]


def ifindexes(provider: Provider) -> dict[str, int]:
    out = {}
    for host in provider.lab.hosts:
        links = json.loads(provider.run(host, ["ip", "-j", "link", "show"]).stdout)
        out |= {f"{host}/{link['ifname']}": link["ifindex"] for link in links}
    return out


@pytest.mark.parametrize("via", ["default", "ansible"])
def test_a_second_up_changes_nothing_and_loses_no_packet(via: str) -> None:
    session = open_lab("lab10", "netns")
    try:
        up(session, quiet, via=via)
        before = ifindexes(session.provider)
        # A 10 ms ping across the overlay for the whole of the second up: 1000 packets (10 s), each
        # answered within 2 s, counted when ping ends by itself (no packet cut off in flight).
        ping = subprocess.Popen(session.provider.host_argv("boxA", ["ping", "-c", "1000", "-i", "0.01", "-W", "2",
                                                                    "192.168.60.6"]),
                                stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(0.3)  # packets before, during and after the second up
            assert up(session, quiet, via=via) == []
            assert ping.poll() is None, "the second up outlasted the ping: it proves nothing"
        finally:
            stats = ping.communicate(timeout=60)[0]
        assert ifindexes(session.provider) == before
        sent, received = map(int, re.search(r"(\d+) packets transmitted, (\d+) received", stats).groups())
        assert sent == 1000 and received == sent, stats
    finally:
        down(session, quiet)


def edited(tmp_path: Path, change: object) -> Path:
    data = yaml.safe_load(catalog.resolve("lab10").read_text())
    change(data)
    path = tmp_path / "lab10.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_up_after_an_edit_makes_the_lab_equal_to_the_file(tmp_path: Path) -> None:
    from netlab.verify.runner import run_verify

    path = edited(tmp_path, lambda d: None)
    session = open_lab(str(path), "netns")
    try:
        up(session, quiet)

        def drop_box_c(d: dict) -> None:
            del d["hosts"]["boxC"]
            del d["tunnels"][0]["endpoints"]["boxC"]

        session = open_lab(str(edited(tmp_path, drop_box_c)), "netns")
        up(session, quiet)
        assert "netlab.lab10.boxC" not in netlab_namespaces("lab10")
        assert run_verify(session.lab, session.provider).passed

        def renumber(d: dict) -> None:
            d["underlay"]["subnet"] = "192.168.51.0/24"
            d["hosts"] = {"boxA": {"ip": "192.168.51.4"}, "boxB": {"ip": "192.168.51.5"}}
            d["tunnels"][0]["vni"] = 200
            d["tunnels"][0]["endpoints"] = {"boxA": "192.168.60.4/24", "boxB": "192.168.60.5/24"}

        session = open_lab(str(edited(tmp_path, renumber)), "netns")
        changes = up(session, quiet)
        assert changes and any("vxlan0 rebuilt (id is 100, lab says 200)" in c for c in changes), changes
        underlay = session.provider.run("boxA", ["ip", "-br", "addr", "show", "dev", "enp0s8"]).stdout
        assert "192.168.51.4/24" in underlay and "192.168.50.4" not in underlay
        result = run_verify(session.lab, session.provider)
        assert result.passed, {c.id: result.outcome(c).summary for c in result.cases if not result.outcome(c).passed}
        assert up(session, quiet) == []
    finally:
        down(session, quiet)
    assert netlab_namespaces("lab10") == []


def test_up_puts_back_a_flood_entry_a_student_deleted() -> None:
    session = open_lab("vxlan-flood", "netns")
    try:
        up(session, quiet)
        provider, lab = session.provider, session.lab
        first, second = list(lab.hosts)[:2]
        peer_ip = lab.hosts[second].ip
        assert provider.run(first, ["bridge", "fdb", "del", "00:00:00:00:00:00", "dev", "vxlan0",
                                    "dst", peer_ip]).ok
        changes = up(session, quiet)
        assert changes == [f"{first}: vxlan0 rebuilt (floods to "
                           f"{', '.join(sorted(lab.hosts[h].ip for h in list(lab.hosts)[2:]))}, lab says "
                           f"{', '.join(sorted(lab.hosts[h].ip for h in list(lab.hosts)[1:]))})"]
        fdb = provider.run(first, ["bridge", "fdb", "show", "dev", "vxlan0"]).stdout
        assert f"00:00:00:00:00:00 dst {peer_ip}" in fdb
    finally:
        down(session, quiet)


@pytest.mark.parametrize("via", ["default", "ansible"])
def test_up_brings_back_an_underlay_nic_a_student_set_down(via: str) -> None:
    """A downed underlay NIC, or one without its address, is not the lab file: `up` repairs both,
    through the fast path and through the roles (the VM providers' path, run here on namespaces)."""
    session = open_lab("lab9", "netns")
    try:
        up(session, quiet, via=via)
        provider, lab = session.provider, session.lab
        host = next(iter(lab.hosts))
        nic = lab.underlay.interface
        assert provider.run(host, ["ip", "link", "set", nic, "down"]).ok
        assert up(session, quiet, via=via) != []
        assert ",UP" in provider.run(host, ["ip", "-o", "link", "show", "dev", nic]).stdout
        assert provider.run(host, ["ip", "addr", "flush", "dev", nic]).ok
        up(session, quiet, via=via)
        assert f" {lab.hosts[host].ip}/" in provider.run(host, ["ip", "-o", "addr", "show", "dev", nic]).stdout
        assert up(session, quiet, via=via) == []
    finally:
        down(session, quiet)
    assert netlab_namespaces("lab9") == []
