"""wire: a capture on the underlay during a ping shows the encapsulation.

Each host captures once for all its tunnels that tcpdump decodes with the same options (VXLAN
needs `-T vxlan`, the rest none): tcpdump writes into a file while the host pings each peer,
and the script stops them all (by their PIDs) as soon as the file shows, for every peer, the
packet that proves the encapsulation (`needle`: the inner address, or the outer flow when
tcpdump does not decode the inner packet), or when the pings have ended; then it prints the
file, and all matching happens here in Python, per case, on that case's flow (`flow_of`).
tcpdump runs in immediate mode (by default libpcap hands packets over in blocks, up to a second
late) and is told to stop (TERM) but not waited for: every line it printed is in the file
already (-l), and closing its capture socket takes the kernel another 20-40 ms. (An earlier
version piped tcpdump into awk and waited for awk to see the packet: Debian's default mawk
reads a pipe in large blocks, so every capture waited for tcpdump's own timeout. A later one
ran a capture per tunnel: inside an emulated VM every process costs tens of milliseconds.)
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass

from netlab.macs import tenant_mac
from netlab.model import Lab, Tunnel
from netlab.verify.checks.base import Case, Check, Seen, first_peer_cases, host_tunnels
from netlab.verify.checks.tenant import tenant_probe
from netlab.verify.context import SCRATCH, Context, Outcome, Probe, address

# The capture file is removed, and tcpdump and the pings stopped, however the script ends; when
# it is interrupted (or `timeout` stops it), it also waits until tcpdump is gone. The files are
# polled with the shell's own `read` and `case`: a 64-host verify runs 64 of these side by
# side, and a grep per poll cost a third of their CPU.
WIRE_SCRIPT = """d=$({scratch}) || exit 1; tp=; pps=; ending=
stop() {{ for p in $pps $tp; do kill $p 2>/dev/null; done; }}
alive() {{ for p in $tp $ending; do kill -0 $p 2>/dev/null && return 0; done; return 1; }}
pinging() {{ for p in $pps; do kill -0 $p 2>/dev/null && return 0; done; return 1; }}
trap 'stop; rm -rf "$d"' EXIT
trap 'stop; i=0; while alive && [ $i -lt 100 ]; do sleep 0.01; i=$((i+1)); done; exit 143' HUP INT TERM
: >"$d/out"; : >"$d/err"
listening() {{ while read -r l; do case $l in "listening on"*) return 0;; esac; done <"$d/err"; return 1; }}
seen() {{ {reset}while read -r l; do {cases}done <"$d/out"; {all}; }}
tcpdump -n -l --immediate-mode -i {dev} {filter} >"$d/out" 2>"$d/err" & tp=$!
i=0; while ! listening && kill -0 $tp 2>/dev/null && [ $i -lt 400 ]; do sleep {poll}; i=$((i+1)); done
{pings}
while pinging && ! seen; do sleep {poll}; done
i=0; while ! seen && kill -0 $tp 2>/dev/null && [ $i -lt 20 ]; do sleep {poll}; i=$((i+1)); done
for p in $pps; do kill $p 2>/dev/null; wait $p 2>/dev/null; done; pps=
kill $tp 2>/dev/null; ending=$tp; tp=
head -q -n {lines} "$d/err" "$d/out"
"""
# Seconds the script spends besides the pings: tcpdump's start, then flushing and stopping it.
SCRIPT_OVERHEAD = 5.0
_TIMESTAMP = re.compile(r"^\d\d:\d\d:\d\d\.\d+ ")
_ADDRESS = re.compile(r"[0-9A-Fa-f.:]+")


@dataclass(frozen=True)
class Flow:
    """One case's part of a host's capture: what tcpdump catches of it, whom the host pings,
    and the `case` patterns of a line proving it."""

    bpf: str
    target: str
    needle: str
    via: str = ""  # what the ping runs under: `ip netns exec NS ` for a tenant's


def needle(inner: str | None, outer: str = "") -> str:
    """`case` patterns for a captured line proving the encapsulation: one where tcpdump names
    `inner` as an address (`who-has A tell`, `> A: ICMP`, `has A, length`), or, when tcpdump
    does not decode the inner packet, a packet of the case's flow (`outer`, a pattern of the
    outer header; any packet without one). Stricter than the judge, never looser: stopping at
    a wrong packet would fail the case, stopping late only costs time."""
    for text in re.findall(r'"([^"]*)"', outer):
        if not re.fullmatch(r"[0-9A-Za-z.:>\s]*", text):
            raise ValueError(f"not a part of a header: {text!r}")
    if inner is None:
        return f'[0-9][0-9]:[0-9][0-9]:[0-9][0-9].*{outer or ""}'
    if not _ADDRESS.fullmatch(inner):
        raise ValueError(f"not an address: {inner!r}")
    return f'*" {inner} "*|*" {inner}: "*|*" {inner},"*'


def outer_header(lab: Lab, host: str, peer: str, t: Tunnel) -> list[str]:
    """How tcpdump starts a packet of host's tunnel t to peer (after the timestamp): literal
    parts, with the UDP source port between them. A host's capture holds every tunnel's packets;
    `flow_of` (Python) and `outer_pattern` (the script) both read a flow from this."""
    return t.kind.wire_header(lab, host, peer, t)


def outer_pattern(lab: Lab, host: str, peer: str, t: Tunnel) -> str:
    """A `case` pattern of the outer header of host's packets of tunnel t to peer."""
    return '" ' + '"*"'.join(outer_header(lab, host, peer, t)) + '"*'


def capture_key(host: str, options: list[str], t: Tunnel) -> tuple[str, tuple[str, ...], str]:
    """Which capture of a host a case's packets are in: one per tcpdump options, or the tunnel's
    own when its filter cannot be or-ed with others (TunnelType.wire_alone)."""
    return host, tuple(options), t.name if t.kind.wire_alone else ""


def wire_script(dev: str, options: list[str], flows: list[Flow], wait: int, poll: float = 0.01) -> str:
    """The capture script for a host's flows that tcpdump decodes with the same `options`."""
    checks = "".join(f"case $l in {f.needle}) s{i}=1;; esac; " for i, f in enumerate(flows))
    return WIRE_SCRIPT.format(
        scratch=SCRATCH, dev=shlex.quote(dev),
        filter=" ".join([*options, shlex.quote(" or ".join(f"({f.bpf})" for f in flows))]),
        pings="\n".join(
            f"for a in {' '.join(shlex.quote(a) for a in dict.fromkeys(f.target for f in flows if f.via == via))}; "
            f'do {via}ping -c 3 -i 0.05 -W {wait} -w {wait} $a >/dev/null 2>&1 & pps="$pps $!"; done'
            for via in dict.fromkeys(f.via for f in flows)), poll=poll,
        reset="".join(f"s{i}=; " for i in range(len(flows))), cases=checks,
        all=" && ".join(f'[ -n "$s{i}" ]' for i in range(len(flows))), lines=200 * len(flows))


def expectations(lab: Lab, host: str, peer: str, t: Tunnel) -> tuple[list[str], str, list[str], str | None]:
    """tcpdump options, filter, the texts a packet must show, and the inner address it must
    mention (the ping to the peer's tunnel address, or the ARP for it) when tcpdump decodes the
    inner packet: only where the type's marker is expected. A type on a port tcpdump does not
    know (GENEVE off 6081) shows as plain UDP, without its inner packet."""
    options, bpf, expect = t.kind.wire_filter(lab, host, peer, t)
    inner = address(t, peer) if t.kind.wire_marker.strip() in expect else None
    return options, bpf, expect, inner


def packets(tcpdump_output: str) -> list[str]:
    """tcpdump prints an encapsulated packet on several lines: join each packet into one."""
    out: list[str] = []
    for line in tcpdump_output.splitlines():
        if _TIMESTAMP.match(line):
            out.append(line)
        elif out and line.startswith((" ", "\t", "IP", "ARP", "IP6")):
            out[-1] += " " + line.strip()
    return out


def mentions(text: str, addr: str) -> bool:
    """Whether `addr` occurs in text as a whole address (10.0.1.2 is not in 10.0.1.23)."""
    return re.search(rf"(?<![0-9A-Fa-f.:]){re.escape(addr)}(?![0-9A-Fa-f]|[.:][0-9A-Fa-f])", text) is not None


def first_match(seen: list[str], expect: list[str], inner: str | None) -> str | None:
    """The first packet showing every expected text and, when tcpdump decodes the inner packet,
    the inner address `inner` (the ping to the peer, or the ARP for it); without timestamp."""
    for p in seen:
        if all(e in p for e in expect) and (inner is None or mentions(p, inner)):
            return _TIMESTAMP.sub("", p)
    return None


def flow_of(lab: Lab, host: str, peer: str, t: Tunnel) -> re.Pattern[str]:
    """What a packet of host's tunnel t to peer starts with, without its timestamp."""
    return re.compile(r"\d+".join(re.escape(part) for part in outer_header(lab, host, peer, t)))


def flow_packets(output: str, flow: re.Pattern[str] | None) -> list[str]:
    """The captured packets (all of them without a `flow`)."""
    return [p for p in packets(output) if flow is None or flow.match(_TIMESTAMP.sub("", p))]


def judge_capture(output: str, expect: list[str], inner: str | None, what: str, host: str,
                  flow: re.Pattern[str] | None = None) -> tuple[bool, str]:
    """Pass when a captured packet (of `flow`, when given) matches; else say whether any of
    the flow's packets was seen at all."""
    return judge_packets(flow_packets(output, flow), expect, inner, what, host)


def judge_packets(seen: list[str], expect: list[str], inner: str | None, what: str, host: str) -> tuple[bool, str]:
    good = first_match(seen, expect, inner)
    if good is not None:
        return True, good[:160]
    if not seen:
        return False, f"no {what} packet from {host} seen on the underlay"
    return False, f"packets seen, but without {' / '.join([*expect, *([inner] if inner else [])])}"


# -- tenants' traffic -----------------------------------------------------------------------------
# A tenant pings a tenant on another host from its namespace; tcpdump prints link headers (-e),
# so the inner frame shows the tenant's own MAC: two tenants of different VNIs may share an
# address (tenants.yml), never a MAC, and a host's capture holds both at once.


def tenant_wire_cases(name: str, lab: Lab) -> list[Case]:
    """Per host and bridged tunnel: its first tenant towards the first tenant on another host."""
    out = []
    for host, t in host_tunnels(lab):
        mine = list(lab.tenants_of(t.name, host))
        remote = [n for n, tn in lab.tenants_of(t.name).items() if tn.host != host]
        if t.bridge and mine and remote:
            dst = lab.tenants[remote[0]]
            out.append(Case(name, host, f"{mine[0]}->{remote[0]} {t.name}", t.name, dst.host,
                            tenant=mine[0], peer_tenant=remote[0]))
    return out


def tenant_expectations(lab: Lab, case: Case, t: Tunnel) -> tuple[list[str], str, list[str]]:
    """tcpdump options (with -e), the filter, and the texts one packet must show: the type's
    marker and identifier (`vni 100`), and the tenant's MAC as the inner frame's source."""
    options, bpf, expect = t.kind.wire_filter(lab, case.host, case.peer, t)  # type: ignore[arg-type]
    # The outer destination may be a group (a flooded ARP) or the peer: any packet this host sends.
    bpf = bpf.split(" and dst host ")[0]
    # With -e tcpdump writes the outer header as "ethertype IPv4 (0x0800), length N: A.P > B.P".
    expect = [e for e in expect if not e.startswith("IP ")] + [f"{tenant_mac(case.tenant)} > "]  # type: ignore[arg-type]
    return ["-e", *options], bpf, expect


def frames(tcpdump_output: str) -> list[str]:
    """tcpdump -e's packets, each joined into one line (the inner frame starts with a MAC)."""
    out: list[str] = []
    for line in tcpdump_output.splitlines():
        if _TIMESTAMP.match(line):
            out.append(line)
        elif out and line.strip():
            out[-1] += " " + line.strip()
    return out


def tenant_needle(mac: str, target: str) -> str:
    """`case` patterns of the inner frame's line (one line with -e) from the tenant's MAC that
    names the target: its ping (`> A: ICMP`) or its ARP (`who-has A tell`)."""
    if not _ADDRESS.fullmatch(target) or not re.fullmatch(r"[0-9a-f:]{17}", mac):
        raise ValueError(f"not a MAC and an address: {mac!r} {target!r}")
    return f'*"{mac} > "*" {target}: "*|*"{mac} > "*" {target} "*'


def judge_tenant_frames(output: str, expect: list[str], tenant: str, target: str) -> tuple[bool, str]:
    """Pass when a frame from the tenant's MAC about `target` shows every expected text (the
    marker, `vni N`); else say what its frames lacked."""
    mine = [f for f in frames(output) if expect[-1] in f and mentions(f, target)]
    good = next((f for f in mine if all(e in f for e in expect)), None)
    if good is not None:
        start = good.find(expect[0]) if expect[0] in good else 0
        return True, good[start:start + 200]
    if not mine:
        return False, f"no frame from {tenant} to {target} seen on the underlay"
    wrong = re.search(r"vni \d+", mine[0])
    return False, (f"{tenant}'s frames to {target} seen, but without {' / '.join(expect[:-1])}"
                   + (f" (they carry {wrong.group(0)})" if wrong else ""))


class WireCheck(Check):
    name = "wire"
    proves = "a capture on the underlay during a ping shows the encapsulation"

    def cases(self, lab: Lab) -> list[Case]:
        return first_peer_cases(self.name, lab) + tenant_wire_cases(self.name, lab)

    def _flow(self, ctx: Context, case: Case) -> tuple[tuple[str, ...], Flow]:
        """The case's tcpdump options and its flow in the host's capture."""
        t = ctx.tunnels[case.tunnel]  # type: ignore[index]
        if case.tenant is not None:
            options, bpf, _ = tenant_expectations(ctx.lab, case, t)
            target = str(ctx.lab.tenants[case.peer_tenant].interface.ip)  # type: ignore[index]
            via = f"ip netns exec {shlex.quote(ctx.tenant_ns(case.tenant))} "
            return tuple(options), Flow(bpf, target, tenant_needle(tenant_mac(case.tenant), target), via)
        options, bpf, _, inner = expectations(ctx.lab, case.host, case.peer, t)  # type: ignore[arg-type]
        outer = outer_pattern(ctx.lab, case.host, case.peer, t)  # type: ignore[arg-type]
        return tuple(options), Flow(bpf, address(t, case.peer), needle(inner, outer))  # type: ignore[arg-type]

    def _captures(self, ctx: Context) -> dict[tuple[str, tuple[str, ...], str], Probe]:
        """Every host's captures, built once per verify: one for all of a host's cases whose
        packets tcpdump decodes with the same options."""
        known, captures = ctx.recall("wire captures")
        if known:
            return captures  # type: ignore[no-any-return]
        flows: dict[tuple[str, tuple[str, ...], str], list[Flow]] = {}
        for case in self.cases(ctx.lab):
            t = ctx.tunnels[case.tunnel]  # type: ignore[index]
            options, flow = self._flow(ctx, case)
            flows.setdefault(capture_key(case.host, list(options), t), []).append(flow)
        wait = max(2, math.ceil(ctx.reply_timeout * 3))
        poll = 0.01 if ctx.reply_timeout < 1 else 0.05  # a poll is a process: dear inside a VM
        # Tenants' captures (-e) run after the tenants' own pings (stage 1): their neighbours are
        # known by then, and a big lab's storm of first ARPs is over (a lost ARP lost the frame).
        captures = {key: Probe(wire_script(ctx.lab.underlay.interface, list(key[1]), mine, wait, poll),
                               wait + SCRIPT_OVERHEAD + 20 * poll, stage=int("-e" in key[1]), self_bounded=True)
                    for key, mine in flows.items()}
        ctx.remember("wire captures", captures)
        return captures

    def probes(self, ctx: Context, case: Case) -> list[tuple[str, Probe]]:
        t = ctx.tunnels[case.tunnel]  # type: ignore[index]
        options, _ = self._flow(ctx, case)
        warm = [(case.host, tenant_probe(ctx, case.tenant))] if case.tenant is not None else []
        return [*warm, (case.host, self._captures(ctx)[capture_key(case.host, list(options), t)])]

    def judge(self, ctx: Context, case: Case, seen: Seen) -> Outcome:
        t = ctx.tunnels[case.tunnel]  # type: ignore[index]
        if case.tenant is not None:
            return self.judge_tenant(ctx, case, seen, t)
        options, bpf, expect, inner = expectations(ctx.lab, case.host, case.peer, t)  # type: ignore[arg-type]
        ev = seen[(case.host, self.probes(ctx, case)[0][1])]
        mine = flow_packets(ev.stdout, flow_of(ctx.lab, case.host, case.peer, t))  # type: ignore[arg-type]
        passed, summary = judge_packets(mine, expect, inner, t.type, case.host)
        excerpt = "\n".join(mine[:3]) if mine else ev.output.strip()[-400:]
        label = (f"tcpdump -n -i {ctx.lab.underlay.interface} {' '.join([*options, repr(bpf)])} during "
                 f"ping -c 3 {address(t, case.peer)}   (the script: -v)")  # type: ignore[arg-type]
        return Outcome(passed, summary, [ev.brief(excerpt, label)])

    def judge_tenant(self, ctx: Context, case: Case, seen: Seen, t: Tunnel) -> Outcome:
        options, bpf, expect = tenant_expectations(ctx.lab, case, t)
        ev = seen[(case.host, self.probes(ctx, case)[-1][1])]
        target = str(ctx.lab.tenants[case.peer_tenant].interface.ip)  # type: ignore[index]
        passed, summary = judge_tenant_frames(ev.stdout, expect, str(case.tenant), target)
        mine = [f for f in frames(ev.stdout) if expect[-1] in f]
        excerpt = "\n".join(mine[:3]) if mine else ev.output.strip()[-400:]
        label = (f"tcpdump -n -i {ctx.lab.underlay.interface} {' '.join([*options, repr(bpf)])} during "
                 f"ping -c 3 {target} in {case.tenant}   (the script: -v)")
        return Outcome(passed, summary, [ev.brief(excerpt, label)])
