"""mtu: the largest unfragmented packet the tunnel's MTU allows passes; one byte more does not."""

from __future__ import annotations

import math
import re

from netlab.model import Lab
from netlab.verify.checks.base import Case, Check, Seen, first_peer_cases
from netlab.verify.checks.ping import peers_probe, peers_replied
from netlab.verify.context import Context, Outcome, Probe, address

ICMP_ECHO = 8
IP_HEADERS = {4: 20, 6: 40}


def answered(rc: int, output: str) -> bool:
    """Whether a ping got any reply: its summary's "N received" (ping exits 1 when fewer than
    all its packets got one), else its exit code."""
    m = re.search(r"(\d+) (?:packets )?received", output)
    return int(m.group(1)) > 0 if m else rc == 0


def verdict(fits_rc: int, too_big_rc: int, mtu: int, headers: int) -> tuple[bool, str]:
    """Judge the two DF pings: an MTU-sized packet must pass (rc 0), one byte more must not
    (`too_big_rc` 0: a reply came)."""
    fits = mtu - headers
    if fits_rc == 0 and too_big_rc != 0:
        return True, f"{fits}+{headers} bytes pass, {fits + 1}+{headers} are refused (MTU {mtu})"
    if fits_rc != 0:
        return False, f"a {mtu}-byte packet with DF set did not get through"
    return False, f"a {mtu + 1}-byte packet passed: the MTU is larger than {mtu}"


def ping_gist(output: str) -> str:
    """The lines of ping's output that say what happened (sent, received, errors)."""
    keep = ("transmitted", "error", "too long", "frag needed", "unreachable", "bytes from")
    return "\n".join(line for line in output.splitlines() if any(k in line for k in keep)) or output.strip()


class MtuCheck(Check):
    name = "mtu"
    proves = "the largest unfragmented packet the tunnel MTU allows passes; one byte more does not"

    def cases(self, lab: Lab) -> list[Case]:
        return first_peer_cases(self.name, lab)

    def _pings(self, ctx: Context, case: Case) -> tuple[Probe, Probe, int, int]:
        t = ctx.tunnels[case.tunnel]  # type: ignore[index]
        target = address(t, case.peer)  # type: ignore[arg-type]
        mtu = t.effective_mtu(ctx.lab.underlay.mtu)
        headers = IP_HEADERS[t.kind.endpoint_family] + ICMP_ECHO
        fits = mtu - headers
        wait = max(1, round(ctx.reply_timeout * 3))  # this one should get an answer
        refused = max(1, math.ceil(ctx.reply_timeout))  # ping's deadline (-w) takes whole seconds
        ok = Probe(f"ping -c 1 -W {wait} -w {wait} -M do -s {fits} {target}", wait, self_bounded=True)
        # Two packets 10 ms apart: ping notices a refused send (its "local error") only when it
        # sends the next one, so with one packet it always waited out its whole deadline.
        big = Probe(f"ping -c 2 -i 0.01 -W {ctx.reply_timeout} -w {refused} -M do -s {fits + 1} {target}", refused,
                    self_bounded=True)
        return ok, big, mtu, headers

    def probes(self, ctx: Context, case: Case) -> list[tuple[str, Probe]]:
        ok, big, _, _ = self._pings(ctx, case)
        return [(case.host, peers_probe(ctx, case.host)), (case.host, ok), (case.host, big)]

    def judge(self, ctx: Context, case: Case, seen: Seen) -> Outcome:
        ok_probe, big_probe, mtu, headers = self._pings(ctx, case)
        ok, big = seen[(case.host, ok_probe)], seen[(case.host, big_probe)]
        passed, summary = verdict(ok.rc, 0 if answered(big.rc, big.output) else 1, mtu, headers)
        target = address(ctx.tunnels[case.tunnel], case.peer)  # type: ignore[index,arg-type]
        alive, _, _ = peers_replied(ctx, seen, case.host)
        if not passed and ok.rc != 0 and not alive.get(target, False):
            # Nothing gets through at all: that is not the MTU's doing (the ping check says why).
            summary = f"{target} does not answer even a small ping (see ping): the MTU cannot be measured"
        return Outcome(passed, summary, [ok.brief(ping_gist(ok.output)), big.brief(ping_gist(big.output))])
