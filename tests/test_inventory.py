"""netlab inventory: an Ansible inventory of a running lab that plain `ansible` uses from anywhere.

For netns the real thing: a lab up, its inventory written, and `ansible all -i FILE -m command`
run from another directory (with a HOME of its own, which netlab leaves empty: the header's
ANSIBLE_CONNECTION_PLUGINS points at the plugin in netlab's package) reaches every host, under
the host's own name. For qemu and Vagrant the variables are checked without VMs.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from netlab import catalog
from netlab.cli import app
from netlab.errors import NetlabError
from netlab.inventory import inventory_text, lab_inventory, reach_vars, ssh_config_user
from netlab.model import load_lab
from netlab.package_data import connection_plugins_dir
from netlab.providers.netns import NetnsProvider
from netlab.providers.qemu import QemuProvider
from netlab.state import LabState

from .conftest import needs_root

DATA = Path(__file__).parent / "data"
runner = CliRunner()
ANSIBLE = Path(sys.executable).parent / "ansible"


def invoke(*args: str):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


@needs_root
@pytest.mark.root
def test_a_netns_inventory_reaches_every_host_from_another_directory(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = invoke("up", "lab10", "--name", "invtest")
    assert result.exit_code == 0, result.output
    try:
        inv = tmp_path / "inv.yml"
        result = invoke("inventory", "invtest", "-o", str(inv))
        assert result.exit_code == 0, result.output
        assert list(home.iterdir()) == []  # nothing of netlab's in the user's ~/.ansible
        data = yaml.safe_load(inv.read_text())
        hosts = data["all"]["children"]["invtest"]["hosts"]
        assert set(hosts) == {"boxA", "boxB", "boxC"}
        assert hosts["boxA"]["ansible_host"] == "netlab.invtest.boxA"
        assert all(k.startswith("ansible_") for h in hosts.values() for k in h)  # reach, not the lab model
        # The header says how to run it: netlab's plugin, from netlab's package, by an env var.
        use = re.search(r"^# Use \(from any directory\): (.*)$", inv.read_text(), re.MULTILINE)
        assert use is not None
        words = shlex.split(use.group(1))
        assert words[0] == f"ANSIBLE_CONNECTION_PLUGINS={connection_plugins_dir()}"
        assert words[1:4] == ["ansible-playbook", "-i", "THIS-FILE"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        env.update(HOME=str(home), ANSIBLE_NOCOLOR="1", ANSIBLE_CONNECTION_PLUGINS=str(connection_plugins_dir()))
        proc = subprocess.run([str(ANSIBLE), "all", "-i", str(inv), "-m", "ansible.builtin.command",
                               "-a", "ip -br link"], cwd=elsewhere, capture_output=True, text=True, timeout=120,
                              env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        for host in ("boxA", "boxB", "boxC"):
            assert f"{host} | CHANGED | rc=0" in proc.stdout
        assert proc.stdout.count("vxlan0") == 3 and proc.stdout.count("enp0s8") == 3
        # Each task runs under the lab host's name (a hostname task never renames this machine).
        proc = subprocess.run([str(ANSIBLE), "all", "-i", str(inv), "-a", "hostname", "-o"], cwd=elsewhere,
                              capture_output=True, text=True, timeout=120, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        names = dict(re.findall(r"^(\w+) \| CHANGED \| rc=0 \| \(stdout\) (\S+)$", proc.stdout, re.MULTILINE))
        assert names == {"boxA": "boxA", "boxB": "boxB", "boxC": "boxC"}, proc.stdout
        assert list(home.iterdir()) in ([], [home / ".ansible"])  # Ansible's own tmp at most
        assert not (home / ".ansible" / "plugins").exists()
    finally:
        invoke("down", "invtest")


def _netns_inventory(tmp_path: Path, name: str) -> Path:
    lab = load_lab(catalog.resolve("lab9"))
    inv = tmp_path / "netns-inv.yml"
    inv.write_text(inventory_text(NetnsProvider(lab, LabState(name))))
    return inv


def test_a_netns_inventory_header_names_the_plugin_not_the_ssh_provider(tmp_path: Path) -> None:
    text = _netns_inventory(tmp_path, "lab9").read_text()
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    assert f"ANSIBLE_CONNECTION_PLUGINS={connection_plugins_dir()} ansible-playbook -i THIS-FILE" in header
    assert "--provider ssh" not in header and "not an --inventory for netlab's ssh provider" in header


def test_up_on_ssh_refuses_a_netns_inventory_before_any_state(tmp_path: Path) -> None:
    inv = _netns_inventory(tmp_path, "lab9")
    result = invoke("up", "lab9", "--name", "ops24ssh", "--provider", "ssh", "--inventory", str(inv))
    assert result.exit_code == 1
    assert "ansible_connection=netns, not ssh" in result.stderr and "netns lab's inventory" in result.stderr
    assert not LabState("ops24ssh").exists and not LabState("ops24ssh").dir.exists()


def test_inventory_of_a_lab_that_is_not_up() -> None:
    result = invoke("inventory", "lab10")
    assert result.exit_code == 1
    assert "lab lab10 is not up" in result.output


def test_a_qemu_inventory_has_the_forwarded_port_and_absolute_paths() -> None:
    lab = load_lab(DATA / "ssh-pair.yml")
    provider = QemuProvider(lab, LabState(lab.name))
    provider.state.set(provider_data={"hosts": {"sa": {"port": 40022}, "sb": {"port": 40023}}})
    sa = reach_vars(provider, "sa")
    assert (sa["ansible_host"], sa["ansible_port"], sa["ansible_user"]) == ("127.0.0.1", 40022, "root")
    assert Path(sa["ansible_ssh_private_key_file"]).is_absolute()
    assert f"-F {provider.ssh_config}" in sa["ansible_ssh_common_args"]
    inventory = lab_inventory(provider)
    assert inventory["all"]["children"]["ssh_pair"]["hosts"]["sb"]["ansible_port"] == 40023
    assert inventory["all"]["children"]["netlab_routers"] == {"hosts": {}}


class _VagrantLike:
    """What netlab.inventory sees of a Vagrant provider: no connection variables, an ssh_config."""

    name = "libvirt"

    def __init__(self, lab, ssh_config: Path) -> None:
        self.lab = lab
        self.ssh_config = ssh_config

    def ansible_connection(self, host: str) -> dict:
        return {}


def test_a_vagrant_inventory_uses_the_labs_ssh_config(tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text("Host sa\n  HostName 192.168.121.5\n  User vagrant\n  Port 22\n"
                      "Host sb\n  HostName 192.168.121.6\n  User root\n\nHost *\n  ControlMaster auto\n")
    provider = _VagrantLike(load_lab(DATA / "ssh-pair.yml"), config)
    sa, sb = reach_vars(provider, "sa"), reach_vars(provider, "sb")  # type: ignore[arg-type]
    assert sa == {"ansible_connection": "ssh", "ansible_host": "sa", "ansible_ssh_common_args": f"-F {config}",
                  "ansible_user": "vagrant", "ansible_become": True}
    assert sb["ansible_become"] is False
    config.unlink()
    with pytest.raises(NetlabError, match="has no ssh_config yet"):
        reach_vars(provider, "sa")  # type: ignore[arg-type]


def test_ssh_config_user_takes_the_first_block_that_applies() -> None:
    text = "Host a b\n  User alice\nHost *\n  User nobody\n"
    assert ssh_config_user(text, "b") == "alice"
    assert ssh_config_user(text, "c") == "nobody"
    assert ssh_config_user("Host a\n  Port 2\n", "a") is None
