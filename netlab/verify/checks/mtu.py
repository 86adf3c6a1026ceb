"""mtu: the largest unfragmented packet the tunnel's MTU allows passes; one byte more does not."""

from __future__ import annotations

import math

from netlab.model import Lab, Tunnel
from netlab.verify.checks.base import Case, PerCaseCheck, first_peer_cases
from netlab.verify.context import Context, Outcome, address

ICMP_ECHO = 8
IP_HEADERS = {4: 20, 6: 40}


def verdict(fits_rc: int, too_big_rc: int, mtu: int, headers: int) -> tuple[bool, str]:
    """Judge the two DF pings: an MTU-sized packet must pass (rc 0), one byte more must not."""
    fits = mtu - headers
    if fits_rc == 0 and too_big_rc != 0:
        return True, f"{fits}+{headers} bytes pass, {fits + 1}+{headers} are refused (MTU {mtu})"
    if fits_rc != 0:
        return False, f"a {mtu}-byte packet with DF set did not get through"
    return False, f"a {mtu + 1}-byte packet passed: the MTU is larger than {mtu}"


class MtuCheck(PerCaseCheck):
    name = "mtu"
    proves = "the largest unfragmented packet the tunnel MTU allows passes; one byte more does not"

    def cases(self, lab: Lab) -> list[Case]:
        return first_peer_cases(self.name, lab)

    def judge(self, ctx: Context, case: Case, t: Tunnel) -> Outcome:
        target = address(t, case.peer)  # type: ignore[arg-type]
        mtu = t.effective_mtu(ctx.lab.underlay.mtu)
        headers = IP_HEADERS[t.kind.endpoint_family] + ICMP_ECHO
        fits = mtu - headers
        wait = max(1, round(ctx.reply_timeout * 3))  # this one should get an answer
        refused = max(1, math.ceil(ctx.reply_timeout))  # ping's deadline (-w) takes whole seconds
        ok = ctx.sh(case.host, f"ping -c 1 -W {wait} -w {wait} -M do -s {fits} {target}", budget=wait)
        big = ctx.sh(case.host, f"ping -c 1 -W {ctx.reply_timeout} -w {refused} -M do -s {fits + 1} {target}",
                     budget=refused)
        passed, summary = verdict(ok.rc, big.rc, mtu, headers)
        return Outcome(passed, summary, [ok, big])
