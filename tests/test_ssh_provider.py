"""The ssh provider: existing machines named in an Ansible inventory.

Fast tests (no VMs): reading YAML and INI inventories through ansible-core, the ssh_config netlab
writes (checked with `ssh -G`, as ssh itself reads it), the preflight script and its errors, and
an inventory pointing at a closed port on 127.0.0.1 (fails fast, names the host, changes nothing).

One slow test (qemu): two VMs brought up with --no-overlay stand in for existing machines; their
`netlab inventory` is the ssh provider's inventory for the same lab under another name, which is
brought up, verified and taken down; the VMs must be untouched and still running.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netlab.cli import app
from netlab.errors import NetlabError
from netlab.model import load_lab
from netlab.providers import DEFAULT_ORDER, PROVIDER_NAMES
from netlab.providers.ssh import SshProvider
from netlab.providers.ssh.preflight import Facts, parse_facts, probe_script, problems
from netlab.providers.ssh.targets import Target, parse_ssh_args, read_inventory, ssh_config_text
from netlab.state import LabState

from .conftest import needs_vms

DATA = Path(__file__).parent / "data"
PAIR = DATA / "ssh-pair.yml"
runner = CliRunner()


def invoke(*args: str):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is


@pytest.mark.parametrize("length", range(44, 58))
def test_ssh_control_sockets_fit_in_a_unix_socket_path(monkeypatch: pytest.MonkeyPatch, length: int) -> None:
    # A long state directory (CI's pytest-172/state734/...) made ssh fail: "too long for Unix
    # domain socket". ssh adds "/" + %C (40) + a 17-character temporary suffix: at most 107 bytes.
    import tempfile

    lab = load_lab(Path(__file__).parent / "data" / "ssh-pair.yml")
    with tempfile.TemporaryDirectory(prefix="nl", dir="/tmp") as base:
        tail = f"/{lab.name}/ssh"
        pad = length - len(base) - len(tail) - 1
        assert pad > 0
        monkeypatch.setenv("NETLAB_STATE_DIR", f"{base}/{'d' * pad}")
        preferred = Path(f"{base}/{'d' * pad}{tail}")
        assert len(str(preferred)) == length
        control = SshProvider(lab, LabState(lab.name)).control_dir
    assert len(str(control)) + 1 + 40 + 17 <= 107


def test_ssh_is_registered_but_never_picked_unasked() -> None:
    assert "ssh" in PROVIDER_NAMES
    assert "ssh" not in DEFAULT_ORDER


# -- the inventory -------------------------------------------------------------------------------
def test_a_yaml_inventory_with_group_vars_host_vars_and_ssh_args(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "other_config").write_text("Host *\n  Compression yes\n")
    inv = tmp_path / "hosts.yml"
    inv.write_text("""
all:
  vars:
    ansible_user: student
    ansible_ssh_private_key_file: keys/id_lab
  children:
    pcs:
      vars:
        ansible_ssh_common_args: "-F other_config -o ControlMaster=auto -oServerAliveCountMax=4"
      hosts:
        sa: {ansible_host: 10.0.0.1, ansible_port: 2201, netlab_configure_underlay: true}
        sb: {ansible_host: "{{ base }}.2", base: 10.0.0, ansible_ssh_extra_args: "-p 2202 -C"}
        spare: {}
""")
    targets = read_inventory(inv, ["sa", "sb"])
    sa, sb = targets["sa"], targets["sb"]
    assert (sa.address, sa.port, sa.user) == ("10.0.0.1", 2201, "student")
    assert sa.key == str(tmp_path / "keys" / "id_lab")  # relative to the inventory, made absolute
    assert sa.includes == [str(tmp_path / "other_config")]
    assert ("ControlMaster", "auto") in sa.options and ("ServerAliveCountMax", "4") in sa.options
    assert sa.configure_underlay and not sb.configure_underlay
    assert sb.address == "10.0.0.2"  # templated as Ansible would
    assert ("Port", "2202") in sb.options and ("Compression", "yes") in sb.options


def test_an_ini_inventory(tmp_path: Path) -> None:
    inv = tmp_path / "hosts"
    inv.write_text("[lab]\nsa ansible_host=192.0.2.1 ansible_user=root\nsb ansible_host=192.0.2.2 ansible_port=22\n")
    targets = read_inventory(inv, ["sa", "sb"])
    assert targets["sa"].describe() == "root@192.0.2.1"
    assert targets["sb"].describe() == "192.0.2.2:22"


def test_an_inventory_without_a_lab_host_names_it(tmp_path: Path) -> None:
    inv = tmp_path / "hosts.yml"
    inv.write_text("all:\n  hosts:\n    sa: {ansible_host: 192.0.2.1}\n    other: {}\n")
    with pytest.raises(NetlabError, match=r"has no host sb \(it has: other, sa\)"):
        read_inventory(inv, ["sa", "sb"])


@pytest.mark.parametrize(("variables", "message"), [
    ({"ansible_password": "secret"}, "host sa: the inventory gives an SSH password"),
    ({"ansible_connection": "local"}, "host sa: its inventory says ansible_connection=local, not ssh"),
    ({"ansible_port": "ssh"}, "host sa: ansible_port 'ssh' is not a port number"),
    ({"ansible_ssh_common_args": "-N"}, "host sa: ssh option '-N' in its ssh args has no ssh_config equivalent"),
])
def test_what_netlab_cannot_use_is_refused_naming_the_host(tmp_path: Path, variables: dict, message: str) -> None:
    import yaml

    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump({"all": {"hosts": {"sa": variables, "sb": {}}}}))
    with pytest.raises(NetlabError, match=message.replace("(", r"\(")):
        read_inventory(inv, ["sa", "sb"])


def test_ssh_args_as_config_lines(tmp_path: Path) -> None:
    options, includes = parse_ssh_args("sa", "-o StrictHostKeyChecking=no -i k -l bob -J jump -4 -F /etc/x",
                                       tmp_path)
    assert options == [("StrictHostKeyChecking", "no"), ("IdentityFile", str(tmp_path / "k")), ("User", "bob"),
                       ("ProxyJump", "jump"), ("AddressFamily", "inet")]
    assert includes == ["/etc/x"]


# -- the ssh_config --------------------------------------------------------------------------------
def effective(config: Path, host: str) -> dict[str, list[str]]:
    """What ssh itself makes of `config` for `host` (ssh -G: no connection is made)."""
    out = subprocess.run(["ssh", "-G", "-F", str(config), host], capture_output=True, text=True, check=True).stdout
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        found.setdefault(key, []).append(value)
    return found


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the ssh client")
def test_the_ssh_config_gives_each_host_the_inventory_settings_first(tmp_path: Path) -> None:
    included = tmp_path / "vm_config"
    # Like a qemu lab's ssh_config: its own control path and host key policy.
    included.write_text("Host sa\n  HostName 127.0.0.9\n  Port 9\nHost *\n  StrictHostKeyChecking no\n"
                        "  UserKnownHostsFile /dev/null\n  ControlPath /elsewhere/%C\n")
    targets = {
        "sa": Target("sa", address="127.0.0.1", port=2222, user="root", key="/keys/id", includes=[str(included)],
                     options=[("ControlPersist", "30s")]),
        "sb": Target("sb", address="192.0.2.7"),
    }
    config = tmp_path / "ssh_config"
    config.write_text(ssh_config_text(targets, tmp_path / "cm"))
    sa, sb = effective(config, "sa"), effective(config, "sb")
    assert sa["hostname"] == ["127.0.0.1"] and sa["port"] == ["2222"] and sa["user"] == ["root"]
    assert "/keys/id" in sa["identityfile"]
    assert sa["controlpersist"] == ["30"]  # the inventory's option wins over netlab's 120 s
    assert Path(sa["controlpath"][0]).parent == tmp_path / "cm"  # netlab's sockets, not the other lab's
    assert sa["stricthostkeychecking"] == ["false"]  # the included file's policy fills in
    assert sa["batchmode"] == ["yes"]
    assert sb["hostname"] == ["192.0.2.7"] and sb["port"] == ["22"]
    assert sb["stricthostkeychecking"] == ["accept-new"]  # existing machines: learn keys once


# -- the preflight -------------------------------------------------------------------------------
def test_the_probe_script_runs_and_reads_this_machine(tmp_path: Path) -> None:
    """The script itself, on this machine (as ssh would run it): it parses, and changes nothing."""
    lab = load_lab(PAIR)
    before = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    proc = subprocess.run(["sh", "-s"], input=probe_script(lab, "sa"), capture_output=True, text=True, timeout=30)
    facts = parse_facts(proc.returncode, proc.stdout, proc.stderr)
    assert facts.reached and facts.uid
    assert facts.python
    if facts.sudo == "root":
        assert "lo" in facts.devices
        assert facts.kinds <= {t.kind.name for t in lab.tunnels}
    assert subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout == before


def facts_of(**changes: object) -> Facts:
    facts = Facts(reached=True, uid="0", sudo="root", python=True, systemd=True, kinds={"vxlan"},
                  devices={"lo", "enp0s8"},
                  link={"ifname": "enp0s8", "mtu": 1500, "flags": ["BROADCAST", "UP"],
                        "addr_info": [{"local": "192.168.50.41", "prefixlen": 24}]})
    for key, value in changes.items():
        setattr(facts, key, value)
    return facts


def test_a_ready_host_has_no_problems() -> None:
    assert problems(load_lab(PAIR), Target("sa"), facts_of(), True, "cfg") == []


@pytest.mark.parametrize(("changes", "message"), [
    ({"reached": False, "error": "ssh: connect to host 127.0.0.1 port 9: Connection refused"},
     "host sa (root@127.0.0.1:9): cannot log in over SSH: ssh: connect to host 127.0.0.1 port 9: Connection refused"),
    ({"sudo": "no"}, "host sa: user root is not root and has no passwordless sudo"),
    ({"python": False}, "host sa: python3 is not installed"),
    ({"link": None}, "host sa: has no interface enp0s8 (the lab's underlay interface; the host has: enp0s8)"),
    ({"link": {"mtu": 1500, "flags": ["UP"], "addr_info": [{"local": "10.1.1.1", "prefixlen": 8}]}},
     "host sa: enp0s8 does not have the lab's underlay address 192.168.50.41/24 (it has: 10.1.1.1/8)"),
    ({"link": {"mtu": 9000, "flags": ["UP"], "addr_info": [{"local": "192.168.50.41", "prefixlen": 24}]}},
     "host sa: enp0s8 has MTU 9000, the lab's underlay says 1500"),
    ({"kinds": set()}, "host sa: its kernel has no vxlan (tunnel vxlan0 needs it)"),
    ({"devices": {"lo", "enp0s8", "vxlan0"}}, "host sa: a device vxlan0 exists already and netlab did not make it"),
])
def test_each_failing_check_is_one_line_naming_the_host(changes: dict, message: str) -> None:
    target = Target("sa", address="127.0.0.1", port=9, user="root")
    found = problems(load_lab(PAIR), target, facts_of(**changes), True, "cfg")
    assert len(found) == 1 and found[0].startswith(message), found


def test_netlab_may_set_the_underlay_when_the_inventory_says_so() -> None:
    bare = {"mtu": 1400, "flags": [], "addr_info": []}
    target = Target("sa", configure_underlay=True)
    assert problems(load_lab(PAIR), target, facts_of(link=bare), True, "cfg") == []


def test_ssh_output_parses_into_facts() -> None:
    out = ("uid=1000\nsudo=yes\npython=yes\nsystemd=no\n@link\n"
           '[{"ifname":"enp0s8","mtu":1500,"flags":["UP"],"addr_info":[]}]\n@devices\n'
           '[{"ifname":"lo"},{"ifname":"enp0s8"}]\n@tools\nmissing=fping\n@kinds\nkind=vxlan\n')
    facts = parse_facts(0, out, "")
    assert (facts.uid, facts.sudo, facts.python, facts.systemd) == ("1000", "yes", True, False)
    assert facts.link and facts.link["ifname"] == "enp0s8"
    assert facts.devices == {"lo", "enp0s8"} and facts.missing_tools == ["fping"] and facts.kinds == {"vxlan"}
    assert not parse_facts(255, "", "ssh: Could not resolve hostname x\n").reached


# -- reaching hosts and cleaning up, without machines ------------------------------------------------
def provider(name: str = "ssh-pair") -> SshProvider:
    lab = load_lab(PAIR)
    if name != lab.name:
        lab = lab.model_copy(update={"name": name})
    return SshProvider(lab, LabState(name))


def test_a_sudo_host_gets_sudo_everywhere() -> None:
    p = provider()
    p.state.set(provider_data={"hosts": {"sa": {"sudo": True, "user": "student"}, "sb": {"sudo": False}}})
    p.write_ssh_config({"sa": Target("sa"), "sb": Target("sb")})
    assert p.host_argv("sa", ["ip", "link"])[-1] == "sudo -n ip link"
    assert p.host_argv("sb", ["ip", "link"])[-1] == "ip link"
    assert p.batch_argv("sa", "ip", "-j")[-1] == "sudo -n ip -j -batch -"
    assert p.testinfra_uri("sa").endswith("&sudo=true") and "sudo" not in p.testinfra_uri("sb")
    sa = p.ansible_connection("sa")
    assert sa["ansible_become"] is True and sa["ansible_user"] == "student"
    assert sa["ansible_ssh_common_args"] == f"-F {p.ssh_config}" and sa["ansible_host"] == "sa"
    assert p.ansible_group_vars()["netlab_dir"] == "/etc/netlab/ssh-pair"
    assert p.ansible_group_vars()["netlab_unit"] == "netlab-overlay-ssh-pair.service"


def test_the_cleanup_script_removes_only_the_labs_own_things() -> None:
    p = provider()
    script = p.cleanup_script("sa", {"underlay_added": "192.168.50.41/24", "mtu_before": 1500})
    subprocess.run(["sh", "-n"], input=script, text=True, check=True)  # it parses
    assert "dir=/etc/netlab/ssh-pair" in script and "unit=netlab-overlay-ssh-pair.service" in script
    assert "ip addr del 192.168.50.41/24 dev enp0s8" in script and "mtu 1500" in script
    plain = p.cleanup_script("sa", {})
    assert "ip addr del" not in plain and " mtu " not in plain


def test_up_against_a_closed_port_fails_fast_naming_the_host_and_changes_nothing(tmp_path: Path) -> None:
    port = closed_port()
    inv = tmp_path / "hosts.yml"
    inv.write_text(f"all:\n  hosts:\n    sa: {{ansible_host: 127.0.0.1, ansible_port: {port}, ansible_user: root}}\n"
                   f"    sb: {{ansible_host: 127.0.0.1, ansible_port: {port}, ansible_user: root}}\n")
    started = time.monotonic()
    result = invoke("up", str(PAIR), "--provider", "ssh", "--inventory", str(inv), "--name", "sshclosed")
    took = time.monotonic() - started
    assert result.exit_code == 1
    assert f"host sa (root@127.0.0.1:{port}): cannot log in over SSH" in result.output
    assert f"host sb (root@127.0.0.1:{port}): cannot log in over SSH" in result.output
    assert "Connection refused" in result.output and "nothing was changed" in result.output
    assert took < 20, f"took {took:.1f} s"
    state = LabState("sshclosed")
    assert state.read().provider_data.get("hosts") is None  # no machine was touched, none is recorded
    # down has nothing to undo on the machines, and needs none of them.
    result = invoke("down", "sshclosed")
    assert result.exit_code == 0, result.output
    assert not state.exists


def test_up_without_an_inventory_says_what_is_needed() -> None:
    result = invoke("up", str(PAIR), "--provider", "ssh", "--name", "sshnoinv")
    assert result.exit_code == 1
    assert "provider ssh needs the machines of lab sshnoinv" in result.output
    assert "--inventory" in result.output
    invoke("down", "sshnoinv")


# -- for real: two qemu VMs stand in for existing machines -------------------------------------------


# What a VM looks like to netlab: its files, units, devices and addresses.
SNAPSHOT = ("ls -A /etc/netlab; sha256sum /etc/netlab/* 2>/dev/null; "
            "ls /etc/systemd/system /etc/systemd/system/multi-user.target.wants /etc/systemd/network; "
            "ip -br link | sed 's/@.*//' | cut -d' ' -f1; ip -br addr")


@pytest.mark.qemu
@pytest.mark.slow
@needs_vms
def test_a_lab_on_existing_machines_up_verified_and_down_leaves_them_as_they_were(
        tmp_path: Path, vm_image: object) -> None:
    from netlab.lifecycle import down, open_lab, up

    vms = open_lab(str(PAIR), "qemu", name="sshvms")
    try:
        up(vms, lambda _: None, overlay=False)  # machines with the underlay only: "existing machines"
        qemu = vms.provider
        pids = {h: qemu.pid(h) for h in vms.lab.hosts}  # type: ignore[attr-defined]
        assert all(pids.values())
        before = {h: qemu.run(h, ["sh", "-c", SNAPSHOT]).stdout for h in vms.lab.hosts}

        inv = tmp_path / "machines.yml"
        result = invoke("inventory", "sshvms", "-o", str(inv))
        assert result.exit_code == 0, result.output

        result = invoke("up", str(PAIR), "--provider", "ssh", "--inventory", str(inv), "--name", "sshlab")
        assert result.exit_code == 0, result.output
        assert "checking 2 machines over SSH" in result.output
        result = invoke("verify", "sshlab")
        assert result.exit_code == 0, result.output
        assert "all checks pass" in result.output
        result = invoke("status", "sshlab")
        assert result.exit_code == 0 and "10.41.0.1/24" in result.output, result.output
        lab = open_lab("sshlab", must_be_up=True).provider
        on_sa = lab.run("sa", ["sh", "-c", "ip -d link show vxlan0; systemctl is-enabled netlab-overlay-sshlab; "
                                           "ls /etc/netlab/sshlab"])
        assert on_sa.ok and "vxlan id 141" in on_sa.stdout and "enabled" in on_sa.stdout, on_sa
        assert "apply.sh" in on_sa.stdout
        udev = lab.run("sa", ["cat", "/etc/systemd/network/10-netlab-overlay-sshlab.link"])
        assert udev.ok and "OriginalName=vxlan0" in udev.stdout, udev
        # A second up converges: nothing to change.
        result = invoke("up", "sshlab")
        assert result.exit_code == 0 and "nothing changed" in result.output, result.output

        result = invoke("down", "sshlab")
        assert result.exit_code == 0, result.output
        for host in vms.lab.hosts:
            assert qemu.pid(host) == pids[host], f"the VM of {host} was restarted or stopped"  # type: ignore[attr-defined]
            after = qemu.run(host, ["sh", "-c", SNAPSHOT])
            assert after.ok, f"SSH to {host} no longer answers: {after.stderr}"
            assert after.stdout == before[host]  # no device, file or unit of sshlab left, the rest as it was
            assert "vxlan0" not in after.stdout and "netlab-overlay-sshlab" not in after.stdout
    finally:
        invoke("down", "sshlab")
        down(open_lab("sshvms", salvage=True), lambda _: None)
    assert not LabState("sshvms").exists
    assert all(vms.provider.pid(h) is None for h in vms.lab.hosts)  # type: ignore[attr-defined]
