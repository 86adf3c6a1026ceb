"""Tenants are machines for every command: exec and ssh run inside the tenant's namespace under its
name, status lists each with its host, bridge, tunnel and eth0, capture --host captures on its
eth0, inventory reaches it, graph draws it behind its host's bridge, and completion offers it.
One `tenants` lab on netns (needs root) serves the commands that need it up."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from netlab import catalog
from netlab.lifecycle import Session, down, open_lab, up
from netlab.macs import tenant_mac
from netlab.providers.base import Availability, CommandResult, HostStatus, Provider
from netlab.state import LabState

from .conftest import needs_root, netlab_namespaces, quiet

NAME = "tcli19"


def netlab(*args: str, env: dict[str, str], input: str | None = None,
           timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netlab", *args], capture_output=True, text=True, env=env,
                          input=input, timeout=timeout)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The catalog's `tenants` lab up on netns as NAME, for the module; the environment that reaches it."""
    environ = {**os.environ, "NETLAB_STATE_DIR": str(tmp_path_factory.mktemp("tenant-cli-state"))}
    environ.pop("NETLAB_PROVIDER", None)
    up = netlab("-q", "up", "tenants", "--provider", "netns", "--name", NAME, env=environ)
    assert up.returncode == 0, up.stderr
    try:
        yield environ
    finally:
        netlab("-q", "down", NAME, env=environ)
        assert netlab_namespaces(NAME) == []


@needs_root
def test_exec_runs_in_the_tenant_under_its_name(env: dict[str, str]) -> None:
    proc = netlab("exec", NAME, "web1", "--", "sh", "-c", "hostname; cat /sys/class/net/eth0/address", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["web1", tenant_mac("web1")]


@needs_root
def test_ssh_gives_a_shell_in_the_tenant(env: dict[str, str]) -> None:
    # No terminal: the shell reads its commands from standard input.
    proc = netlab("ssh", NAME, "db2", env=env, input="hostname\nip -4 -o addr show dev eth0\nexit\n")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "db2"
    assert "10.100.0.2/24" in lines[1]


@needs_root
def test_status_lists_tenants_with_host_bridge_tunnel_and_eth0(env: dict[str, str]) -> None:
    proc = netlab("status", NAME, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [h["host"] for h in data["hosts"]] == ["boxA", "boxB", "boxC"]
    db1 = next(t for t in data["tenants"] if t["tenant"] == "db1")
    assert (db1["host"], db1["tunnel"], db1["bridge"], db1["state"]) == ("boxA", "vxlan200", "br200", "running")
    assert db1["interfaces"] == [{"name": "eth0", "state": "UP", "mtu": 1450, "addresses": ["10.100.0.1/24"]}]
    table = netlab("status", NAME, env=env).stdout
    row = next(line for line in table.splitlines() if " web3 " in line)
    for cell in ("boxC", "br100", "vxlan100", "running", "UP", "1450", "10.100.0.3/24"):
        assert cell in row, row


@needs_root
def test_capture_on_a_tenant_shows_its_inner_frames(env: dict[str, str]) -> None:
    proc = netlab("capture", NAME, "--host", "db1", "--ping", "db1", "db2", "-c", "4", "icmp", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "10.100.0.1 > 10.100.0.2: ICMP echo request" in proc.stdout, proc.stdout
    assert "listening on eth0" in proc.stderr
    assert "4789" not in proc.stdout  # inside the tenant: no outer header yet


@needs_root
def test_capture_on_a_tenant_refuses_a_segment(env: dict[str, str]) -> None:
    proc = netlab("capture", NAME, "--host", "web1", "--segment", "myNetwork", env=env)
    assert proc.returncode != 0
    assert "web1 is a tenant" in proc.stderr and "--host boxA" in proc.stderr
    assert "Traceback" not in proc.stderr


@needs_root
def test_inventory_reaches_each_tenant_in_its_namespace(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "inventory.yml"
    proc = netlab("inventory", NAME, "-o", str(path), env=env)
    assert proc.returncode == 0, proc.stderr
    import yaml

    tenants = yaml.safe_load(path.read_text())["all"]["children"]["tenants"]["hosts"]
    assert set(tenants) == {"web1", "web2", "web3", "db1", "db2"}
    assert tenants["web2"]["ansible_host"] == f"netlab.{NAME}.web2"
    assert tenants["web2"]["netlab_tenant_host"] == "boxB"
    ansible = Path(sys.executable).parent / "ansible"
    if not ansible.exists():
        pytest.skip("ansible is not installed")
    use = proc.stderr.split("use it with: ", 1)[1].split()[0]  # ANSIBLE_CONNECTION_PLUGINS=...
    variable, value = use.split("=", 1)
    run = subprocess.run([str(ansible), "-i", str(path), "web2", "-m", "command", "-a", "ip -4 -o addr show eth0"],
                         capture_output=True, text=True, timeout=120,
                         env={**env, variable: value, "ANSIBLE_HOST_KEY_CHECKING": "False"})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "10.100.0.2/24" in run.stdout


def test_graph_draws_tenants_behind_their_hosts_bridge() -> None:
    from netlab.graph import graph_text

    dot = graph_text(catalog.load("tenants"), "dot")
    assert "tenant_db2 -- bridge_boxC_br200" in dot
    assert "bridge_boxC_br200 -- host_boxC" in dot
    assert 'label="eth0 10.100.0.2/24"' in dot
    mermaid = graph_text(catalog.load("tenants"), "mermaid")
    assert 'tenant_web1 ---|"eth0 10.100.0.1/24"| bridge_boxA_br100' in mermaid


def test_completion_offers_tenants() -> None:
    from netlab.cli.app import complete_host

    ctx = SimpleNamespace(params={"lab": "tenants"})
    found = dict(complete_host(ctx, "d"))  # type: ignore[arg-type]
    assert found == {"db1": "tenant 10.100.0.1/24 on boxA", "db2": "tenant 10.100.0.2/24 on boxC"}


@pytest.fixture(scope="module")
def static_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """The catalog's `vxlan-static` lab up on netns (static entries, ARP suppression), for the faults."""
    state_dir = tmp_path_factory.mktemp("tenant-fault-state")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NETLAB_STATE_DIR", str(state_dir))
        session = open_lab("vxlan-static", "netns", name=f"{NAME}s")
        up(session, quiet)
        try:
            yield session
        finally:
            down(session, quiet)
            assert netlab_namespaces(f"{NAME}s") == []


def link_of(provider: Provider, machine: str, device: str) -> dict[str, Any]:
    return json.loads(provider.run(machine, ["ip", "-d", "-j", "link", "show", "dev", device]).stdout)[0]


def web1_entries(provider: Provider) -> list[str]:
    """boxB's permanent entries for web1's MAC (web1 lives behind boxA)."""
    entries = json.loads(provider.run("boxB", ["bridge", "-j", "fdb", "show", "dev", "vxlan100"]).stdout)
    return [e["dst"] for e in entries if e.get("mac") == tenant_mac("web1") and "dst" in e]


# fault -> (host, what tells it is there, what that is when broken, and right)
TENANT_FAULTS: dict[str, tuple[str, Callable[[Provider], Any], Any, Any]] = {
    "tenant-mtu": ("boxA", lambda p: (link_of(p, "boxA", "tn-web1")["mtu"], link_of(p, "web1", "eth0")["mtu"]),
                   (1500, 1500), (1450, 1450)),
    "tenant-wrong-bridge": ("boxA", lambda p: link_of(p, "boxA", "tn-web1").get("master"), None, "br100"),
    "bridge-down": ("boxA", lambda p: "UP" in link_of(p, "boxA", "br100")["flags"], False, True),
    # Its first entry on boxB is web1's, the lab's first tenant.
    "static-entry-missing": ("boxB", web1_entries, [], ["192.168.50.4"]),
    # A fault of the tunnel device on a bridged tunnel: rebuilt and a port of its bridge again.
    "wrong-vni": ("boxA", lambda p: (link_of(p, "boxA", "vxlan100")["linkinfo"]["info_data"]["id"],
                                     link_of(p, "boxA", "vxlan100").get("master")), (101, "br100"), (100, "br100")),
}


@needs_root
@pytest.mark.parametrize("fault", list(TENANT_FAULTS))
def test_a_tenant_fault_changes_the_device_and_reset_undoes_it(static_lab: Session, fault: str) -> None:
    """What `netlab break` and `netlab reset` do, in process: the fault changes the device, the
    survey (`break --reveal`) sees it there, the convergence (`reset`) puts the lab back."""
    from netlab import faults
    from netlab.configure.ipbatch import apply_ip_batch

    provider = static_lab.provider
    host, look, broken, right = TENANT_FAULTS[fault]
    assert look(provider) == right
    cable = link_of(provider, "boxA", "tn-web1")["ifindex"]
    name, target = faults.choose(provider.lab, faults.survey(provider, [], False), fault, host,
                                 random.Random(0), f"{NAME}s")
    commands, record = faults.plan(provider, faults.survey(provider, [], False), name, target)
    faults.run(provider, commands, target, name)
    assert look(provider) == broken
    assert faults.survey(provider, [record], False).broken == [record]
    changes = apply_ip_batch(provider, quiet)
    assert changes and all(c.startswith(f"{host}: ") for c in changes), changes
    assert look(provider) == right
    assert faults.survey(provider, [record], False).broken == []
    if fault in ("wrong-vni", "static-entry-missing"):  # not web1's cable nor its bridge: web1 stayed plugged in
        assert link_of(provider, "boxA", "tn-web1")["ifindex"] == cable


@needs_root
def test_break_names_a_tenants_host(static_lab: Session) -> None:
    env = {**os.environ, "NETLAB_STATE_DIR": str(static_lab.provider.state.dir.parent)}
    proc = netlab("break", f"{NAME}s", "tenant-mtu", "--host", "web3", env=env)
    assert proc.returncode != 0
    assert "web3 is a tenant" in proc.stderr and "--host boxC" in proc.stderr
    assert "Traceback" not in proc.stderr


class VMs(Provider):
    """A provider of VMs reached over ssh, for what needs no VM to run (nothing is started)."""

    name = "vms"
    description = "VMs reached over ssh"

    @classmethod
    def availability(cls, lab: object = None) -> Availability:
        return Availability(True, "")

    def create(self, progress: Callable[[str], None]) -> None: ...
    def destroy(self, progress: Callable[[str], None]) -> None: ...
    def status(self) -> list[HostStatus]:
        return []

    def host_argv(self, host: str, command: list[str], interactive: bool = False) -> list[str]:
        return self.tenant_argv(host, command) if host in self.lab.tenants else ["ssh", host, *command]

    def run(self, host: str, command: list[str], timeout: float = 30, input: str | None = None) -> CommandResult:
        argv = self.host_argv(host, command)
        eth0 = [{"ifname": "eth0", "operstate": "UP", "mtu": 1450,
                 "addr_info": [{"local": "10.100.0.2", "prefixlen": 24, "scope": "global"}]}]
        return CommandResult(argv, 0, json.dumps(eth0), "")

    def ansible_connection(self, host: str) -> dict[str, Any]:
        assert host in self.lab.hosts, f"Ansible asked to reach {host} itself"
        return {"ansible_connection": "ssh", "ansible_host": f"{host}.vm"}

    def testinfra_uri(self, host: str) -> str:
        return f"ssh://{host}"


def test_inventory_on_vms_reaches_a_tenant_through_its_host_and_says_so() -> None:
    """Ansible cannot enter a namespace inside a VM: a tenant's entry reaches its host, names the
    namespace, and the file's header says how to use it."""
    import yaml

    from netlab.inventory import inventory_text

    text = inventory_text(VMs(catalog.load("tenants"), LabState("tenants")))
    assert "a tenant's entry reaches its\n# HOST" in text
    db2 = yaml.safe_load(text)["all"]["children"]["tenants"]["hosts"]["db2"]
    assert db2["ansible_host"] == "boxC.vm"
    assert (db2["netlab_tenant_host"], db2["netlab_tenant_namespace"]) == ("boxC", "db2")
    assert db2["netlab_tenant_reached"] == "through its host"


def test_status_on_vms_reads_each_tenant_inside_its_running_host() -> None:
    found = {h.host: h for h in VMs(catalog.load("tenants"), LabState("tenants")).tenant_status({"boxC"})}
    assert found["db2"].state == "running"
    assert found["db2"].interfaces == [{"name": "eth0", "state": "UP", "mtu": 1450, "addresses": ["10.100.0.2/24"]}]
    assert found["web1"].state == "stopped"  # boxA is not running: not asked
