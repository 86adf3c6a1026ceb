"""socket: a UDP socket listens on the tunnel's port (`ss -Hlun sport = :PORT`)."""

from __future__ import annotations

from netlab.model import Lab
from netlab.verify.checks.base import Case, Check, Seen, host_tunnels
from netlab.verify.context import Context, Outcome, Probe


def listening(ss_output: str, port: int) -> bool:
    """Whether `ss -Hlun` lists a socket bound to any address on `port`.

    The underlay is IPv4: the kernel opens the tunnel's socket on 0.0.0.0 (or * / [::]).
    """
    local = {line.split()[3] for line in ss_output.splitlines() if len(line.split()) >= 4}
    return bool(local & {f"0.0.0.0:{port}", f"*:{port}", f"[::]:{port}"})


class SocketCheck(Check):
    name = "socket"
    proves = "a UDP socket listens on the tunnel's port"

    def cases(self, lab: Lab) -> list[Case]:
        return [
            Case(self.name, h, f"{h} udp/{t.effective_dstport}", t.name)
            for h, t in host_tunnels(lab)
            if t.kind.is_udp
        ]

    def probes(self, ctx: Context, case: Case) -> list[tuple[str, Probe]]:
        port = ctx.tunnels[case.tunnel].effective_dstport  # type: ignore[index]
        return [(case.host, Probe(f"ss -Hlun sport = :{port}", self_bounded=True))]

    def judge(self, ctx: Context, case: Case, seen: Seen) -> Outcome:
        port = ctx.tunnels[case.tunnel].effective_dstport  # type: ignore[index]
        ev = seen[(case.host, self.probes(ctx, case)[0][1])]
        ok = listening(ev.stdout, port)  # type: ignore[arg-type]
        return Outcome(ok, f"udp/{port} {'listening' if ok else 'not listening'}", [ev],
                       student=None if ok else "nothing listens on the tunnel's UDP port")
