"""route: on a routed underlay, every host reaches every other host's underlay address.

Only for labs with routers: on one segment the tunnels' own checks already cover the wire.
"""

from __future__ import annotations

from netlab.model import Lab
from netlab.model.routing import routers_between
from netlab.verify.checks.base import Case, Check, Seen
from netlab.verify.checks.ping import fping_label, fping_lines, parse_fping, ping_probe
from netlab.verify.context import Context, Outcome, Probe


class RouteCheck(Check):
    name = "route"
    proves = "routed underlay: every host reaches every other host's underlay address"

    def cases(self, lab: Lab) -> list[Case]:
        if not lab.routers:
            return []
        return [Case(self.name, h, f"{h}->{p}", peer=p) for h in lab.hosts for p in lab.hosts if p != h]

    def targets(self, ctx: Context, host: str) -> list[str]:
        return sorted(spec.ip for h, spec in ctx.lab.hosts.items() if h != host)

    def probes(self, ctx: Context, case: Case) -> list[tuple[str, Probe]]:
        return [(case.host, ping_probe(ctx, self.targets(ctx, case.host)))]

    def judge(self, ctx: Context, case: Case, seen: Seen) -> Outcome:
        ev = seen[(case.host, self.probes(ctx, case)[0][1])]
        target = ctx.lab.hosts[case.peer].ip  # type: ignore[index]
        ok = parse_fping(ev.output, [target])[target]
        via = routers_between(ctx.lab, case.host, case.peer)  # type: ignore[arg-type]
        path = f" through {', '.join(via)}" if via else (" (no router joins them)" if via is None else "")
        summary = f"{target}{path} {'replies' if ok else 'does not reply'}"
        return Outcome(ok, summary, [ev.brief(fping_lines(ev.output).get(target, "(fping said nothing about it)"),
                                                   fping_label(ev))])
