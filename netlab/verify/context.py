"""What the checks share: the lab, testinfra hosts, and evidence of every command they ran."""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import testinfra

from netlab.model import Lab, Tunnel
from netlab.providers.base import Provider

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Evidence:
    host: str
    command: str
    rc: int
    output: str  # stdout, then stderr if any: what a person reads
    stdout: str = ""  # what a check parses

    def render(self) -> str:
        body = self.output.rstrip() or "(no output)"
        return f"[{self.host}] $ {self.command}   (exit {self.rc})\n{body}"


@dataclass
class Outcome:
    passed: bool
    summary: str
    evidence: list[Evidence] = field(default_factory=list)


def address(tunnel: Tunnel, host: str) -> str:
    return str(ipaddress.ip_interface(tunnel.endpoints[host]).ip)


class Context:
    def __init__(self, lab: Lab, provider: Provider) -> None:
        from netlab.verify.netns_backend import register

        register()
        self.lab = lab
        self.provider = provider
        self.tunnels = {t.name: t for t in lab.tunnels}
        options = provider.testinfra_options()
        self.hosts = {h: testinfra.get_host(provider.testinfra_uri(h), **options) for h in lab.hosts}
        self._links: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._lock = threading.Lock()
        # Seconds to wait for a reply that should come; a refused probe waits this long too.
        self.reply_timeout = provider.reply_timeout
        # Checks run side by side, each over all hosts: bound the commands running at once.
        self._slots = threading.BoundedSemaphore(provider.max_parallel_commands)

    def sh(self, host: str, command: str) -> Evidence:
        with self._slots:
            result = self.hosts[host].run(command)
        output = result.stdout + (("\n" + result.stderr) if result.stderr.strip() else "")
        return Evidence(host, command, result.rc, output, result.stdout)

    def parallel(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        items = list(items)
        if len(items) <= 1:
            return [fn(i) for i in items]
        with ThreadPoolExecutor(max_workers=min(64, len(items))) as pool:
            return list(pool.map(fn, items))

    def link(self, host: str, device: str) -> tuple[dict[str, Any] | None, Evidence]:
        """`ip -d -j addr show dev DEVICE` on host: link parameters and addresses in one call."""
        ev = self.sh(host, f"ip -d -j addr show dev {device}")
        data = None
        if ev.rc == 0:
            try:
                parsed = json.loads(ev.stdout)
                data = parsed[0] if parsed else None
            except (ValueError, IndexError, KeyError):
                data = None
        with self._lock:
            self._links[(host, device)] = data
        return data, ev

    def cached_link(self, host: str, device: str) -> dict[str, Any] | None:
        with self._lock:
            if (host, device) in self._links:
                return self._links[(host, device)]
        return self.link(host, device)[0]


PING_SCRIPT = (
    "if command -v fping >/dev/null 2>&1; then fping -i 1 -r {retries} -t {timeout_ms} -e {targets} 2>&1; "
    "else for a in {targets}; do if ping -c 1 -W 1 $a >/dev/null 2>&1; then echo \"$a is alive\"; "
    "else echo \"$a is unreachable\"; fi; done; fi"
)


def ping_many(ctx: Context, host: str, targets: list[str], expect_reply: bool = True) -> tuple[
    dict[str, bool], Evidence
]:
    """Ping every target once from host (fping when present); {target: replied}."""
    patience = int(ctx.reply_timeout * 1000)
    retries, timeout_ms = (2, max(500, patience)) if expect_reply else (0, patience)
    ev = ctx.sh(host, PING_SCRIPT.format(retries=retries, timeout_ms=timeout_ms, targets=" ".join(targets)))
    alive = {t: False for t in targets}
    for line in ev.output.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] in alive and parts[1] == "is":
            alive[parts[0]] = parts[2] == "alive"
    return alive, ev
