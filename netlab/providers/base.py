"""The one small interface every provider implements."""

from __future__ import annotations

import subprocess
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from netlab.model import Lab
from netlab.state import LabState

Progress = Callable[[str], None]


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
    """Makes machines and the wire between them; configuration and checks are shared."""

    name: ClassVar[str]
    description: ClassVar[str]
    # How long checks wait for a reply (VMs under emulation are slow to answer).
    reply_timeout: ClassVar[float] = 2.0
    # How many commands verify may run on this provider's hosts at once.
    max_parallel_commands: ClassVar[int] = 8

    def __init__(self, lab: Lab, state: LabState) -> None:
        self.lab = lab
        self.state = state

    # -- can it run here? -------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def availability(cls, lab: Lab | None = None) -> Availability:
        """Whether this provider works on this machine (for `lab`, if given)."""

    # -- lifecycle ---------------------------------------------------------------------------
    @abstractmethod
    def create(self, progress: Progress) -> None:
        """Make machines and wires; record each in the state before creating it."""

    @abstractmethod
    def configure(self, progress: Progress, via: str = "default") -> None:
        """Apply the lab's underlay and overlay configuration."""

    @abstractmethod
    def destroy(self, progress: Progress) -> None:
        """Remove everything the state records (and anything else carrying the lab's prefix)."""

    @abstractmethod
    def status(self) -> list[HostStatus]: ...

    # -- reaching hosts ---------------------------------------------------------------------------
    @abstractmethod
    def host_argv(self, host: str, command: list[str], interactive: bool = False) -> list[str]:
        """argv that runs `command` on `host` from this machine."""

    def run(self, host: str, command: list[str], timeout: float = 30) -> CommandResult:
        argv = self.host_argv(host, command)
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            return CommandResult(argv, 124, _text(exc.stdout), _text(exc.stderr) + "\n(timed out)")
        return CommandResult(argv, proc.returncode, proc.stdout, proc.stderr)

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


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")
