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


def router_box(lab: Lab, router: str, provider: str, override: str | None = None) -> str:
    return override or lab.routers[router].box or lab.box or DEFAULT_BOXES[provider]


def vagrantfile(lab: Lab, opts: RenderOptions) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(vagrantfile_template().parent)),
        trim_blocks=True,
        lstrip_blocks=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Ruby source; every value is a validated, quote-free name or address
    )
    networks = lab.underlay.networks
    segments = list(networks)

    def nic(machine: str, ip: str, segment: str, index: int) -> dict[str, object]:
        k = segments.index(segment)
        return {"ip": ip, "netmask": str(networks[segment].netmask), "segment": segment,
                # libvirt: one multicast hub per segment (the lab's port, then the next ones).
                "mcast_group": opts.mcast[0], "mcast_port": opts.mcast[1] + k,
                "mac": underlay_mac(lab.name, machine) if index == 0 else stable_mac(lab.name, machine, f"nic{index}"),
                "slot": f"0x{8 + index:02x}", "adapter": 2 + index}

    machines = []
    for name, spec in lab.hosts.items():
        segment = lab.underlay.segment_of(spec.ip) or segments[0]
        machines.append({"name": name, "box": host_box(lab, name, opts.provider, opts.box),
                         "nics": [nic(name, spec.ip, segment, 0)]})
    for name, router in lab.routers.items():
        nics = [nic(name, ip, segment, i) for i, (segment, ip) in enumerate(router.interfaces.items())]
        machines.append({"name": name, "box": router_box(lab, name, opts.provider, opts.box), "nics": nics})
    return env.get_template(vagrantfile_template().name).render(
        lab=lab,
        provider=opts.provider,
        machines=machines,
        routers=list(lab.routers),
        memory=opts.memory,
        install_tools=opts.provider == "virtualbox",
        libvirt={"driver": opts.libvirt_driver},
    )


def underlay_mac(lab: str, host: str) -> str:
    """A stable MAC for a host's underlay NIC (unique per lab and host)."""
    return stable_mac(lab, host)
