"""ping: every endpoint reaches every other endpoint's tunnel address (fping, one per source).

On a bridged tunnel an endpoint's address sits on the bridge, and endpoints may have none: only
pairs that both have one ping (the tenant check covers the tenants behind the bridge)."""

from __future__ import annotations

import math

from netlab.model import Lab
from netlab.verify.checks.base import Case, Check, Seen, addressed_peers, addressed_tunnels
from netlab.verify.context import Context, Evidence, Outcome, Probe, address

# fping when present (one process for all targets), else one bounded ping per target. fping is
# exec'd: a TERM for the batch's command reaches it, not only its shell.
PING_SCRIPT = (
    "if command -v fping >/dev/null 2>&1; "
    "then exec fping -i {interval} -r {retries} -t {timeout_ms} -e {targets} 2>&1; "
    "else for a in {targets}; do if ping -c 1 -W {wait} -w {wait} $a >/dev/null 2>&1; "
    "then echo \"$a is alive\"; else echo \"$a is unreachable\"; fi; done; fi"
)
FPING_BACKOFF = 1.5  # fping's default: each retry waits this much longer than the one before


def ping_budget(targets: int, retries: int, timeout_ms: int, wait: int, interval_ms: int = 1) -> float:
    """Seconds PING_SCRIPT takes at most by its own bounds (fping's retries, or ping's -w)."""
    fping = (sum(timeout_ms * FPING_BACKOFF**k for k in range(retries + 1)) / 1000
             + targets * (retries + 1) * interval_ms / 1000)
    return max(fping, targets * wait)


def parse_fping(output: str, targets: list[str]) -> dict[str, bool]:
    """{target: replied} from fping -e lines ("ADDR is alive (0.1 ms)", "ADDR is unreachable").

    A target fping did not report on (an error line, no output) counts as not replying.
    """
    alive = {t: False for t in targets}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] in alive and parts[1] == "is":
            alive[parts[0]] = parts[2] == "alive"
    return alive


def fping_lines(output: str) -> dict[str, str]:
    """{target: fping's lines about it} (what a report shows by default)."""
    out: dict[str, str] = {}
    for line in output.splitlines():
        first = line.split(maxsplit=1)[:1]
        if first:
            out[first[0]] = out[first[0]] + "\n" + line if first[0] in out else line
    return out


def fping_label(ev: Evidence) -> str:
    """The fping command of PING_SCRIPT, without the fallback for hosts that lack fping."""
    return ev.command.split("; then exec ", 1)[-1].split(" 2>&1;", 1)[0]


def interval_ms(ctx: Context) -> int:
    """Milliseconds between fping's packets. Every host pings all its peers at once: in a big
    lab each first packet needs an ARP that the tunnel floods to every peer (n² ARPs on the
    wire, n³ copies on a flood tunnel). Spacing the packets keeps that burst within what the
    kernel queues (unres_qlen, the backlog) instead of dropping it."""
    hosts = len(ctx.lab.hosts)
    return 1 if hosts <= 16 else min(10, math.ceil(hosts / 16))


def ping_probe(ctx: Context, targets: list[str], expect_reply: bool = True) -> Probe:
    """Ping every target once (fping when present)."""
    patience = int(ctx.reply_timeout * 1000)
    retries, timeout_ms = (2, max(500, patience)) if expect_reply else (0, patience)
    wait = max(1, math.ceil(timeout_ms / 1000))
    gap = interval_ms(ctx)
    script = PING_SCRIPT.format(interval=gap, retries=retries, timeout_ms=timeout_ms, wait=wait,
                                targets=" ".join(targets))
    return Probe(script, ping_budget(len(targets), retries, timeout_ms, wait, gap), self_bounded=True)


def peer_targets(ctx: Context, host: str) -> list[str]:
    """The tunnel address of every peer of host, on all its tunnels, in the order fping pings
    them: the peers that follow host in the lab first, then from the lab's first host on.

    On a tunnel that carries Ethernet, the side of a pair that pings first floods an ARP
    request, and the other side keeps the sender's MAC from it (the kernel does, for a request
    for itself): its reply and its own ping to the first side need no broadcast. So a pair
    costs one flooded request when one side clearly goes first, two when both go at once.
    With every host starting after itself (i pings i+1, i+2, ... and wraps around), i pings
    i+k before i+k pings i whenever k < n/2, |n-2k| fping intervals earlier, and each host's
    first packets go to different peers (a sorted list sends everyone's first to the same
    host). Each ping is still its own result. Measured (docs/performance.md): the hosts'
    batches start spread out enough that any order already stays near the floor of n(n-1)/2
    requests; this order makes that hold by design, not by the start-up jitter."""
    names = list(ctx.lab.hosts)
    me = names.index(host)
    after = {h: (i - me) % len(names) for i, h in enumerate(names)}
    pairs = {(after[p], address(t, p)) for t in ctx.lab.tunnels_of(host) if host in t.addresses
             for p in addressed_peers(t, host)}
    return list(dict.fromkeys(a for _, a in sorted(pairs)))


def peers_probe(ctx: Context, host: str) -> Probe:
    """The one fping from host to all its peers (ping, fdb and mtu share it)."""
    known, probe = ctx.recall(("peers_probe", host))
    if not known:
        probe = ping_probe(ctx, peer_targets(ctx, host))
        ctx.remember(("peers_probe", host), probe)
    return probe  # type: ignore[no-any-return]


def peers_replied(ctx: Context, seen: Seen, host: str) -> tuple[dict[str, bool], Evidence, dict[str, str]]:
    """{peer address: replied} from host's fping to all its peers, its evidence, and its lines
    per target (parsed once per host)."""
    ev = seen[(host, peers_probe(ctx, host))]
    known, parsed = ctx.recall(("peers_alive", host))
    if not known:
        parsed = (parse_fping(ev.output, peer_targets(ctx, host)), fping_lines(ev.output))
        ctx.remember(("peers_alive", host), parsed)
    return parsed[0], ev, parsed[1]


class PingCheck(Check):
    name = "ping"
    proves = "every endpoint reaches every other endpoint's tunnel address"

    def cases(self, lab: Lab) -> list[Case]:
        return [
            Case(self.name, host, f"{host}->{peer} {t.name}", t.name, peer)
            for host, t in addressed_tunnels(lab)
            for peer in addressed_peers(t, host)
        ]

    def probes(self, ctx: Context, case: Case) -> list[tuple[str, Probe]]:
        return [(case.host, peers_probe(ctx, case.host))]

    def judge(self, ctx: Context, case: Case, seen: Seen) -> Outcome:
        target = address(ctx.tunnels[case.tunnel], case.peer)  # type: ignore[index,arg-type]
        alive, ev, lines = peers_replied(ctx, seen, case.host)
        ok = alive.get(target, False)
        return Outcome(ok, f"{target} {'replies' if ok else 'does not reply'}",
                       [ev.brief(lines.get(target, "(fping said nothing about it)"), fping_label(ev))])
