"""Rendered lab directories pass the real tools: vagrant validate, ansible-playbook, ansible-lint."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from netlab import catalog
from netlab.configure.workdir import render_options
from netlab.render import render

from .conftest import REPO

CATALOG = [e.name for e in catalog.catalog()]
ANSIBLE_BIN = Path(sys.executable).parent


def _render(lab: str, provider: str, out: Path) -> Path:
    model = catalog.load(lab)
    render(model, out, render_options(provider, model))
    return out


@pytest.mark.vagrant
@pytest.mark.skipif(shutil.which("vagrant") is None, reason="vagrant is not installed (apt-get install vagrant)")
@pytest.mark.parametrize("lab", CATALOG)
def test_virtualbox_vagrantfile_validates(lab: str, tmp_path: Path) -> None:
    out = _render(lab, "virtualbox", tmp_path / lab)
    proc = subprocess.run(["vagrant", "validate", "-p"], cwd=out, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Vagrantfile validated successfully" in proc.stdout


@pytest.mark.vagrant
@pytest.mark.skipif(shutil.which("vagrant") is None, reason="vagrant is not installed (apt-get install vagrant)")
def test_vagrant_validate_rejects_a_broken_vagrantfile(tmp_path: Path) -> None:
    """The validation test above can fail: a bad hostname makes vagrant validate exit non-zero."""
    out = _render("lab9", "virtualbox", tmp_path / "lab9")
    text = (out / "Vagrantfile").read_text().replace('hostname = "boxA"', 'hostname = "box_A!"')
    (out / "Vagrantfile").write_text(text)
    proc = subprocess.run(["vagrant", "validate", "-p"], cwd=out, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0


def test_virtualbox_vagrantfile_keeps_the_seed_settings(tmp_path: Path) -> None:
    text = (_render("lab10", "virtualbox", tmp_path / "d") / "Vagrantfile").read_text()
    for host, ip in (("boxA", "192.168.50.4"), ("boxB", "192.168.50.5"), ("boxC", "192.168.50.6")):
        block = text.split(f'config.vm.define "{host}"')[1].split("config.vm.define")[0]
        assert f'node.vm.hostname = "{host}"' in block
        assert re.search(rf'"private_network", ip: "{re.escape(ip)}", netmask: "255.255.255.0",\s+'
                         r'virtualbox__intnet: "myNetwork"', block)
        assert '["modifyvm", :id, "--nicpromisc2", "allow-all"]' in block
        assert 'node.vm.box = "ubuntu/jammy64"' in block
    # One Ansible run configures all hosts, from the last machine, on every up/provision.
    assert text.count('node.vm.provision "ansible", run: "always"') == 1
    last = text.split('config.vm.define "boxC"')[1]
    assert 'node.vm.provision "ansible", run: "always"' in last
    assert 'ansible.playbook = "site.yml"' in last and 'ansible.limit = "all"' in last


def test_box_can_be_chosen_per_lab_and_per_render(tmp_path: Path) -> None:
    model = catalog.load("lab9").model_copy(update={"box": "ubuntu/bionic64"})
    opts = render_options("virtualbox", model)
    render(model, tmp_path / "a", opts)
    assert 'node.vm.box = "ubuntu/bionic64"' in (tmp_path / "a" / "Vagrantfile").read_text()
    render(model, tmp_path / "b", render_options("virtualbox", model, box="debian/bookworm64"))
    assert 'node.vm.box = "debian/bookworm64"' in (tmp_path / "b" / "Vagrantfile").read_text()


def test_rendered_directory_stands_alone(tmp_path: Path) -> None:
    out = _render("lab10", "virtualbox", tmp_path / "d")
    cfg = (out / "ansible.cfg").read_text()
    assert "roles_path = roles" in cfg
    for role in ("overlay", "underlay", "tools"):
        assert (out / "roles" / role / "tasks" / "main.yml").is_file()
    host_vars = yaml.safe_load((out / "host_vars" / "boxA.yml").read_text())
    assert host_vars["netlab_tunnels"][0]["group"] == "239.255.0.1"
    assert host_vars["netlab_tunnels"][0]["ttl"] == 5


@pytest.mark.parametrize("provider", ["virtualbox", "libvirt", "qemu", "netns"])
def test_playbook_syntax_check(provider: str, tmp_path: Path) -> None:
    out = _render("lab10", provider, tmp_path / provider)
    proc = subprocess.run(
        [str(ANSIBLE_BIN / "ansible-playbook"), "--syntax-check", "-i", "inventory.yml", "site.yml"],
        cwd=out, capture_output=True, text=True, timeout=120,
        env={"PATH": f"{ANSIBLE_BIN}:/usr/bin:/bin", "ANSIBLE_CONFIG": str(out / "ansible.cfg"),
             "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(not (ANSIBLE_BIN / "ansible-lint").exists(), reason="ansible-lint is not installed")
def test_roles_and_playbook_pass_ansible_lint(tmp_path: Path) -> None:
    work = tmp_path / "lint"
    work.mkdir()
    shutil.copytree(REPO / "roles", work / "roles")
    shutil.copytree(REPO / "playbooks", work / "playbooks")
    shutil.copy(REPO / ".ansible-lint", work / ".ansible-lint")
    proc = subprocess.run(
        [str(ANSIBLE_BIN / "ansible-lint"), "--offline", "playbooks/site.yml", "roles/"],
        cwd=work, capture_output=True, text=True, timeout=300,
        env={"PATH": f"{ANSIBLE_BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "ANSIBLE_ROLES_PATH": "roles"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
