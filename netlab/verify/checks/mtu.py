"""mtu: the largest unfragmented packet the tunnel's MTU allows passes; one byte more does not.

A tenant's eth0 must have the tunnel's MTU: a tenant with more (1500 over VXLAN: the classic)
sends frames its bridge drops without a word (a bridge sends no ICMP "too big"). So per tenant
with a tenant on another host: eth0's MTU is the tunnel's, and a full-size packet (DF) crosses.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from netlab.model import Lab
from netlab.verify.checks.base import Case, Check, Seen, first_peer_cases, host_tunnels
from netlab.verify.checks.ping import peers_probe, peers_replied
from netlab.verify.checks.tenant import tenant_probe, tenant_replied
from netlab.verify.context import Context, Outcome, Probe, address

ICMP_ECHO = 8
IP_HEADERS = {4: 20, 6: 40}


@dataclass(frozen=True)
class TenantMtu:
    """A tenant's eth0 MTU differs from its tunnel's."""

    tenant: str
    actual: int | None
    expected: int


def tenant_mtu_cases(name: str, lab: Lab) -> list[Case]:
    """Per tenant, towards the first tenant of its tunnel on another host (none: no case)."""
    out = []
    for src, tn in lab.tenants.items():
        remote = [n for n, o in lab.tenants_of(tn.tunnel).items() if o.host != tn.host]
        if remote:
            out.append(Case(name, tn.host, f"{src}->{remote[0]}", tn.tunnel, lab.tenants[remote[0]].host,
                            tenant=src, peer_tenant=remote[0]))
    return out


def eth0_mtu(output: str) -> int | None:
    return int(output.strip()) if output.strip().isdigit() else None


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
        bridged = {t.name for _, t in host_tunnels(lab) if t.bridge}
        return first_peer_cases(self.name, lab) + [c for c in tenant_mtu_cases(self.name, lab) if c.tunnel in bridged]

    def _tenant(self, ctx: Context, case: Case) -> tuple[Probe, Probe, int]:
        """The tenant's eth0 MTU, and its full-size DF ping to the other tenant."""
        t = ctx.tunnels[case.tunnel]  # type: ignore[index]
        mtu = t.effective_mtu(ctx.lab.underlay.mtu)
        target = ctx.lab.tenants[case.peer_tenant].interface  # type: ignore[index]
        wait = max(1, round(ctx.reply_timeout * 3))
        fits = mtu - IP_HEADERS[target.version] - ICMP_ECHO
        tenant = str(case.tenant)
        # /sys is the tenant's own under `ip netns exec` (it remounts it). The ping runs after the
        # tenants' own (stage 1): the neighbour is known, and a big lab's first ARPs are over.
        read = Probe(ctx.in_tenant(tenant, "cat /sys/class/net/eth0/mtu"), self_bounded=True)
        ping = Probe(ctx.in_tenant(tenant, f"ping -c 2 -i 0.2 -W {wait} -w {wait} -M do -s {fits} {target.ip}"),
                     wait, stage=1, self_bounded=True)
        return read, ping, mtu

    def judge_tenant(self, ctx: Context, case: Case, seen: Seen) -> Outcome:
        read_probe, ping_probe, mtu = self._tenant(ctx, case)
        read, ping = seen[(case.host, read_probe)], seen[(case.host, ping_probe)]
        have = eth0_mtu(read.stdout)
        evidence = [read.brief(read.output.strip(), f"[in {case.tenant}] cat /sys/class/net/eth0/mtu"),
                    ping.brief(ping_gist(ping.output))]
        t = ctx.tunnels[case.tunnel]  # type: ignore[index]
        if have != mtu:
            text = (f"{case.tenant}'s eth0 has MTU {have}, the tunnel {t.name} carries {mtu}: "
                    f"{case.tenant}'s larger frames vanish on {t.bridge} (no ICMP says why)")
            return Outcome(False, text, evidence, student=f"{case.tenant}'s eth0 MTU is wrong",
                           findings=[TenantMtu(str(case.tenant), have, mtu)])
        dst = f"{case.peer_tenant} on {case.peer}"
        target = str(ctx.lab.tenants[case.peer_tenant].interface.ip)  # type: ignore[index]
        if not answered(ping.rc, ping.output) and (case.host, tenant_probe(ctx, case.tenant)) in seen \
                and not tenant_replied(ctx, seen, str(case.tenant))[0].get(target, False):
            # Nothing gets through at all: not the MTU's doing (the tenant check says why).
            return Outcome(False, f"{dst} does not answer {case.tenant} even a small ping (see tenant): "
                           "the MTU cannot be measured", evidence)
        if not answered(ping.rc, ping.output):
            return Outcome(False, f"a {mtu}-byte packet with DF set from {case.tenant} did not reach {dst}",
                           evidence)
        return Outcome(True, f"eth0 MTU {mtu}; a {mtu}-byte packet with DF set reaches {dst}", evidence)

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
        if case.tenant is not None:
            read, ping, _ = self._tenant(ctx, case)
            return [(case.host, tenant_probe(ctx, case.tenant)), (case.host, read), (case.host, ping)]
        ok, big, _, _ = self._pings(ctx, case)
        return [(case.host, peers_probe(ctx, case.host)), (case.host, ok), (case.host, big)]

    def judge(self, ctx: Context, case: Case, seen: Seen) -> Outcome:
        if case.tenant is not None:
            return self.judge_tenant(ctx, case, seen)
        ok_probe, big_probe, mtu, headers = self._pings(ctx, case)
        ok, big = seen[(case.host, ok_probe)], seen[(case.host, big_probe)]
        passed, summary = verdict(ok.rc, 0 if answered(big.rc, big.output) else 1, mtu, headers)
        target = address(ctx.tunnels[case.tunnel], case.peer)  # type: ignore[index,arg-type]
        alive, _, _ = peers_replied(ctx, seen, case.host)
        if not passed and ok.rc != 0 and not alive.get(target, False):
            # Nothing gets through at all: that is not the MTU's doing (the ping check says why).
            summary = f"{target} does not answer even a small ping (see ping): the MTU cannot be measured"
        return Outcome(passed, summary, [ok.brief(ping_gist(ok.output)), big.brief(ping_gist(big.output))])
