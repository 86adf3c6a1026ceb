"""Vagrant's own Ansible provisioner: `vagrant provision` runs site.yml on every machine."""

from __future__ import annotations

from netlab.errors import NetlabError
from netlab.providers.base import Progress, Provider


def vagrant_provision(provider: Provider, progress: Progress, prune: bool = True) -> list[str] | None:
    vagrant = getattr(provider, "vagrant", None)
    if vagrant is None:
        raise NetlabError(f"provider {provider.name} has no Vagrant machines to provision")
    progress("vagrant provision (Ansible: site.yml)")
    vagrant("provision", progress=progress)
    return None  # Vagrant's provisioner output is shown as it runs; it gives no count
