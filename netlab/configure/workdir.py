"""The lab directory Ansible runs in: rendered files plus how to reach each of the provider's hosts."""

from __future__ import annotations

from pathlib import Path

from netlab.model import Lab
from netlab.providers import provider_class
from netlab.providers.base import Provider
from netlab.providers.segments import underlay_mcast
from netlab.render import RenderOptions, render
from netlab.state import LabState


def render_options(provider: str, lab: Lab, box: str | None = None) -> RenderOptions:
    """How `netlab render` writes a lab for `provider` (before anything runs)."""
    cls = provider_class(provider)  # an unknown name is refused here, with the choices
    opts = RenderOptions(provider=provider, box=box, mcast=underlay_mcast(lab.name))
    if cls.reachable_before_up:
        reach_hosts(opts, cls(lab, LabState(lab.name)))
    return opts


def reach_hosts(opts: RenderOptions, provider: Provider) -> RenderOptions:
    """Fill in how Ansible reaches `provider`'s hosts (inventory variables, connection plugin)."""
    opts.connection = {m: provider.ansible_connection(m) for m in provider.lab.machines}
    opts.group_vars = provider.ansible_group_vars()
    opts.connection_plugins = provider.needs_connection_plugin
    return opts


def render_workdir(provider: Provider) -> Path:
    opts = reach_hosts(render_options(provider.name, provider.lab), provider)
    render(provider.lab, provider.state.workdir, opts)
    return provider.state.workdir
