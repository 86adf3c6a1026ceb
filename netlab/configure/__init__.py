"""The configuration stage: apply a lab's underlay and overlay to the machines a provider made.

Every way renders the same templates (roles/*/templates): the `ip -batch` fast path pipes the
rendered commands into each host, the playbook runs site.yml over the provider's connection,
and Vagrant's own Ansible provisioner runs the same site.yml. The provider says which way is
its default (`Provider.configurer`); `--via ansible` asks for the playbook.
"""

from __future__ import annotations

from collections.abc import Callable

from netlab.configure.ipbatch import apply_ip_batch
from netlab.configure.playbook import run_playbook
from netlab.configure.vagrant import vagrant_provision
from netlab.errors import NetlabError
from netlab.providers.base import Progress, Provider

VIAS = ("default", "ansible")

# Each returns what it changed, one line per change (None: the tool does not say).
# `prune`: remove devices the lab does not have (not in exercise mode: they are the students').
CONFIGURERS: dict[str, Callable[..., list[str] | None]] = {
    "ip-batch": apply_ip_batch,
    "ansible": run_playbook,
    "vagrant": vagrant_provision,
}


def configure(provider: Provider, progress: Progress, via: str = "default",
              overlay: bool = True) -> list[str] | None:
    """Apply the lab; returns what changed (empty: the machines already matched the lab).
    overlay=False: the underlay and routers only, and nothing the lab does not have is removed."""
    if via not in VIAS:
        raise NetlabError(f"--via {via} is not known", hint="use --via default or --via ansible")
    how = provider.configurer
    if via == "ansible" and how == "ip-batch":
        how = "ansible"
    if not overlay:
        # The same machines, told a lab without tunnels: they get the underlay and routers only.
        underlay_only = provider.lab.model_copy(update={"tunnels": []})
        provider = type(provider)(underlay_only, provider.state)
    return CONFIGURERS[how](provider, progress, prune=overlay)


__all__ = ["CONFIGURERS", "VIAS", "configure"]
