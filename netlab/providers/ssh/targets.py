"""The machines of an ssh lab: read from an Ansible inventory, written out as one ssh_config.

The inventory is parsed by ansible-core itself (InventoryManager, DataLoader, VariableManager), so
YAML and INI inventories, group_vars/ and host_vars/ beside them, and group variables all count
as they would for ansible-playbook. What Ansible would use to reach a host (ansible_host, port,
user, private key, ssh args) becomes one `Host` block of the lab's ssh_config: every command
netlab runs (ssh, Ansible, testinfra) then reaches the host the same way.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netlab.errors import NetlabError

# ssh's one-letter options that have an ssh_config equivalent (the rest cannot go into a file).
_FLAGS = {"-4": ("AddressFamily", "inet"), "-6": ("AddressFamily", "inet6"), "-A": ("ForwardAgent", "yes"),
          "-C": ("Compression", "yes"), "-q": ("LogLevel", "QUIET")}
_WITH_VALUE = {"-i": "IdentityFile", "-p": "Port", "-l": "User", "-J": "ProxyJump"}
_TRUE = ("1", "true", "yes", "on")


@dataclass
class Target:
    """How to reach one lab host, as its inventory says."""

    host: str
    address: str | None = None  # ansible_host, when it differs from the inventory name
    port: int | None = None
    user: str | None = None
    key: str | None = None
    options: list[tuple[str, str]] = field(default_factory=list)  # from ansible_ssh_*_args: -o K=V
    includes: list[str] = field(default_factory=list)  # from -F FILE: included in the host's block
    python: str | None = None  # ansible_python_interpreter
    configure_underlay: bool = False  # netlab_configure_underlay: netlab sets the underlay address
    install_tools: bool | None = None  # netlab_install_tools: apt-get the tools the checks use

    def describe(self) -> str:
        """user@address:port, as far as the inventory says."""
        where = self.address or self.host
        return f"{self.user + '@' if self.user else ''}{where}{':' + str(self.port) if self.port else ''}"


def _flag(value: Any) -> bool:
    return value is True or str(value).strip().lower() in _TRUE


def parse_ssh_args(host: str, text: str, base: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """ssh command-line arguments as ssh_config lines (key, value), and -F files to include."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise NetlabError(f"host {host}: its ssh args {text!r} do not parse ({exc})") from None
    options: list[tuple[str, str]] = []
    includes: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        flag, inline = word[:2], word[2:]
        if flag in ("-o", "-F", *_WITH_VALUE):
            if inline:
                value = inline
            elif i + 1 < len(words):
                i += 1
                value = words[i]
            else:
                raise NetlabError(f"host {host}: ssh option {flag} in its ssh args has no value")
            if flag == "-o":
                key, sep, rest = value.partition("=")
                if not sep:
                    key, _, rest = value.partition(" ")
                options.append((key.strip(), rest.strip()))
            elif flag == "-F":
                includes.append(str(_absolute(value, base)))
            else:
                options.append((_WITH_VALUE[flag], str(_absolute(value, base)) if flag == "-i" else value))
        elif word in _FLAGS:
            options.append(_FLAGS[word])
        else:
            raise NetlabError(f"host {host}: ssh option {word!r} in its ssh args has no ssh_config equivalent",
                              hint="use -o Key=Value options in ansible_ssh_common_args")
        i += 1
    return options, includes


def _absolute(path: str, base: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def target_from_vars(host: str, variables: dict[str, Any], base: Path) -> Target:
    """One host's Ansible variables (already merged over its groups) as a Target."""
    def first(*names: str) -> Any:
        return next((variables[n] for n in names if variables.get(n) not in (None, "")), None)

    connection = first("ansible_connection")
    if connection not in (None, "ssh", "smart", "paramiko"):
        hint = "the ssh provider reaches existing machines over SSH"
        if connection == "netns":  # `netlab inventory` of a netns lab: namespaces of this machine
            hint = ("this is a netns lab's inventory (network namespaces on this machine, not machines): "
                    "run it as a netns lab (netlab up LAB --name OTHER), or give an inventory of SSH machines")
        raise NetlabError(f"host {host}: its inventory says ansible_connection={connection}, not ssh", hint=hint)
    if first("ansible_password", "ansible_ssh_pass", "ansible_ssh_password"):
        raise NetlabError(f"host {host}: the inventory gives an SSH password; netlab logs in with keys only",
                          hint="ssh-copy-id the host and set ansible_ssh_private_key_file (or use an agent)")
    address = first("ansible_host", "ansible_ssh_host")
    port = first("ansible_port", "ansible_ssh_port")
    key = first("ansible_ssh_private_key_file", "ansible_private_key_file")
    args = " ".join(str(a) for a in (first("ansible_ssh_common_args"), first("ansible_ssh_args"),
                                     first("ansible_ssh_extra_args")) if a)
    options, includes = parse_ssh_args(host, args, base)
    try:
        port_number = int(port) if port is not None else None
    except (TypeError, ValueError):
        raise NetlabError(f"host {host}: ansible_port {port!r} is not a port number") from None
    tools = first("netlab_install_tools")
    return Target(
        host=host,
        address=str(address) if address is not None and str(address) != host else None,
        port=port_number,
        user=str(first("ansible_user", "ansible_ssh_user", "ansible_remote_user") or "") or None,
        key=str(_absolute(str(key), base)) if key else None,
        options=options,
        includes=includes,
        python=str(first("ansible_python_interpreter") or "") or None,
        configure_underlay=_flag(first("netlab_configure_underlay") or False),
        install_tools=None if tools is None else _flag(tools),
    )


def read_inventory(path: Path, hosts: list[str]) -> dict[str, Target]:
    """The lab's `hosts` as the Ansible inventory at `path` describes them (YAML or INI)."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    if not path.is_file():
        raise NetlabError(f"the inventory {path} is gone", hint="netlab up LAB --provider ssh --inventory FILE")
    loader = DataLoader()
    try:
        inventory = InventoryManager(loader=loader, sources=[str(path)], parse=True)
    except Exception as exc:  # ansible raises its own errors for unreadable inventories
        raise NetlabError(f"the inventory {path} cannot be read: {exc}") from None
    known = {h.name for h in inventory.get_hosts()}
    missing = [h for h in hosts if h not in known]
    if missing:
        raise NetlabError(
            f"the inventory {path} has no host{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(it has: {', '.join(sorted(known)) or 'none'})",
            hint="name each of the lab's hosts in the inventory as the lab file does",
        )
    manager = VariableManager(loader=loader, inventory=inventory)
    out = {}
    for host in hosts:
        variables = manager.get_vars(host=inventory.get_host(host), include_hostvars=False)
        out[host] = target_from_vars(host, _templated(loader, variables), path.parent)
    return out


def _templated(loader: Any, variables: dict[str, Any]) -> dict[str, Any]:
    """Variables with Jinja2 in them (ansible_host: "{{ ip }}") as Ansible would see them."""
    from ansible.template import Templar

    templar = Templar(loader=loader, variables=variables)
    out = {}
    for name, value in variables.items():
        if isinstance(value, str) and "{{" in value:
            try:
                value = templar.template(value)
            except Exception as exc:  # an undefined variable, a bad filter
                raise NetlabError(f"inventory variable {name} = {value!r} cannot be evaluated: {exc}") from None
        out[name] = value
    return out


def ssh_config_text(targets: dict[str, Target], control_dir: Path) -> str:
    """One Host block per lab host. ssh takes the first value it reads for an option, so the
    inventory's own settings come first, then netlab's defaults, then files named with -F."""
    blocks = []
    for t in targets.values():
        lines = [f"Host {t.host}"]
        if t.address:
            lines.append(f"  HostName {t.address}")
        if t.port:
            lines.append(f"  Port {t.port}")
        if t.user:
            lines.append(f"  User {t.user}")
        if t.key:
            lines += [f"  IdentityFile {t.key}", "  IdentitiesOnly yes"]
        lines += [f"  {key} {value}" for key, value in t.options]
        lines += [
            "  BatchMode yes",
            "  ConnectTimeout 10",
            "  ServerAliveInterval 10",
            "  ControlMaster auto",
            f"  ControlPath {control_dir}/%C",
            "  ControlPersist 120s",
        ]
        lines += [f"  Include {f}" for f in t.includes]
        blocks.append("\n".join(lines) + "\n")
    blocks.append(
        "Host *\n"
        "  LogLevel ERROR\n"
        # Existing machines keep their host keys: learn one the first time, refuse a changed one.
        "  StrictHostKeyChecking accept-new\n"
    )
    return "# netlab: SSH to this lab's existing machines (ssh -F this-file HOST)\n" + "\n".join(blocks)
