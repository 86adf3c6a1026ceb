"""The checks of `netlab verify`: one class each, deriving its cases from the lab.

A check lists its cases (one per host and tunnel, or per pair of hosts), then runs them all
at once (hosts in parallel) and returns one `Outcome` per case, with the commands and
outputs that prove it.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from netlab.model import ALL_CHECKS, Lab, Tunnel
from netlab.verify.context import Context, Evidence, Outcome, address, ping_many


@dataclass(frozen=True)
class Case:
    check: str
    host: str
    label: str
    tunnel: str | None = None
    peer: str | None = None  # host, or tunnel name for isolation

    @property
    def id(self) -> str:
        return f"{self.check}[{self.label}]"


class Check(ABC):
    name: ClassVar[str]
    proves: ClassVar[str]

    @abstractmethod
    def cases(self, lab: Lab) -> list[Case]: ...

    @abstractmethod
    def run(self, ctx: Context, cases: list[Case]) -> dict[Case, Outcome]: ...


class PerCaseCheck(Check):
    """A check that judges each case on its own; cases run side by side."""

    def run(self, ctx: Context, cases: list[Case]) -> dict[Case, Outcome]:
        return each(ctx, cases, lambda case: self.judge(ctx, case, ctx.tunnels[case.tunnel]))  # type: ignore[index]

    @abstractmethod
    def judge(self, ctx: Context, case: Case, tunnel: Tunnel) -> Outcome: ...


def each(ctx: Context, cases: list[Case], judge: Callable[[Case], Outcome]) -> dict[Case, Outcome]:
    return dict(zip(cases, ctx.parallel(judge, cases), strict=True))


def _first_peer_cases(name: str, lab: Lab) -> list[Case]:
    """One case per host and tunnel, towards the tunnel's first other endpoint."""
    return [
        Case(name, h, f"{h}->{_peers(t, h)[0]} {t.name}", t.name, _peers(t, h)[0])
        for h, t in _host_tunnels(lab)
    ]


def _peers(t: Tunnel, host: str) -> list[str]:
    return [h for h in t.endpoints if h != host]


def _host_tunnels(lab: Lab) -> Iterator[tuple[str, Tunnel]]:
    for host in lab.hosts:
        for t in lab.tunnels_of(host):
            yield host, t


def _by_host(cases: list[Case]) -> dict[str, list[Case]]:
    out: dict[str, list[Case]] = {}
    for case in cases:
        out.setdefault(case.host, []).append(case)
    return out


class PingCheck(Check):
    name = "ping"
    proves = "every endpoint reaches every other endpoint's tunnel address"

    def cases(self, lab: Lab) -> list[Case]:
        return [
            Case(self.name, host, f"{host}->{peer} {t.name}", t.name, peer)
            for host, t in _host_tunnels(lab)
            for peer in _peers(t, host)
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
        for part in ctx.parallel(from_host, _by_host(cases).items()):
            results.update(part)
        return results


def expected_params(lab: Lab, host: str, t: Tunnel) -> dict[str, set[str]]:
    """info_data fields (as text) that `ip -d -j link show` must report for this tunnel."""
    return t.kind.expected_params(lab, host, t)


class ParamsCheck(PerCaseCheck):
    name = "params"
    proves = "the device has the lab's type, VNI/key, port, group, TTL, local/remote, dev, MTU, address"

    def cases(self, lab: Lab) -> list[Case]:
        return [Case(self.name, h, f"{h} {t.name}", t.name) for h, t in _host_tunnels(lab)]

    def judge(self, ctx: Context, case: Case, t: Tunnel) -> Outcome:
        link, ev = ctx.link(case.host, t.name)
        if link is None:
            return Outcome(False, f"no device {t.name} on {case.host}", [ev])
        problems = self.compare(ctx.lab, case.host, t, link)
        summary = "; ".join(problems) if problems else f"{t.type} as the lab says"
        return Outcome(not problems, summary, [ev])

    @staticmethod
    def compare(lab: Lab, host: str, t: Tunnel, link: dict[str, Any]) -> list[str]:
        problems = []
        info = link.get("linkinfo", {})
        if info.get("info_kind") != t.type:
            problems.append(f"type is {info.get('info_kind')}, lab says {t.type}")
        data = info.get("info_data", {}) or {}
        want = expected_params(lab, host, t)
        if "link" in want and "link" not in data and "link" in link:
            # Some iproute2 versions print the lower device beside info_data, not in it.
            data = {**data, "link": link["link"]}
        for key, allowed in want.items():
            actual = data.get(key)
            if actual is None or str(actual) not in allowed:
                problems.append(f"{key} is {actual}, lab says {sorted(allowed)[0]}")
        if "UP" not in link.get("flags", []):
            problems.append("the device is down")
        mtu = t.effective_mtu(lab.underlay.mtu)
        if link.get("mtu") != mtu:
            problems.append(f"mtu is {link.get('mtu')}, expected {mtu}")
        want = ipaddress.ip_interface(t.endpoints[host])
        have = {
            ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}")
            for a in link.get("addr_info", [])
            if "local" in a
        }
        if want not in have:
            has = ", ".join(sorted(map(str, have))) or "none"
            problems.append(f"address {want} missing (has {has})")
        return problems


class MaddrCheck(PerCaseCheck):
    name = "maddr"
    proves = "the underlay NIC has joined the VXLAN multicast group"

    def cases(self, lab: Lab) -> list[Case]:
        return [
            Case(self.name, h, f"{h} {t.name} {t.group}", t.name)
            for h, t in _host_tunnels(lab)
            if t.effective_mode == "multicast"
        ]

    def judge(self, ctx: Context, case: Case, t: Tunnel) -> Outcome:
        dev = ctx.lab.underlay.interface
        ev = ctx.sh(case.host, f"ip maddr show dev {dev}")
        joined = re.search(rf"\binet\s+{re.escape(str(t.group))}\b", ev.stdout) is not None
        return Outcome(joined, f"{t.group} {'joined' if joined else 'not joined'} on {dev}", [ev])


_FDB_LINE = re.compile(r"^(?P<mac>[0-9a-f:]{17}) .*?\bdst (?P<dst>\S+)")


class FdbCheck(Check):
    name = "fdb"
    proves = "after traffic, the VXLAN forwarding table maps each peer's MAC to its underlay IP"

    def cases(self, lab: Lab) -> list[Case]:
        return [
            Case(self.name, h, f"{h} {t.name}", t.name) for h, t in _host_tunnels(lab) if t.kind.learns_macs
        ]

    def run(self, ctx: Context, cases: list[Case]) -> dict[Case, Outcome]:
        tunnels = ctx.tunnels
        # Every peer's MAC, fetched once per device (not once per host that looks for it).
        devices = {(h, c.tunnel) for c in cases for h in tunnels[c.tunnel].endpoints}  # type: ignore[index]
        macs = dict(zip(devices, ctx.parallel(lambda d: (ctx.cached_link(*d) or {}).get("address"), devices),
                        strict=True))

        def one(case: Case) -> Outcome:
            t = tunnels[case.tunnel]  # type: ignore[index]
            peers = _peers(t, case.host)
            _, ping_ev = ping_many(ctx, case.host, [address(t, p) for p in peers])
            fdb = ctx.sh(case.host, f"bridge fdb show dev {t.name}")
            matches = (_FDB_LINE.match(line) for line in fdb.stdout.splitlines())
            entries = {(m["mac"], m["dst"]) for m in matches if m}
            evidence = [ping_ev, fdb]
            missing = []
            for peer in peers:
                mac = macs[(peer, t.name)]
                ip = ctx.lab.hosts[peer].ip
                if mac is None or (mac, ip) not in entries:
                    missing.append(f"{peer} ({mac or '?'} -> {ip})")
            zero = "00:00:00:00:00:00"
            mode = t.effective_mode
            flood_to = {str(t.group)} if mode == "multicast" else {ctx.lab.hosts[p].ip for p in peers}
            for dst in flood_to:
                if (zero, dst) not in entries:
                    missing.append(f"default entry {zero} -> {dst}")
            if missing:
                return Outcome(False, "missing: " + ", ".join(missing), evidence)
            return Outcome(True, f"{len(peers)} peer MACs learned behind their underlay IPs", evidence)

        return each(ctx, cases, one)


class SocketCheck(PerCaseCheck):
    name = "socket"
    proves = "a UDP socket listens on the tunnel's port"

    def cases(self, lab: Lab) -> list[Case]:
        return [
            Case(self.name, h, f"{h} udp/{t.effective_dstport}", t.name)
            for h, t in _host_tunnels(lab)
            if t.kind.is_udp
        ]

    def judge(self, ctx: Context, case: Case, t: Tunnel) -> Outcome:
        port = t.effective_dstport
        ev = ctx.sh(case.host, f"ss -Hlun sport = :{port}")
        # The underlay is IPv4: the kernel opens the tunnel's socket on 0.0.0.0 (or *).
        local = {line.split()[3] for line in ev.stdout.splitlines() if len(line.split()) >= 4}
        listening = bool(local & {f"0.0.0.0:{port}", f"*:{port}", f"[::]:{port}"})
        return Outcome(listening, f"udp/{port} {'listening' if listening else 'not listening'}", [ev])


class MtuCheck(PerCaseCheck):
    name = "mtu"
    proves = "the largest unfragmented packet the tunnel MTU allows passes; one byte more does not"

    def cases(self, lab: Lab) -> list[Case]:
        return _first_peer_cases(self.name, lab)

    def judge(self, ctx: Context, case: Case, t: Tunnel) -> Outcome:
        target = address(t, case.peer)  # type: ignore[arg-type]
        mtu = t.effective_mtu(ctx.lab.underlay.mtu)
        headers = 48 if t.kind.endpoint_family == 6 else 28  # IP + ICMP echo headers
        fits = mtu - headers
        wait = max(1, round(ctx.reply_timeout * 3))  # this one should get an answer
        ok = ctx.sh(case.host, f"ping -c 1 -W {wait} -M do -s {fits} {target}")
        big = ctx.sh(case.host, f"ping -c 1 -W {ctx.reply_timeout} -M do -s {fits + 1} {target}")
        passed = ok.rc == 0 and big.rc != 0
        if passed:
            summary = f"{fits}+{headers} bytes pass, {fits + 1}+{headers} are refused (MTU {mtu})"
        elif ok.rc != 0:
            summary = f"a {mtu}-byte packet with DF set did not get through"
        else:
            summary = f"a {mtu + 1}-byte packet passed: the MTU is larger than {mtu}"
        return Outcome(passed, summary, [ok, big])


def wire_filter(lab: Lab, host: str, peer: str, t: Tunnel) -> tuple[list[str], str, list[str]]:
    """tcpdump options, filter catching this host's encapsulated packets to `peer`, and text to
    expect (each tunnel type knows its own)."""
    return t.kind.wire_filter(lab, host, peer, t)


# Capture on the underlay while pinging the peer, and stop at the first packet whose inner
# header is that ping (or the ARP for it): other checks send traffic at the same time.
# tcpdump prints the outer header on one line and the inner one on the next, hence `prev`.
WIRE_SCRIPT = """d=$(mktemp -d); mkfifo "$d/p"
timeout 6 tcpdump -n -l -i {dev} {filter} >"$d/p" 2>"$d/err" & tp=$!
awk -v peer={peer} 'index($0, "> " peer ":") || index($0, "who-has " peer " ") || index($0, "who has " peer) \
  {{ print prev; print; found = 1; exit }} {{ prev = $0; if (n++ < 20) seen = seen $0 "\\n" }} \
  END {{ if (!found) printf "%s", seen }}' <"$d/p" >"$d/out" & ap=$!
i=0; while ! grep -q 'listening on' "$d/err" && [ $i -lt 200 ]; do sleep 0.01; i=$((i+1)); done
ping -c 3 -i 0.05 -W 1 {target} >/dev/null 2>&1
wait $ap; kill $tp 2>/dev/null; wait $tp 2>/dev/null
cat "$d/err" "$d/out"; rm -rf "$d"
"""
_TIMESTAMP = re.compile(r"^\d\d:\d\d:\d\d\.\d+ ")


def packets(tcpdump_output: str) -> list[str]:
    """tcpdump prints an encapsulated packet on several lines: join each packet into one."""
    out: list[str] = []
    for line in tcpdump_output.splitlines():
        if _TIMESTAMP.match(line):
            out.append(line)
        elif out and line.startswith((" ", "\t", "IP", "ARP", "IP6")):
            out[-1] += " " + line.strip()
    return out


class WireCheck(PerCaseCheck):
    name = "wire"
    proves = "a capture on the underlay during a ping shows the encapsulation"

    def cases(self, lab: Lab) -> list[Case]:
        return _first_peer_cases(self.name, lab)

    def judge(self, ctx: Context, case: Case, t: Tunnel) -> Outcome:
        options, bpf, expect = wire_filter(ctx.lab, case.host, case.peer, t)  # type: ignore[arg-type]
        target = address(t, case.peer)  # type: ignore[arg-type]
        cmd = WIRE_SCRIPT.format(
            dev=ctx.lab.underlay.interface,
            filter=" ".join([*options, shlex.quote(bpf)]),
            target=target,
            peer=shlex.quote(target),
        )
        ev = ctx.sh(case.host, cmd)
        seen = packets(ev.stdout)
        # The inner packet is the ping to the peer's tunnel address, or the ARP for it.
        expect = [*expect, target]
        good = [p for p in seen if all(e in p for e in expect)]
        if good:
            return Outcome(True, _TIMESTAMP.sub("", good[0])[:160], [ev])
        if not seen:
            return Outcome(False, f"no {t.type} packet from {case.host} seen on the underlay", [ev])
        return Outcome(False, f"packets seen, but without {' / '.join(expect)}", [ev])


def isolation_pairs(lab: Lab) -> list[tuple[str, Tunnel, Tunnel]]:
    """(host, its tunnel, another tunnel in an overlapping subnet the host is not on)."""
    out = []
    for host, mine in _host_tunnels(lab):
        net = ipaddress.ip_interface(mine.endpoints[host]).network
        for other in lab.tunnels:
            if other is mine or host in other.endpoints:
                continue
            nets = {ipaddress.ip_interface(a).network for a in other.endpoints.values()}
            if any(n.version == net.version and n.overlaps(net) for n in nets):
                out.append((host, mine, other))
    return out


class IsolationCheck(PerCaseCheck):
    name = "isolation"
    proves = "hosts on different VNIs cannot reach each other, even in the same subnet"

    def cases(self, lab: Lab) -> list[Case]:
        return [
            Case(self.name, h, f"{h} {mine.name}-/->{other.name}", mine.name, other.name)
            for h, mine, other in isolation_pairs(lab)
        ]

    def judge(self, ctx: Context, case: Case, t: Tunnel) -> Outcome:
        other = ctx.tunnels[case.peer]  # type: ignore[index]
        targets = [address(other, h) for h in other.endpoints]
        alive, ev = ping_many(ctx, case.host, targets, expect_reply=False)
        leaks = [a for a, ok in alive.items() if ok]
        if leaks:
            return Outcome(False, f"reaches {', '.join(leaks)} on {other.name}", [ev])
        return Outcome(True, f"none of {other.name}'s {len(targets)} addresses reply", [ev])


# In the order the report lists them (they run side by side; each makes the traffic it needs).
CHECKS: dict[str, Check] = {
    c.name: c
    for c in (
        PingCheck(), ParamsCheck(), MaddrCheck(), FdbCheck(), SocketCheck(), MtuCheck(), WireCheck(),
        IsolationCheck(),
    )
}
assert set(CHECKS) == set(ALL_CHECKS)


def plan(lab: Lab, only: list[str] | None = None) -> list[Case]:
    wanted = only or lab.checks or list(CHECKS)
    return [case for name in CHECKS if name in wanted for case in CHECKS[name].cases(lab)]


def render_evidence(evidence: list[Evidence]) -> str:
    return "\n".join(e.render() for e in evidence)
