"""The one small interface every provider implements."""

from __future__ import annotations

import json
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from netlab.model import Lab
from netlab.state import LabState

Progress = Callable[[str], None]


@dataclass(frozen=True)
class MachineEvent:
    """A machine of the lab reached a stage while it is being made (for a display per machine)."""

    machine: str
    stage: str  # "booting": started; "ready": reachable (its sshd is up)


MachineEvents = Callable[[MachineEvent], None]


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str  # why it works, or what is missing
    fix: str = ""  # how to make it work


@dataclass
class HostStatus:
    host: str
    state: str  # running | stopped | missing
    interfaces: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class CommandResult:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Provider(ABC):
    """Makes machines and the wire between them, and says how to reach them. Configuration
    (netlab.configure) and checks (netlab.verify) are the same for every provider."""

    name: ClassVar[str]
    description: ClassVar[str]
    # How netlab.configure applies the lab here by default: "ip-batch" (the rendered `ip`
    # commands piped into `ip -batch` on each host), "ansible" (site.yml over the provider's
    # connection) or "vagrant" (Vagrant's own Ansible provisioner).
    configurer: ClassVar[str] = "ansible"
    # Whether Ansible needs netlab's own connection plugin to reach the hosts (netns).
    needs_connection_plugin: ClassVar[bool] = False
    # Whether hosts can be named for Ansible before the lab is up (netns: fixed namespace names).
    reachable_before_up: ClassVar[bool] = False
    # How long checks wait for a reply (VMs under emulation are slow to answer).
    reply_timeout: ClassVar[float] = 2.0
    # How many commands verify may run on this provider's hosts at once.
    max_parallel_commands: ClassVar[int] = 8
    # Whether netlab made the machines (False for ssh: existing machines, whose other devices
    # and addresses are not netlab's to remove).
    owns_machines: ClassVar[bool] = True

    # Set by a caller that shows each machine's progress; providers that boot machines call
    # `machine_event` (optional: the free-text `progress` stays the main report).
    on_machine: MachineEvents | None = None

    def __init__(self, lab: Lab, state: LabState) -> None:
        self.lab = lab
        self.state = state
        # Machines (hosts, routers, tenants) `create` removed because the lab file no longer has
        # them: a change `up` reports like the configuration's own.
        self.removed: list[str] = []

    def machine_event(self, machine: str, stage: str) -> None:
        if self.on_machine is not None:
            self.on_machine(MachineEvent(machine, stage))

    # -- can it run here? -------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def availability(cls, lab: Lab | None = None) -> Availability:
        """Whether this provider works on this machine (for `lab`, if given)."""

    # -- lifecycle ---------------------------------------------------------------------------
    def prepare(self, progress: Progress) -> None:
        """Before the state records anything: refuse what stands in the way with one clear
        error, and clear what a crashed run left that no state knows about."""
        return None  # by default, create deals with whatever it finds

    @abstractmethod
    def create(self, progress: Progress) -> None:
        """Make machines and wires; record each in the state before creating it."""

    @abstractmethod
    def destroy(self, progress: Progress) -> None:
        """Remove everything the state records (and anything else carrying the lab's prefix)."""

    @abstractmethod
    def status(self) -> list[HostStatus]: ...

    # -- reaching hosts ---------------------------------------------------------------------------
    @abstractmethod
    def host_argv(self, host: str, command: list[str], interactive: bool = False) -> list[str]:
        """argv that runs `command` on `host` from this machine."""

    def tenant_argv(self, tenant: str, command: list[str], interactive: bool = False) -> list[str]:
        """argv that runs `command` in a tenant: its namespace inside its host, named after it."""
        named = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', tenant, *command]
        host = self.lab.tenants[tenant].host
        return self.host_argv(host, ["ip", "netns", "exec", tenant, *named], interactive=interactive)

    def tenant_status(self, running: set[str]) -> list[HostStatus]:
        """Each tenant: its eth0, read inside its namespace on its host (if that one is `running`)."""
        from concurrent.futures import ThreadPoolExecutor

        def one(tenant: str) -> HostStatus:
            if self.lab.tenants[tenant].host not in running:
                return HostStatus(tenant, "stopped")
            result = self.run(tenant, ["ip", "-j", "addr", "show"], timeout=20)
            return HostStatus(tenant, "running", interfaces_of(result.stdout)) if result.ok \
                else HostStatus(tenant, "missing")

        if not self.lab.tenants:
            return []
        with ThreadPoolExecutor(max_workers=min(16, len(self.lab.tenants))) as pool:
            return list(pool.map(one, self.lab.tenants))

    def batch_argv(self, host: str, tool: str, *options: str) -> list[str]:
        """argv that runs `tool OPTIONS -batch -` (ip or bridge, commands on stdin) on `host`."""
        return self.host_argv(host, [tool, *options, "-batch", "-"])

    def run(self, host: str, command: list[str], timeout: float = 30, input: str | None = None) -> CommandResult:
        argv = self.host_argv(host, command)
        return run_argv(argv, timeout, input)

    @abstractmethod
    def ansible_connection(self, host: str) -> dict[str, Any]:
        """Inventory variables that tell Ansible how to reach `host`."""

    def ansible_group_vars(self) -> dict[str, Any]:
        return {}

    @abstractmethod
    def testinfra_uri(self, host: str) -> str:
        """testinfra host specification for `host` (e.g. netns://NS, ssh://name)."""

    def testinfra_options(self) -> dict[str, Any]:
        return {}


def interfaces_of(ip_json: str) -> list[dict[str, Any]]:
    """`ip -j addr show` -> name, state, MTU and addresses of each interface but lo."""
    try:
        links = json.loads(ip_json or "[]")
    except ValueError:
        return []
    return [
        {
            "name": link["ifname"], "state": link.get("operstate", "?"), "mtu": link.get("mtu"),
            "addresses": [f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])
                          if a.get("scope") != "link"],
        }
        for link in links
        if isinstance(link, dict) and link.get("ifname") not in (None, "lo")
    ]


def run_argv(argv: list[str], timeout: float, input: str | None = None) -> CommandResult:
    """Run `argv` with a deadline; a command that does not finish in time fails with exit 124."""
    try:
        # stdin from /dev/null unless given: an SSH control master started here would otherwise
        # inherit ours and set it non-blocking, which ansible-playbook then refuses to run with.
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input,
                              stdin=subprocess.DEVNULL if input is None else None)
    except subprocess.TimeoutExpired as exc:
        return CommandResult(argv, 124, text_of(exc.stdout),
                             text_of(exc.stderr) + f"\n(no answer within {timeout:g} s)")
    return CommandResult(argv, proc.returncode, proc.stdout, proc.stderr)


def text_of(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")
