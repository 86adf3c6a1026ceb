"""A testinfra backend for network namespaces: `netns://NAME` runs commands via `ip netns exec`."""

from __future__ import annotations

from typing import Any

import testinfra.backend
from testinfra.backend import base


class NetnsBackend(base.BaseBackend):
    NAME = "netns"

    def __init__(self, hostspec: str, *args: Any, **kwargs: Any) -> None:
        self.namespace = hostspec
        super().__init__(hostspec, *args, **kwargs)

    def get_pytest_id(self) -> str:
        return f"netns://{self.namespace}"

    @classmethod
    def get_hosts(cls, host: str, **kwargs: Any) -> list[str]:
        return [host]

    def local_command(self, command: str, *args: str) -> str:
        """The shell command that runs `command` in the namespace (netlab.verify.local runs it)."""
        # `ip netns exec` (not nsenter) remounts /sys, so ss, ip and tcpdump see the namespace.
        return str(self.quote("ip netns exec %s /bin/sh -c %s", self.namespace, self.get_command(command, *args)))

    def run(self, command: str, *args: str, **kwargs: Any) -> base.CommandResult:
        return self.run_local(self.local_command(command, *args))


def register() -> None:
    testinfra.backend.BACKENDS.setdefault("netns", f"{__name__}.NetnsBackend")
