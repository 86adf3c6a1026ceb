"""What the checks share: the lab, testinfra hosts, and evidence of every command they ran.

Every command a check runs on a host is wrapped in `timeout` there, so a host that never
answers (a ping leaving through the wrong route, a stuck tool) fails its case instead of
hanging `netlab verify`.
"""

from __future__ import annotations

import ipaddress
import math
import shlex
import threading
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import testinfra

from netlab.model import Lab, Tunnel
from netlab.providers.base import Provider

T = TypeVar("T")
R = TypeVar("R")

# `timeout` exits 124 when the command ran out of time, 137 when it had to be killed.
TIMED_OUT = (124, 137)
# Seconds between `timeout`'s TERM and its KILL.
KILL_GRACE = 2


@dataclass(frozen=True)
class Evidence:
    host: str
    command: str
    rc: int
    output: str  # stdout, then stderr if any: what a person reads
    stdout: str = ""  # what a check parses
    deadline: int | None = None  # seconds the host gave the command
    timed_out: bool = False

    def render(self) -> str:
        body = self.output.rstrip() or "(no output)"
        status = f"no answer within {self.deadline} s" if self.timed_out else f"exit {self.rc}"
        return f"[{self.host}] $ {self.command}   ({status})\n{body}"


@dataclass
class Outcome:
    passed: bool
    summary: str
    evidence: list[Evidence] = field(default_factory=list)


def address(tunnel: Tunnel, host: str) -> str:
    return str(ipaddress.ip_interface(tunnel.endpoints[host]).ip)


def bounded(command: str, deadline: int) -> str:
    """The command as the host runs it: stopped after `deadline` seconds, killed soon after."""
    return f"timeout -k {KILL_GRACE} {deadline} sh -c {shlex.quote(command)}"


class Context:
    def __init__(self, lab: Lab, provider: Provider) -> None:
        from netlab.verify.netns_backend import register

        register()
        self.lab = lab
        self.provider = provider
        self.tunnels = {t.name: t for t in lab.tunnels}
        options = provider.testinfra_options()
        self.hosts = {h: testinfra.get_host(provider.testinfra_uri(h), **options) for h in lab.hosts}
        self._memo: dict[Hashable, Any] = {}
        self._lock = threading.Lock()
        # Seconds to wait for a reply that should come; a refused probe waits this long too.
        self.reply_timeout = provider.reply_timeout
        # What a host gets beyond a command's own bounds before the command counts as hung.
        self.slack = max(5.0, 10 * provider.reply_timeout)
        # Checks run side by side, each over all hosts: bound the commands running at once.
        self._slots = threading.BoundedSemaphore(provider.max_parallel_commands)

    def deadline(self, budget: float = 0.0) -> int:
        """Whole seconds a command that needs at most `budget` seconds may run on a host."""
        return math.ceil(budget + self.slack)

    def sh(self, host: str, command: str, budget: float = 0.0) -> Evidence:
        """Run `command` on host with a deadline; `budget` is how long its own bounds allow."""
        deadline = self.deadline(budget)
        with self._slots:
            result = self.hosts[host].run(bounded(command, deadline))
        output = result.stdout + (("\n" + result.stderr) if result.stderr.strip() else "")
        return Evidence(host, command, result.rc, output, result.stdout, deadline, result.rc in TIMED_OUT)

    def parallel(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        items = list(items)
        if len(items) <= 1:
            return [fn(i) for i in items]
        with ThreadPoolExecutor(max_workers=min(64, len(items))) as pool:
            return list(pool.map(fn, items))

    def remember(self, key: Hashable, value: Any) -> None:
        """Keep a fact one check fetched for others (e.g. a device's parameters)."""
        with self._lock:
            self._memo[key] = value

    def recall(self, key: Hashable) -> tuple[bool, Any]:
        with self._lock:
            return (key in self._memo, self._memo.get(key))
