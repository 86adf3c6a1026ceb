"""The Vagrantfile: one template (Vagrantfile.j2) for every Vagrant provider."""

from __future__ import annotations

import jinja2

from netlab.macs import stable_mac
from netlab.model import Lab
from netlab.package_data import vagrantfile_template
from netlab.render.options import RenderOptions

DEFAULT_BOXES = {"virtualbox": "ubuntu/jammy64", "libvirt": "netlab/debian12"}


def host_box(lab: Lab, host: str, provider: str, override: str | None = None) -> str:
    """The box a host boots: --box, else the host's own, else the lab's, else the provider's."""
    return override or lab.hosts[host].box or lab.box or DEFAULT_BOXES[provider]


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
