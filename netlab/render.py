"""`netlab render`: the files that bring a lab up with Vagrant and configure it with Ansible.

The output directory stands alone: it carries copies of the roles and the playbook, so a
student can copy it to a laptop with VirtualBox and run plain `vagrant up` there.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml

from netlab.errors import NetlabError
from netlab.hostvars import host_vars
from netlab.macs import stable_mac
from netlab.model import Lab
from netlab.resources import connection_plugins_dir, playbooks_dir, roles_dir, vagrantfile_template

DEFAULT_BOXES = {"virtualbox": "ubuntu/jammy64", "libvirt": "netlab/debian12"}


@dataclass
class RenderOptions:
    provider: str
    # Per-host connection variables for inventory.yml (how Ansible reaches each host).
    connection: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Variables for every host (e.g. netlab_dir, netlab_boot_unit for netns).
    group_vars: dict[str, Any] = field(default_factory=dict)
    box: str | None = None
    memory: int = 512
    libvirt_driver: str = "kvm"
    mcast: tuple[str, int] = ("239.255.77.1", 47001)
    connection_plugins: bool = False


def host_box(lab: Lab, host: str, provider: str, override: str | None = None) -> str:
    """The box a host boots: --box, else the host's own, else the lab's, else the provider's."""
    return override or lab.hosts[host].box or lab.box or DEFAULT_BOXES[provider]


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def vagrantfile(lab: Lab, opts: RenderOptions) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(vagrantfile_template().parent)),
        trim_blocks=True,
        lstrip_blocks=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Ruby source; every value is a validated, quote-free name or address
    )
    hosts = [
        {"name": name, "ip": spec.ip, "box": host_box(lab, name, opts.provider, opts.box),
         "mac": underlay_mac(lab.name, name)}
        for name, spec in lab.hosts.items()
    ]
    return env.get_template(vagrantfile_template().name).render(
        lab=lab,
        provider=opts.provider,
        hosts=hosts,
        underlay=lab.underlay,
        netmask=str(lab.underlay.network.netmask),
        memory=opts.memory,
        install_tools=opts.provider == "virtualbox",
        libvirt={"driver": opts.libvirt_driver, "mcast_group": opts.mcast[0], "mcast_port": opts.mcast[1]},
    )


def underlay_mac(lab: str, host: str) -> str:
    """A stable MAC for a host's underlay NIC (unique per lab and host)."""
    return stable_mac(lab, host)


def ansible_cfg(opts: RenderOptions) -> str:
    lines = [
        "# netlab: Ansible settings for this lab directory.",
        "[defaults]",
        "inventory = inventory.yml",
        "roles_path = roles",
        "host_key_checking = False",
        "interpreter_python = auto_silent",
        "retry_files_enabled = False",
        "forks = 64",
    ]
    if opts.connection_plugins:
        lines.append("connection_plugins = connection_plugins")
    lines += [
        "",
        "[ssh_connection]",
        "pipelining = True",
        "ssh_args = -o ControlMaster=auto -o ControlPersist=120s",
        "",
    ]
    return "\n".join(lines)


def inventory(lab: Lab, opts: RenderOptions) -> dict[str, Any]:
    hosts = {h: dict(opts.connection.get(h, {})) for h in lab.hosts}
    group: dict[str, Any] = {"hosts": hosts}
    if opts.group_vars:
        group["vars"] = dict(opts.group_vars)
    return {"all": {"children": {lab.name.replace("-", "_"): group}}}


def render(lab: Lab, outdir: Path, opts: RenderOptions) -> list[Path]:
    """Write everything into `outdir`, atomically: on any failure nothing is left behind."""
    if opts.provider not in ("virtualbox", "libvirt", "qemu", "netns"):
        raise NetlabError(
            f"unknown provider {opts.provider!r}", hint="use virtualbox, libvirt, qemu or netns"
        )
    if outdir.exists() and not outdir.is_dir():
        raise NetlabError(f"{outdir} exists and is not a directory", hint="give -o a directory")
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".netlab-render-", dir=outdir.parent))
    try:
        files = _write(lab, staging, opts)
        outdir.mkdir(exist_ok=True)
        written = []
        for rel in files:
            target = outdir / rel
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            (staging / rel).replace(target)
            written.append(target)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write(lab: Lab, d: Path, opts: RenderOptions) -> list[Path]:
    files: list[Path] = []

    def put(rel: str, text: str) -> None:
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text(text)
        if Path(rel).parts[0] not in [Path(f).parts[0] for f in files]:
            files.append(Path(Path(rel).parts[0]))

    if opts.provider in ("virtualbox", "libvirt"):
        put("Vagrantfile", vagrantfile(lab, opts))
    put("ansible.cfg", ansible_cfg(opts))
    put("inventory.yml", _dump(inventory(lab, opts)))
    put("site.yml", (playbooks_dir() / "site.yml").read_text())
    for host in lab.hosts:
        header = "# generated by netlab from the lab file\n"
        put(f"host_vars/{host}.yml", header + _dump(host_vars(lab, host)))
    shutil.copytree(roles_dir(), d / "roles", ignore=shutil.ignore_patterns("__pycache__"))
    files.append(Path("roles"))
    if opts.connection_plugins:
        shutil.copytree(connection_plugins_dir(), d / "connection_plugins",
                        ignore=shutil.ignore_patterns("__pycache__", "__init__.py"))
        files.append(Path("connection_plugins"))
    return files
