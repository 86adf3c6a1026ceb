"""Tenants through a lab's life on netns: `up` after an edit makes exactly the change the edit
names (a tenant added, moved, readdressed or removed; the other tenants' cables keep their
ifindex), a second `up` changes nothing, `down` removes every tenant's namespace, also after the
state is lost, and `--via ansible` builds the very devices the fast path does. Needs root."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from netlab.lifecycle import Session, down, open_lab, up
from netlab.providers.base import Provider

from .conftest import needs_root, netlab_namespaces, quiet

pytestmark = [needs_root, pytest.mark.root]

NAME = "tlc19"
# Two segments: VNI 100 learns over multicast, VNI 200 is static (every VTEP is told where each
# tenant lives), so a move also changes the other VTEPs' entries.
LAB: dict[str, Any] = {
    "name": NAME,
    "title": "tenants lifecycle",
    "underlay": {"name": "u", "subnet": "192.168.50.0/24", "interface": "enp0s8"},
    "hosts": {"boxA": {"ip": "192.168.50.4"}, "boxB": {"ip": "192.168.50.5"}, "boxC": {"ip": "192.168.50.6"}},
    "tunnels": [
        {"name": "vxlan100", "type": "vxlan", "vni": 100, "group": "239.255.0.1", "ttl": 5, "bridge": "br100",
         "endpoints": {"boxA": None, "boxB": None, "boxC": None}},
        {"name": "vxlan200", "type": "vxlan", "vni": 200, "mode": "static", "arp_suppress": True,
         "bridge": "br200", "endpoints": {"boxA": None, "boxB": None, "boxC": None}},
    ],
    "tenants": {
        "web1": {"host": "boxA", "tunnel": "vxlan100", "ip": "10.100.0.1/24"},
        "web2": {"host": "boxB", "tunnel": "vxlan100", "ip": "10.100.0.2/24"},
        "web3": {"host": "boxC", "tunnel": "vxlan100", "ip": "10.100.0.3/24"},
        "db1": {"host": "boxA", "tunnel": "vxlan200", "ip": "10.100.0.1/24"},
        "db2": {"host": "boxC", "tunnel": "vxlan200", "ip": "10.100.0.2/24"},
    },
}


class Lab:
    """The module's one running lab, and its lab file (edited step by step)."""

    def __init__(self, folder: Path, state_dir: Path) -> None:
        self.path = folder / f"{NAME}.yml"
        self.state_dir = state_dir
        self.data = copy.deepcopy(LAB)
        self.session: Session | None = None

    def apply(self, edit: Callable[[dict[str, Any]], None] | None = None) -> list[str] | None:
        if edit is not None:
            edit(self.data)
        self.path.write_text(yaml.safe_dump(self.data, sort_keys=False))
        self.session = open_lab(str(self.path), "netns")
        return up(self.session, quiet)

    @property
    def provider(self) -> Provider:
        assert self.session is not None
        return self.session.provider


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    state_dir = tmp_path_factory.mktemp("tenant-state")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NETLAB_STATE_DIR", str(state_dir))
        running = Lab(tmp_path_factory.mktemp("tenant-lab"), state_dir)
        running.apply()
        try:
            yield running
        finally:
            if running.session is not None:
                down(running.session, quiet)


@pytest.fixture
def the_lab(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Lab:
    monkeypatch.setenv("NETLAB_STATE_DIR", str(lab.state_dir))  # not the test's own (conftest)
    return lab


def ifindexes(provider: Provider) -> dict[str, int]:
    """Every device of every host and every tenant's eth0: 'machine/device' -> ifindex."""
    out = {}
    for machine in provider.lab.nodes:
        result = provider.run(machine, ["ip", "-j", "link", "show"])
        out |= {f"{machine}/{link['ifname']}": link["ifindex"] for link in json.loads(result.stdout or "[]")}
    return out


def pings(provider: Provider, tenant: str, address: str) -> bool:
    return provider.run(tenant, ["ping", "-c", "2", "-i", "0.2", "-W", "1", address], timeout=10).ok


def unchanged_but(before: dict[str, int], after: dict[str, int], *touched: str) -> dict[str, tuple[int, int]]:
    """Devices present before and after whose ifindex changed, except those of `touched`
    ('web4' for its namespace, 'boxB/tn-web4' for one device)."""
    def mine(key: str) -> bool:
        return any(key == t or key.startswith(f"{t}/") for t in touched)

    return {k: (v, after[k]) for k, v in before.items() if k in after and after[k] != v and not mine(k)}


def test_a_second_up_changes_nothing(the_lab: Lab) -> None:
    before = ifindexes(the_lab.provider)
    assert the_lab.apply() == []
    assert ifindexes(the_lab.provider) == before
    assert pings(the_lab.provider, "web1", "10.100.0.3")
    assert pings(the_lab.provider, "db1", "10.100.0.2")


def test_a_tenant_added_makes_only_its_cable(the_lab: Lab) -> None:
    before = ifindexes(the_lab.provider)
    changes = the_lab.apply(lambda d: d["tenants"].update(
        web4={"host": "boxB", "tunnel": "vxlan100", "ip": "10.100.0.4/24"}))
    assert changes is not None and len(changes) == 1 and changes[0].startswith("boxB: tenant web4 "), changes
    after = ifindexes(the_lab.provider)
    assert unchanged_but(before, after) == {}
    assert set(after) - set(before) == {"boxB/tn-web4", "web4/lo", "web4/eth0"}
    assert pings(the_lab.provider, "web4", "10.100.0.1")


def test_a_tenant_moved_leaves_its_old_host_and_reaches_the_others(the_lab: Lab) -> None:
    before = ifindexes(the_lab.provider)
    changes = the_lab.apply(lambda d: d["tenants"]["web4"].update(host="boxC"))
    assert changes is not None
    assert len(changes) == 2 and changes[0] == "boxB: removed tn-web4 (not in the lab)", changes
    assert changes[1].startswith("boxC: tenant web4 cabled to br100"), changes
    after = ifindexes(the_lab.provider)
    assert "boxB/tn-web4" not in after and "boxC/tn-web4" in after
    assert unchanged_but(before, after, "web4") == {}
    # The moved tenant speaks first (as a migrated VM does): the VTEPs learn where it lives now.
    assert pings(the_lab.provider, "web4", "10.100.0.1")
    assert pings(the_lab.provider, "web1", "10.100.0.4")


def test_a_static_tenant_moved_updates_the_other_vteps_entries_only(the_lab: Lab) -> None:
    before = ifindexes(the_lab.provider)
    changes = the_lab.apply(lambda d: d["tenants"]["db2"].update(host="boxB"))
    assert changes is not None and not any("rebuilt" in c for c in changes), changes
    assert any(c.startswith("boxA: vxlan200 static entries updated") for c in changes), changes
    after = ifindexes(the_lab.provider)
    assert unchanged_but(before, after, "db2") == {}
    fdb = the_lab.provider.run("boxA", ["bridge", "-j", "fdb", "show", "dev", "vxlan200"]).stdout
    from netlab.macs import tenant_mac

    dsts = {e.get("dst") for e in json.loads(fdb) if e.get("mac") == tenant_mac("db2") and "dst" in e}
    assert dsts == {"192.168.50.5"}  # boxB now, boxC's entry gone
    assert pings(the_lab.provider, "db1", "10.100.0.2")


def test_a_tenant_readdressed_gets_a_new_cable_alone(the_lab: Lab) -> None:
    before = ifindexes(the_lab.provider)
    changes = the_lab.apply(lambda d: d["tenants"]["web2"].update(ip="10.100.0.12/24"))
    assert changes is not None and len(changes) == 1 and changes[0].startswith("boxB: tenant web2 "), changes
    assert unchanged_but(before, ifindexes(the_lab.provider), "web2", "boxB/tn-web2") == {}
    assert pings(the_lab.provider, "web1", "10.100.0.12")


def test_a_tenant_removed_takes_its_namespace_and_cable(the_lab: Lab) -> None:
    before = ifindexes(the_lab.provider)
    changes = the_lab.apply(lambda d: d["tenants"].pop("web3"))
    assert changes == ["web3: removed (no longer in the lab)"]  # its cable went with its namespace
    assert f"netlab.{NAME}.web3" not in netlab_namespaces(NAME)
    after = ifindexes(the_lab.provider)
    assert "boxC/tn-web3" not in after
    assert unchanged_but(before, after, "web3") == {}
    assert the_lab.apply() == []


def test_a_static_tenant_removed_leaves_no_entry_behind(the_lab: Lab) -> None:
    from netlab.macs import tenant_mac

    changes = the_lab.apply(lambda d: d["tenants"].pop("db2"))
    assert changes is not None and changes[0] == "db2: removed (no longer in the lab)", changes
    provider, mac = the_lab.provider, tenant_mac("db2")
    fdb = json.loads(provider.run("boxA", ["bridge", "-j", "fdb", "show", "dev", "vxlan200"]).stdout)
    assert [e for e in fdb if e.get("mac") == mac] == []  # neither its VTEP entry nor the bridge's
    neigh = json.loads(provider.run("boxA", ["ip", "-j", "neigh", "show", "dev", "br200"]).stdout)
    assert [n for n in neigh if n.get("lladdr") == mac] == []
    assert the_lab.apply() == []


def test_down_removes_every_tenant_namespace(the_lab: Lab) -> None:
    assert f"netlab.{NAME}.web1" in netlab_namespaces(NAME)
    assert the_lab.session is not None
    down(the_lab.session, quiet)
    the_lab.session = None
    assert netlab_namespaces(NAME) == []


def netlab_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netlab", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_down_by_name_after_the_state_is_lost_removes_tenants(tmp_path: Path) -> None:
    env = {**os.environ, "NETLAB_STATE_DIR": str(tmp_path / "state")}
    name = "tlc19crash"
    assert netlab_cli("-q", "up", "tenants", "--name", name, env=env).returncode == 0
    assert f"netlab.{name}.db2" in netlab_namespaces(name)
    shutil.rmtree(tmp_path / "state")  # the crash: no record of the lab is left
    proc = netlab_cli("down", name, env=env)
    assert proc.returncode == 0, proc.stderr
    assert netlab_namespaces(name) == []


def devices(provider: Provider, machine: str) -> list[dict[str, Any]]:
    """`ip -d -j link` of a machine, less what differs between two builds of the same lab."""
    links = json.loads(provider.run(machine, ["ip", "-d", "-j", "link", "show"]).stdout)
    volatile = {"ifindex", "link_index", "link", "stats", "stats64", "promiscuity", "allmulti"}
    for link in links:
        for key in volatile & set(link):
            del link[key]
        if link["ifname"] == "enp0s8" or link["ifname"].startswith("tn-"):
            del link["address"]  # the provider's cable and the tenants' host ends: MACs the kernel picks
        slave = (link.get("linkinfo") or {}).get("info_slave_data") or {}
        data = (link.get("linkinfo") or {}).get("info_data") or {}
        for d in (slave, data):  # timers and ids a bridge and its ports pick as they run
            for key in [k for k in d if "timer" in k or k in ("root_id", "bridge_id", "designated_root",
                                                                   "designated_bridge", "no", "id", "root_port",
                                                                   "designated_port", "port_id", "port_no")]:
                del d[key]
    return sorted(links, key=lambda link: link["ifname"])


def test_via_ansible_builds_the_same_devices_as_the_fast_path(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("ansible-playbook") is None and not (Path(sys.executable).parent / "ansible-playbook").exists():
        pytest.skip("ansible-playbook is not installed")
    built = {}
    for via in ("default", "ansible"):
        monkeypatch.setenv("NETLAB_STATE_DIR", str(tmp_path / via))
        session = open_lab("lab11-bridge", "netns", name="tlc19via")
        try:
            up(session, quiet, via=via)
            built[via] = {m: devices(session.provider, m) for m in ("boxA", "web1")}
        finally:
            down(session, quiet)
    assert built["ansible"] == built["default"]
