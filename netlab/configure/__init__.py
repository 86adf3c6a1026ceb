"""The configuration stage: apply a lab's underlay and overlay to the machines a provider made.

Every way renders the same templates (roles/*/templates): the `ip -batch` fast path pipes the
rendered commands into each host, the playbook runs site.yml over the provider's connection,
and Vagrant's own Ansible provisioner runs the same site.yml. The provider says which way is
its default (`Provider.configurer`); `--via ansible` asks for the playbook.
"""

from __future__ import annotations

from collections.abc import Callable

from netlab.configure.exercise import configure_machines, configure_routers, remove_netlab_tunnels
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
    # What the provider removed already (a tenant's namespace, its cable with it) is a change too.
    gone = [f"{machine}: removed (no longer in the lab)" for machine in provider.removed]
    changes = CONFIGURERS[how](provider, progress, prune=True) if overlay else to_exercise(provider, progress, how)
    return changes if changes is None else [*gone, *changes]


def to_exercise(provider: Provider, progress: Progress, how: str = "ip-batch") -> list[str] | None:
    """Converge to exercise mode: underlay and routers as the lab says, the tunnel devices netlab
    made removed, the students' own devices left alone (netlab.configure.exercise says which is
    which). Called before the state records overlay=False: its `overlay` is still the last one."""
    record = provider.state.read()
    # `via` is recorded when an up finishes: a lab never up before had no overlay of netlab's.
    was_full = record.overlay and record.via is not None
    if how == "ip-batch":
        changes: list[str] | None = configure_machines(provider, progress)
    else:
        # The same machines, told a lab without tunnels: they get the underlay only; then the
        # routers the lab's multicast groups.
        underlay_only = type(provider)(provider.lab.model_copy(update={"tunnels": []}), provider.state)
        changes = CONFIGURERS[how](underlay_only, progress, prune=False)
        routers = configure_routers(provider, progress) if provider.lab.routers else []
        changes = None if changes is None else [*changes, *routers]
    removed = remove_netlab_tunnels(provider, progress, was_full)
    return changes if changes is None else [*changes, *removed]


__all__ = ["CONFIGURERS", "VIAS", "configure", "to_exercise"]
