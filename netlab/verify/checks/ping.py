"""ping: every endpoint reaches every other endpoint's tunnel address (fping, one per source)."""

from __future__ import annotations

import math

from netlab.model import Lab
from netlab.verify.checks.base import Case, Check, by_host, host_tunnels, peers
from netlab.verify.context import Context, Evidence, Outcome, address

# fping when present (one process for all targets), else one bounded ping per target.
PING_SCRIPT = (
    "if command -v fping >/dev/null 2>&1; then fping -i 1 -r {retries} -t {timeout_ms} -e {targets} 2>&1; "
    "else for a in {targets}; do if ping -c 1 -W {wait} -w {wait} $a >/dev/null 2>&1; "
    "then echo \"$a is alive\"; else echo \"$a is unreachable\"; fi; done; fi"
)
FPING_BACKOFF = 1.5  # fping's default: each retry waits this much longer than the one before


def ping_budget(targets: int, retries: int, timeout_ms: int, wait: int) -> float:
    """Seconds PING_SCRIPT takes at most by its own bounds (fping's retries, or ping's -w)."""
    fping = sum(timeout_ms * FPING_BACKOFF**k for k in range(retries + 1)) / 1000 + targets * (retries + 1) / 1000
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


def ping_many(ctx: Context, host: str, targets: list[str], expect_reply: bool = True) -> tuple[
    dict[str, bool], Evidence
]:
    """Ping every target once from host (fping when present); {target: replied}."""
    patience = int(ctx.reply_timeout * 1000)
    retries, timeout_ms = (2, max(500, patience)) if expect_reply else (0, patience)
    wait = max(1, math.ceil(timeout_ms / 1000))
    script = PING_SCRIPT.format(retries=retries, timeout_ms=timeout_ms, wait=wait, targets=" ".join(targets))
    ev = ctx.sh(host, script, budget=ping_budget(len(targets), retries, timeout_ms, wait))
    return parse_fping(ev.output, targets), ev


class PingCheck(Check):
    name = "ping"
    proves = "every endpoint reaches every other endpoint's tunnel address"

    def cases(self, lab: Lab) -> list[Case]:
        return [
            Case(self.name, host, f"{host}->{peer} {t.name}", t.name, peer)
            for host, t in host_tunnels(lab)
            for peer in peers(t, host)
        ]

    def run(self, ctx: Context, cases: list[Case]) -> dict[Case, Outcome]:
        tunnels = ctx.tunnels

        def from_host(item: tuple[str, list[Case]]) -> dict[Case, Outcome]:
            host, mine = item
            targets = {c: address(tunnels[c.tunnel], c.peer) for c in mine}  # type: ignore[index,arg-type]
            alive, ev = ping_many(ctx, host, sorted(set(targets.values())))
            return {
                c: Outcome(alive[a], f"{a} {'replies' if alive[a] else 'does not reply'}", [ev])
                for c, a in targets.items()
            }

        results: dict[Case, Outcome] = {}
        for part in ctx.parallel(from_host, by_host(cases).items()):
            results.update(part)
        return results
