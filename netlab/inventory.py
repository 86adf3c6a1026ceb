"""`netlab inventory LAB`: an Ansible inventory of a running lab, for plain `ansible-playbook -i FILE`.

Each machine gets the variables Ansible needs to reach it on the lab's provider (address, port,
user, key, connection) and nothing of the lab model beyond that; every path in it is absolute, so
it works from any directory. The same file is what `netlab up LAB --provider ssh --inventory
FILE` reads: a lab brought up on one provider can be configured as a set of existing machines.

- qemu: 127.0.0.1 and the VM's forwarded port, root, the lab's key and its ssh_config (-F).
- virtualbox, libvirt: the lab's `vagrant ssh-config` output (-F), sudo for a non-root login.
- netns: netlab's own connection plugin `netns`, which stays in netlab's package: the file's
  header says how to point Ansible at it (ANSIBLE_CONNECTION_PLUGINS); netlab writes nothing in
  the user's ~/.ansible. Such an inventory reaches namespaces on this machine: it is no
  --inventory for the ssh provider.
- ssh: the lab's ssh_config, which maps each host name to its machine.

Tenants are listed in a group `tenants`: on netns each is its namespace, reached like a host; on
the VM providers Ansible cannot enter a namespace inside a VM, so a tenant's entry reaches its
host and names the namespace (netlab_tenant_namespace) its commands must run in.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml

from netlab.errors import NetlabError
from netlab.package_data import connection_plugins_dir
from netlab.providers.base import Provider


def reach_vars(provider: Provider, machine: str) -> dict[str, Any]:
    """The variables that tell Ansible how to reach `machine` (ansible_* only)."""
    connection = {k: v for k, v in provider.ansible_connection(machine).items() if k.startswith("ansible_")}
    if connection.get("ansible_connection"):
        return connection
    # Vagrant providers leave reaching the machines to Vagrant: its ssh-config says how.
    ssh_config = getattr(provider, "ssh_config", None)
    if isinstance(ssh_config, Path):
        if not ssh_config.exists():
            raise NetlabError(f"lab {provider.lab.name} has no ssh_config yet ({ssh_config})",
                              hint=f"netlab up {provider.lab.name} again")
        user = ssh_config_user(ssh_config.read_text(), machine)
        return {"ansible_connection": "ssh", "ansible_host": machine,
                "ansible_ssh_common_args": f"-F {ssh_config}",
                **({"ansible_user": user} if user else {}),
                "ansible_become": user != "root"}
    raise NetlabError(f"provider {provider.name} does not say how to reach {machine}")


def ssh_config_user(text: str, host: str) -> str | None:
    """The User of `host`'s block in an ssh_config (the first that applies, as ssh reads it)."""
    applies = False
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].lower() == "host":
            applies = host in words[1:] or "*" in words[1:]
        elif applies and len(words) >= 2 and words[0].lower() == "user":
            return words[1]
    return None


def lab_inventory(provider: Provider) -> dict[str, Any]:
    """The lab's machines in a group named after the lab (routers also in netlab_routers), the
    layout of the inventory netlab itself runs site.yml with."""
    lab = provider.lab
    machines = {m: reach_vars(provider, m) for m in lab.machines}
    group: dict[str, Any] = {"hosts": machines, "vars": {"netlab_lab": lab.name}}
    routers = {"hosts": {r: {} for r in lab.routers}}
    children = {lab.name.replace("-", "_"): group, "netlab_routers": routers}
    if lab.tenants:
        children["tenants"] = {"hosts": tenant_entries(provider)}
    return {"all": {"children": children}}


def tenant_entries(provider: Provider) -> dict[str, dict[str, Any]]:
    """Each tenant, in a `tenants` group of its own (never the lab's group: site.yml configures
    machines, and a tenant is made by its host). On netns the connection plugin enters a tenant's
    namespace as it enters a host's; on VMs Ansible cannot enter a namespace inside the VM: a
    tenant's entry reaches its host, and says which namespace to run commands in."""
    lab = provider.lab
    prefix = provider.ansible_group_vars().get("netlab_tenant_prefix", "")
    out = {}
    for name, spec in lab.tenants.items():
        inside = provider.needs_connection_plugin
        reach = reach_vars(provider, name if inside else spec.host)
        out[name] = {**reach, "netlab_tenant_host": spec.host, "netlab_tenant_namespace": prefix + name,
                     "netlab_tenant_reached": "inside its namespace" if inside else "through its host"}
    return out


def plugin_env(provider: Provider) -> dict[str, str]:
    """What Ansible's environment needs to use the inventory: netlab's connection plugins, where
    they are in its package (for netns; nothing for the others)."""
    if not provider.needs_connection_plugin:
        return {}
    return {"ANSIBLE_CONNECTION_PLUGINS": str(connection_plugins_dir())}


def use_command(provider: Provider, inventory: str, playbook: str = "PLAYBOOK") -> str:
    """The shell command that runs `playbook` on the lab's machines with this inventory."""
    env = [f"{name}={shlex.quote(value)}" for name, value in plugin_env(provider).items()]
    return " ".join([*env, shlex.join(["ansible-playbook", "-i", inventory]), playbook])


def inventory_text(provider: Provider) -> str:
    lab = provider.lab
    header = (f"# netlab inventory of lab {lab.name} (provider {provider.name}), written by `netlab inventory`.\n"
              f"# Use (from any directory): {use_command(provider, 'THIS-FILE', 'playbook.yml')}\n")
    if provider.needs_connection_plugin:
        header += ("# ANSIBLE_CONNECTION_PLUGINS points Ansible at netlab's netns connection plugin: each task runs\n"
                   "# in the host's network namespace, under the host's name. This inventory reaches namespaces\n"
                   "# on this machine: it is not an --inventory for netlab's ssh provider.\n")
    else:
        header += "# or:  netlab up LAB --provider ssh --inventory THIS-FILE --name OTHER\n"
    if lab.tenants and provider.needs_connection_plugin:
        header += ("# Group tenants: each tenant's namespace, entered like a host's (its host: netlab_tenant_host).\n")
    elif lab.tenants:
        header += ("# Group tenants: Ansible cannot enter a namespace inside a VM, so a tenant's entry reaches its\n"
                   "# HOST (netlab_tenant_host): run its commands as `ip netns exec {{ netlab_tenant_namespace }}\n"
                   "# CMD` (or use `netlab exec LAB TENANT -- CMD`).\n")
    return header + yaml.safe_dump(lab_inventory(provider), sort_keys=False, default_flow_style=False)
