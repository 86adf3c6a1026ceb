"""fdb: after traffic, the forwarding table maps each peer's MAC to its underlay IP."""

from __future__ import annotations

import re
from dataclasses import dataclass

from netlab.model import Lab
from netlab.verify.checks.base import LINKS, Case, Check, Seen, host_links, host_tunnels, peers
from netlab.verify.checks.ping import fping_label, peers_probe
from netlab.verify.context import Context, Outcome, Probe

ZERO_MAC = "00:00:00:00:00:00"
_FDB_LINE = re.compile(r"^(?P<mac>[0-9a-f:]{17}) .*?\bdst (?P<dst>\S+)")


@dataclass(frozen=True)
class MissingFlood:
    """A flood tunnel's all-zeros entry towards a peer is missing: broadcasts never reach it."""

    peer: str
    dst: str


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


def fdb_probe(device: str) -> Probe:
    """The device's forwarding table, read after the fping (stage 1)."""
    return Probe(f"bridge fdb show dev {device}", stage=1, self_bounded=True)


class FdbCheck(Check):
    name = "fdb"
    proves = "after traffic, the VXLAN forwarding table maps each peer's MAC to its underlay IP"

    def cases(self, lab: Lab) -> list[Case]:
        return [
            Case(self.name, h, f"{h} {t.name}", t.name) for h, t in host_tunnels(lab) if t.kind.learns_macs
        ]

    def probes(self, ctx: Context, case: Case) -> list[tuple[str, Probe]]:
        t = ctx.tunnels[case.tunnel]  # type: ignore[index]
        # The fping makes the traffic (stage 0), the table is read after it (stage 1); every
        # peer's MAC comes from its own device list.
        return [(case.host, peers_probe(ctx, case.host)), (case.host, fdb_probe(t.name)),
                *((p, LINKS) for p in t.endpoints)]

    def judge(self, ctx: Context, case: Case, seen: Seen) -> Outcome:
        t = ctx.tunnels[case.tunnel]  # type: ignore[index]
        others = peers(t, case.host)
        fdb = seen[(case.host, fdb_probe(t.name))]
        hosts = ctx.lab.hosts
        peer_macs = {}
        for p in others:
            links, _ = host_links(ctx, seen, p)
            peer_macs[p] = ((links or {}).get(t.name, {}).get("address"), hosts[p].ip)
        flood = {hosts[p].ip: p for p in others} if t.effective_mode == "flood" else {}
        flood_to = {str(t.group)} if t.effective_mode == "multicast" else set(flood)
        missing = missing_entries(parse_fdb(fdb.stdout), peer_macs, flood_to)
        findings = [MissingFlood(flood[m.rsplit(" ", 1)[1]], m.rsplit(" ", 1)[1]) for m in missing
                    if m.startswith("default entry") and m.rsplit(" ", 1)[1] in flood]
        ping = seen[(case.host, peers_probe(ctx, case.host))]
        quiet = "\n".join(line for line in ping.output.splitlines() if " is alive" not in line)
        evidence = [ping.brief(quiet or "(every peer replied)", fping_label(ping)), fdb]
        if missing:
            return Outcome(False, "missing: " + ", ".join(missing), evidence, findings=findings)
        return Outcome(True, f"{len(others)} peer MACs learned behind their underlay IPs", evidence)
