"""fdb: after traffic, the forwarding table maps each peer's MAC to its underlay IP.

What the table must hold depends on the tunnel: without a bridge, each peer's tunnel device MAC,
learned from the ping check's traffic; on a bridged tunnel that learns (p2p, multicast, flood),
the MAC of every tenant on another host, learned from the tenant check's traffic (the pings of
this host's own tenants: their replies come back through the tunnel), and the peers' bridge
MACs where both have an address; in static mode, every MAC netlab gives elsewhere
(`netlab.render.tenants.macs_behind`) as a `self permanent` entry towards its VTEP, whatever
the traffic. Flood and static tunnels also need one all-zeros entry per peer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from netlab.macs import tenant_mac, tunnel_mac
from netlab.model import Lab, Tunnel
from netlab.render.tenants import bridge_mac, macs_behind
from netlab.verify.checks.base import LINKS, Case, Check, Seen, addressed_peers, host_links, host_tunnels, peers
from netlab.verify.checks.ping import fping_label, peers_probe
from netlab.verify.checks.tenant import tenant_probe
from netlab.verify.context import Context, Evidence, Outcome, Probe

ZERO_MAC = "00:00:00:00:00:00"
_FDB_LINE = re.compile(r"^(?P<mac>[0-9a-f:]{17}) .*?\bdst (?P<dst>\S+)")


@dataclass(frozen=True)
class MissingFlood:
    """A flood tunnel's all-zeros entry towards a peer is missing: broadcasts never reach it."""

    peer: str
    dst: str


@dataclass(frozen=True)
class MissingStatic:
    """A static VTEP lacks the permanent entry for a MAC behind another VTEP (`what`: whose)."""

    mac: str
    dst: str
    what: str


def parse_fdb(output: str) -> set[tuple[str, str]]:
    """(MAC, underlay destination) of every `bridge fdb show dev DEV` line that has a `dst`."""
    matches = (_FDB_LINE.match(line) for line in output.splitlines())
    return {(m["mac"], m["dst"]) for m in matches if m}


def permanent_entries(output: str) -> set[tuple[str, str]]:
    """(MAC, underlay destination) of the `self permanent` entries (what static mode is given)."""
    out = set()
    for line in output.splitlines():
        m = _FDB_LINE.match(line)
        if m and {"self", "permanent"} <= set(line.split()):
            out.add((m["mac"], m["dst"]))
    return out


def owners(lab: Lab, t: Tunnel) -> dict[str, str]:
    """MAC -> whose it is, for the MACs a static VTEP is given (a tenant, a peer's bridge or device)."""
    out = {tenant_mac(n): n for n in lab.tenants_of(t.name)}
    for peer in t.endpoints:
        mac = bridge_mac(lab, peer, t)
        out[mac or tunnel_mac(peer, t.name)] = f"{peer}'s {t.bridge or t.name}"
    return out


def learned_macs(ctx: Context, seen: Seen, host: str, t: Tunnel) -> dict[str, tuple[str | None, str]]:
    """{who: (MAC, underlay IP)} a learning table on host must hold after the checks' traffic."""
    lab = ctx.lab
    if t.bridge is None:
        out = {}
        for p in peers(t, host):
            links, _ = host_links(ctx, seen, p)
            out[p] = ((links or {}).get(t.name, {}).get("address"), lab.hosts[p].ip)
        return out
    out = {}
    if lab.tenants_of(t.name, host):  # this host's tenants ping every other: replies are learned
        out.update({n: (tenant_mac(n), lab.hosts[tn.host].ip) for n, tn in lab.tenants_of(t.name).items()
                    if tn.host != host})
    if host in t.addresses:  # the ping check's pings between bridges (SVIs)
        out.update({f"{p}'s {t.bridge}": (bridge_mac(lab, p, t), lab.hosts[p].ip)
                    for p in addressed_peers(t, host)})
    return out


def traffic(ctx: Context, host: str, t: Tunnel) -> list[tuple[str, Probe]]:
    """The probes whose traffic fills host's table for t (stage 0): its tenants' and its own pings."""
    out = [(host, tenant_probe(ctx, n)) for n in ctx.lab.tenants_of(t.name, host)]
    if t.bridge is None or (host in t.addresses and addressed_peers(t, host)):
        out.append((host, peers_probe(ctx, host)))
    return out


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
    proves = "after traffic, the VXLAN forwarding table maps each peer's (or tenant's) MAC to its underlay IP"

    def cases(self, lab: Lab) -> list[Case]:
        out = []
        for h, t in host_tunnels(lab):
            if not t.kind.learns_macs:
                continue
            static = t.effective_mode == "static"
            # A bridged learning tunnel: only where this host makes traffic that fills it.
            if static or t.bridge is None or lab.tenants_of(t.name, h) or (h in t.addresses and addressed_peers(t, h)):
                out.append(Case(self.name, h, f"{h} {t.name}", t.name))
        return out

    def probes(self, ctx: Context, case: Case) -> list[tuple[str, Probe]]:
        t = ctx.tunnels[case.tunnel]  # type: ignore[index]
        if t.effective_mode == "static":
            return [(case.host, fdb_probe(t.name))]
        # The pings make the traffic (stage 0), the table is read after it (stage 1); without a
        # bridge every peer's MAC comes from its own device list.
        out = [*traffic(ctx, case.host, t), (case.host, fdb_probe(t.name))]
        if t.bridge is None:
            out += [(p, LINKS) for p in t.endpoints]
        return out

    def judge(self, ctx: Context, case: Case, seen: Seen) -> Outcome:
        t = ctx.tunnels[case.tunnel]  # type: ignore[index]
        if t.effective_mode == "static":
            return self.judge_static(ctx, case, seen, t)
        others = peers(t, case.host)
        fdb = seen[(case.host, fdb_probe(t.name))]
        hosts = ctx.lab.hosts
        peer_macs = learned_macs(ctx, seen, case.host, t)
        flood = {hosts[p].ip: p for p in others} if t.effective_mode == "flood" else {}
        flood_to = {str(t.group)} if t.effective_mode == "multicast" else set(flood)
        missing = missing_entries(parse_fdb(fdb.stdout), peer_macs, flood_to)
        findings = [MissingFlood(flood[m.rsplit(" ", 1)[1]], m.rsplit(" ", 1)[1]) for m in missing
                    if m.startswith("default entry") and m.rsplit(" ", 1)[1] in flood]
        evidence = [*(self.quiet(ev) for ev in self.pings(ctx, case, seen, t)), fdb]
        if missing:
            return Outcome(False, "missing: " + ", ".join(missing), evidence, findings=findings)
        if t.bridge is None:
            return Outcome(True, f"{len(others)} peer MACs learned behind their underlay IPs", evidence)
        return Outcome(True, f"learned behind their VTEPs: {', '.join(peer_macs)}", evidence)

    def pings(self, ctx: Context, case: Case, seen: Seen, t: Tunnel) -> list[Evidence]:
        return [seen[key] for key in traffic(ctx, case.host, t) if key in seen]

    @staticmethod
    def quiet(ping: Evidence) -> Evidence:
        """A ping's evidence showing only the targets that did not reply."""
        quiet = "\n".join(line for line in ping.output.splitlines() if " is alive" not in line)
        return ping.brief(quiet or "(every target replied)", fping_label(ping))

    def judge_static(self, ctx: Context, case: Case, seen: Seen, t: Tunnel) -> Outcome:
        """Static mode: every MAC behind another VTEP is a permanent entry towards it, and each
        peer has its all-zeros entry (head-end replication)."""
        fdb = seen[(case.host, fdb_probe(t.name))]
        given = permanent_entries(fdb.stdout)
        whose = owners(ctx.lab, t)
        findings: list[MissingStatic | MissingFlood] = [
            MissingStatic(mac, dst, whose.get(mac, mac)) for mac, dst, _ in macs_behind(ctx.lab, case.host, t)
            if (mac, dst) not in given]
        entries = parse_fdb(fdb.stdout)
        findings += [MissingFlood(p, ctx.lab.hosts[p].ip) for p in peers(t, case.host)
                     if (ZERO_MAC, ctx.lab.hosts[p].ip) not in entries]
        if findings:
            text = ", ".join(f"{f.what} ({f.mac} dst {f.dst} self permanent)" if isinstance(f, MissingStatic)
                             else f"default entry {ZERO_MAC} -> {f.dst}" for f in findings)
            return Outcome(False, "missing: " + text, [fdb], findings=findings)
        count = len(macs_behind(ctx.lab, case.host, t))
        return Outcome(True, f"{count} permanent entries towards their VTEPs, a flood entry per peer", [fdb])
