"""What the checks share: the lab, testinfra hosts, and evidence of every command they ran.

Checks ask for commands (`Probe`s); the runner gathers every probe of every check for a host
and runs them as ONE script on that host (`batch_script`), hosts side by side. A 64-host lab
thus costs 64 remote commands (one `ip netns exec` or one ssh round trip each), not hundreds.

Every command in a batch is wrapped in `timeout` there, so a host that never answers (a ping
leaving through the wrong route, a stuck tool) fails its case instead of hanging `netlab
verify`. The batch as a whole also has a LOCAL deadline here (netlab.verify.local): a host, or
an ssh connection, that stops answering altogether fails that host's cases with "no answer
within N s" and the command, however the pipes are held. When verify is interrupted, the
script stops its commands (their whole process groups) and removes its temporary directory
before it exits.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import re
import secrets
import shlex
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import testinfra

from netlab.model import Lab, Tunnel
from netlab.providers.base import Provider
from netlab.verify import local

T = TypeVar("T")
R = TypeVar("R")

# A host's scratch directory for a batch or a capture: in memory (/dev/shm) where there is one.
# On a disk, creating a batch's few dozen small files cost more CPU (ext4's inode search) than
# the commands themselves in a 64-host verify.
SCRATCH = "mktemp -d -p /dev/shm netlab.XXXXXXXX 2>/dev/null || mktemp -d -t netlab.XXXXXXXX"
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
    excerpt: str | None = None  # the lines that matter, when the check picked them
    label: str | None = None  # the command in short (a long script's gist), for the short form

    def render(self, verbose: bool = True) -> str:
        body = self.output.rstrip() if verbose or self.excerpt is None else self.excerpt.rstrip()
        command = self.command if verbose or self.label is None else self.label
        if not verbose and self.excerpt is None:
            lines = body.splitlines()
            body = "\n".join(lines[:6] + ([f"... ({len(lines) - 6} more lines: -v shows them)"]
                                          if len(lines) > 6 else []))
        status = f"no answer within {self.deadline} s" if self.timed_out else f"exit {self.rc}"
        return f"[{self.host}] $ {command}   ({status})\n{body or '(no output)'}"

    def brief(self, excerpt: str, label: str | None = None) -> Evidence:
        """The same evidence, showing only `excerpt` (and `label` for the command) unless asked
        for everything."""
        return Evidence(self.host, self.command, self.rc, self.output, self.stdout, self.deadline,
                        self.timed_out, excerpt, label)


@dataclass
class Outcome:
    passed: bool
    summary: str
    evidence: list[Evidence] = field(default_factory=list)
    # The summary without the lab's expected values (`--no-hints`); None: the summary has none.
    student: str | None = None
    # What the check found wrong, structured for the diagnosis (e.g. params' `Problem`s).
    findings: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Probe:
    """A command a check needs run on a host. `stage` 0 runs first (all of a host's stage-0
    probes side by side), stage 1 after it (reads that need the traffic stage 0 made)."""

    command: str
    budget: float = 0.0  # seconds its own bounds allow (fping's retries, ping's -w)
    stage: int = 0
    # The command ends by itself within `budget`: a read of the host's own kernel state (ip, ss,
    # bridge: one netlink dump), a ping with its -w deadline, fping with its tries. It runs
    # without a `timeout` around it: a 64-host verify starts hundreds of these processes, and
    # inside an emulated VM every process costs tens of milliseconds. The batch's deadlines,
    # there and here, still bound it.
    self_bounded: bool = False


def address(tunnel: Tunnel, host: str) -> str:
    """host's address on the tunnel (without its prefix length)."""
    return _address_of(tunnel.endpoints[host])


@functools.cache
def _address_of(interface: str) -> str:
    # Checks ask for the same few addresses thousands of times in a big lab (4032 pings at 64 hosts).
    return str(ipaddress.ip_interface(interface).ip)


# A command made of these characters only is one simple command (no quoting, redirection,
# expansion or second command): `timeout` runs it without a shell in between.
_PLAIN = re.compile(r"[A-Za-z0-9_ ./:=,@%+-]+")


def bounded(command: str, deadline: int) -> str:
    """The command as the host runs it: stopped after `deadline` seconds, killed soon after.
    (A plain command saves a shell: a 64-host verify starts hundreds of these.)"""
    return f"timeout -k {KILL_GRACE} {deadline} {simple(command)}"


def simple(command: str) -> str:
    """The command as one process: itself when it is plain, else through a shell."""
    if _PLAIN.fullmatch(command) and not command.startswith(("-", " ")):
        return command
    return f"sh -c {shlex.quote(command)}"


def batch_script(commands: list[tuple[str, int | None, int]], token: str) -> str:
    """One script running (command, deadline, stage) items: a stage's commands side by side,
    stages in order; then every command's exit code, stdout and stderr between markers. A
    deadline of None: the command runs without `timeout` (`Probe.self_bounded`)."""
    lines = [
        f'd=$({SCRATCH}) || exit 1; pids=',
        # Interrupted (Ctrl-C reaches this shell, or it is told to stop): stop every command (the
        # whole process group `timeout` made for it; a self-bounded one is the tool itself, or a
        # script that stops its own children), wait for them, remove the files.
        "trap 'for p in $pids; do kill -TERM $p 2>/dev/null; done; wait; rm -rf \"$d\"; exit 130' INT TERM HUP",
    ]
    for stage in sorted({s for _, _, s in commands}):
        mine = [(i, c, dl) for i, (c, dl, s) in enumerate(commands) if s == stage]
        for i, command, deadline in mine:
            run = simple(command) if deadline is None else bounded(command, deadline)
            lines.append(f'{run} >"$d/{i}.o" 2>"$d/{i}.e" </dev/null & p{i}=$!; '
                         f'pids="$pids $p{i}"')
        for i, _, _ in mine:
            lines.append(f'wait $p{i}; printf "@@{token}:{i}:%s\\n" $? >"$d/{i}.m"')
    # Builtins write the markers; one `cat` prints everything.
    lines.append(f'printf "\\n@@{token}:err\\n" >"$d/s"; printf "\\n" >"$d/n"')
    lines.append("cat " + " ".join(f'"$d/{i}.m" "$d/{i}.o" "$d/s" "$d/{i}.e" "$d/n"' for i in range(len(commands))))
    lines.append('rm -rf "$d"')
    return "\n".join(lines) + "\n"


def parse_batch(output: str, count: int, token: str) -> list[tuple[int, str, str] | None]:
    """(rc, stdout, stderr) of each command of a batch script's output; None where missing."""
    found: list[tuple[int, str, str] | None] = [None] * count
    parts = re.split(rf"@@{token}:(\d+):(-?\d*)\n", output)
    for index, rc, body in zip(parts[1::3], parts[2::3], parts[3::3], strict=True):
        if int(index) >= count:
            continue
        out, marker, err = body.partition(f"\n@@{token}:err\n")
        if not marker:
            continue
        found[int(index)] = (int(rc) if rc else 255, out, err[:-1] if err.endswith("\n") else err)
    return found


class Context:
    def __init__(self, lab: Lab, provider: Provider) -> None:
        from netlab.verify.netns_backend import register

        register()
        self.lab = lab
        self.provider = provider
        self.tunnels = {t.name: t for t in lab.tunnels}
        self.hosts = {h: testinfra.get_host(provider.testinfra_uri(h), **_options(provider, h))
                      for h in lab.hosts}
        self._mastered: set[str] = set()
        self._memo: dict[Hashable, Any] = {}
        self._lock = threading.Lock()
        # Seconds to wait for a reply that should come; a refused probe waits this long too.
        self.reply_timeout = provider.reply_timeout
        # What a host gets beyond a command's own bounds before the command counts as hung.
        self.slack = max(5.0, 10 * provider.reply_timeout)
        # Hosts' batches run side by side: bound how many run at once.
        self._slots = threading.BoundedSemaphore(provider.max_parallel_commands)

    def tenant_ns(self, tenant: str) -> str:
        """The tenant's namespace as its host names it: the netns provider prefixes the lab's
        name (its hosts are namespaces too, side by side); inside a VM it is the tenant's name."""
        prefix = str(self.provider.ansible_group_vars().get("netlab_tenant_prefix") or "")
        return prefix + tenant

    def in_tenant(self, tenant: str, command: str) -> str:
        """`command` as the tenant's host runs it inside the tenant: a tenant's commands join its
        host's batch (one remote command per host, however many tenants it has)."""
        return f"ip netns exec {shlex.quote(self.tenant_ns(tenant))} {simple(command)}"

    def deadline(self, budget: float = 0.0) -> int:
        """Whole seconds a command that needs at most `budget` seconds may run on a host."""
        return math.ceil(budget + self.slack)

    def _evidence(self, host: str, command: str, deadline: int, rc: int, stdout: str, stderr: str) -> Evidence:
        output = stdout + (("\n" + stderr) if stderr.strip() else "")
        return Evidence(host, command, rc, output, stdout, deadline, rc in TIMED_OUT)

    def transport(self, host: str) -> float:
        """Seconds beyond a script's own bounds that reaching `host` may take (ssh's connect)."""
        return 10.0 + float(getattr(self.hosts[host].backend, "timeout", 0) or 0)

    def run_here(self, host: str, script: str, seconds: float) -> local.LocalResult:
        """Run `script` on host, waiting here at most `seconds` (see netlab.verify.local)."""
        backend = self.hosts[host].backend
        with self._lock:
            first = host not in self._mastered
            self._mastered.add(host)
        if first:
            local.ensure_master(backend)
        shell = local.shell_command(backend, script)
        if shell is not None:
            return local.run_bounded(shell, seconds)
        start = time.monotonic()
        what = f"{type(backend).__name__}.run on {host}"
        try:
            result = local.run_in_thread(lambda: backend.run(script), seconds)
        except TimeoutError:
            return local.LocalResult(124, "", "", True, time.monotonic() - start, what)
        return local.LocalResult(result.rc, result.stdout, result.stderr, False, time.monotonic() - start, what)

    def _unanswered(self, host: str, command: str, got: local.LocalResult) -> Evidence:
        """Evidence of a command whose host gave no answer before the local deadline."""
        seconds = math.ceil(got.seconds)
        partial = (got.stdout + got.stderr).strip()[-2000:]
        return Evidence(host, command, 124,
                        f"(netlab waited {seconds} s here and stopped: {got.command})"
                        + (f"\n{partial}" if partial else ""), "", seconds, True)

    def sh(self, host: str, command: str, budget: float = 0.0) -> Evidence:
        """Run one `command` on host with a deadline; `budget` is how long its own bounds allow."""
        deadline = self.deadline(budget)
        with self._slots:
            result = self.run_here(host, bounded(command, deadline), deadline + KILL_GRACE + self.transport(host))
        if result.timed_out:
            return self._unanswered(host, command, result)
        return self._evidence(host, command, deadline, result.rc, result.stdout, result.stderr)

    def batch(self, host: str, probes: list[Probe]) -> dict[Probe, Evidence]:
        """Run all of a host's probes as one script there (see `batch_script`)."""
        if not probes:
            return {}
        token = secrets.token_hex(6)
        deadlines = [self.deadline(p.budget) for p in probes]
        # The script ends by itself within its stages' longest deadlines (and `timeout`'s grace).
        bound = sum(max(dl for p, dl in zip(probes, deadlines, strict=True) if p.stage == stage) + KILL_GRACE
                    for stage in {p.stage for p in probes})
        script = batch_script([(p.command, None if p.self_bounded else dl, p.stage)
                               for p, dl in zip(probes, deadlines, strict=True)], token)
        with self._slots:
            result = self.run_here(host, script, bound + self.transport(host))
        if result.timed_out:
            return {p: self._unanswered(host, p.command, result) for p in probes}
        parsed = parse_batch(result.stdout, len(probes), token)
        out = {}
        for probe, deadline, got in zip(probes, deadlines, parsed, strict=True):
            if got is None:  # the script itself failed (host unreachable, interrupted)
                detail = (result.stderr.strip() or result.stdout.strip() or "no output")[-2000:]
                out[probe] = Evidence(host, probe.command, result.rc or 255,
                                      f"(the host's batch ended early: {detail})", "", deadline, False)
            else:
                out[probe] = self._evidence(host, probe.command, deadline, *got)
        return out

    def run_probes(self, wanted: dict[str, list[Probe]]) -> dict[tuple[str, Probe], Evidence]:
        """Every host's probes (deduplicated), one batch per host, hosts side by side."""
        def one(item: tuple[str, list[Probe]]) -> dict[tuple[str, Probe], Evidence]:
            host, probes = item
            return {(host, p): ev for p, ev in self.batch(host, list(dict.fromkeys(probes))).items()}

        seen: dict[tuple[str, Probe], Evidence] = {}
        for part in self.parallel(one, [(h, p) for h, p in wanted.items() if p]):
            seen.update(part)
        return seen

    def parallel(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        items = list(items)
        if len(items) <= 1:
            return [fn(i) for i in items]
        with ThreadPoolExecutor(max_workers=min(64, len(items))) as pool:
            return list(pool.map(fn, items))

    def remember(self, key: Hashable, value: Any) -> None:
        """Keep a fact one check worked out for others (e.g. a device's parameters)."""
        with self._lock:
            self._memo[key] = value

    def recall(self, key: Hashable) -> tuple[bool, Any]:
        with self._lock:
            return (key in self._memo, self._memo.get(key))


def _options(provider: Provider, host: str) -> dict[str, Any]:
    """testinfra's options for host; verify's ssh commands never become a ControlMaster."""
    options = dict(provider.testinfra_options())
    if provider.testinfra_uri(host).startswith("ssh://"):
        extra = options.get("ssh_extra_args") or ""
        if "controlmaster" not in extra.lower():
            options["ssh_extra_args"] = f"{extra} {local.SSH_OPTIONS}".strip()
    return options
