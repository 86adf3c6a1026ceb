"""fdb: after traffic, the forwarding table maps each peer's MAC to its underlay IP."""

from __future__ import annotations

import re

from netlab.model import Lab
from netlab.verify.checks.base import Case, Check, each, host_tunnels, peers
from netlab.verify.checks.params import cached_link
from netlab.verify.checks.ping import ping_many
from netlab.verify.context import Context, Outcome, address

ZERO_MAC = "00:00:00:00:00:00"
_FDB_LINE = re.compile(r"^(?P<mac>[0-9a-f:]{17}) .*?\bdst (?P<dst>\S+)")


def parse_fdb(output: str) -> set[tuple[str, str]]:
    """(MAC, underlay destination) of every `bridge fdb show dev DEV` line that has a `dst`."""
    matches = (_FDB_LINE.match(line) for line in output.splitlines())
    return {(m["mac"], m["dst"]) for m in matches if m}


def missing_entries(entries: set[tuple[str, str]], peer_macs: dict[str, tuple[str | None, str]],
                    flood_to: set[str]) -> list[str]:
    """What the table lacks: each peer's (MAC -> underlay IP), and the all-zeros default entry
    towards each flood destination (the group, or every peer's underlay IP)."""
    missing = []
    for peer, (mac, ip) in peer_macs.items():
        if mac is None or (mac, ip) not in entries:
            missing.append(f"{peer} ({mac or '?'} -> {ip})")
    for dst in sorted(flood_to):
        if (ZERO_MAC, dst) not in entries:
            missing.append(f"default entry {ZERO_MAC} -> {dst}")
    return missing


class FdbCheck(Check):
    name = "fdb"
    proves = "after traffic, the VXLAN forwarding table maps each peer's MAC to its underlay IP"

    def cases(self, lab: Lab) -> list[Case]:
        return [
            Case(self.name, h, f"{h} {t.name}", t.name) for h, t in host_tunnels(lab) if t.kind.learns_macs
        ]

    def run(self, ctx: Context, cases: list[Case]) -> dict[Case, Outcome]:
        tunnels = ctx.tunnels
        # Every peer's MAC, fetched once per device (not once per host that looks for it).
        devices = {(h, c.tunnel) for c in cases for h in tunnels[c.tunnel].endpoints}  # type: ignore[index]
        macs = dict(zip(devices, ctx.parallel(lambda d: (cached_link(ctx, *d) or {}).get("address"), devices),
                        strict=True))

        def one(case: Case) -> Outcome:
            t = tunnels[case.tunnel]  # type: ignore[index]
            others = peers(t, case.host)
            _, ping_ev = ping_many(ctx, case.host, [address(t, p) for p in others])
            fdb = ctx.sh(case.host, f"bridge fdb show dev {t.name}")
            hosts = ctx.lab.hosts
            peer_macs = {p: (macs[(p, t.name)], hosts[p].ip) for p in others}
            flood_to = {str(t.group)} if t.effective_mode == "multicast" else {hosts[p].ip for p in others}
            missing = missing_entries(parse_fdb(fdb.stdout), peer_macs, flood_to)
            evidence = [ping_ev, fdb]
            if missing:
                return Outcome(False, "missing: " + ", ".join(missing), evidence)
            return Outcome(True, f"{len(others)} peer MACs learned behind their underlay IPs", evidence)

        return each(ctx, cases, one)
