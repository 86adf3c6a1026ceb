"""wire: a capture on the underlay during a ping shows the encapsulation.

The host captures into a file while it pings the peer and stops both (by their PIDs) as soon
as the file shows the packet that proves the encapsulation (`needle`: the inner address, or
any packet when tcpdump does not decode the inner one), or when the ping has ended; then it
prints the file, and all matching happens here in Python. tcpdump runs in immediate mode (by
default libpcap hands packets over in blocks, up to a second late) and is told to stop (TERM)
but not waited for: every line it printed is in the file already (-l), and closing its capture
socket takes the kernel another 20-40 ms. (An earlier version piped tcpdump into awk and
waited for awk to see the packet: Debian's default mawk reads a pipe in large blocks, so every
capture waited for tcpdump's own timeout.)
"""

from __future__ import annotations

import math
import re
import shlex

from netlab.model import Lab, Tunnel
from netlab.verify.checks.base import Case, Check, Seen, first_peer_cases
from netlab.verify.context import SCRATCH, Context, Outcome, Probe, address

# The capture file is removed, and tcpdump and ping stopped, however the script ends; when it
# is interrupted (or `timeout` stops it), it also waits until tcpdump is gone. The files are
# polled with the shell's own `read` and `case`: a 64-host verify runs 64 of these side by
# side, and a grep per poll cost a third of their CPU.
WIRE_SCRIPT = """d=$({scratch}) || exit 1; tp=; pp=; ending=
stop() {{ for p in $pp $tp; do kill $p 2>/dev/null; done; }}
alive() {{ for p in $tp $ending; do kill -0 $p 2>/dev/null && return 0; done; return 1; }}
trap 'stop; rm -rf "$d"' EXIT
trap 'stop; i=0; while alive && [ $i -lt 100 ]; do sleep 0.01; i=$((i+1)); done; exit 143' HUP INT TERM
: >"$d/out"; : >"$d/err"
listening() {{ while read -r l; do case $l in "listening on"*) return 0;; esac; done <"$d/err"; return 1; }}
seen() {{ while read -r l; do case $l in {needle}) return 0;; esac; done <"$d/out"; return 1; }}
tcpdump -n -l --immediate-mode -i {dev} {filter} >"$d/out" 2>"$d/err" & tp=$!
i=0; while ! listening && kill -0 $tp 2>/dev/null && [ $i -lt 400 ]; do sleep 0.005; i=$((i+1)); done
ping -c 3 -i 0.05 -W {wait} -w {wait} {target} >/dev/null 2>&1 & pp=$!
while kill -0 $pp 2>/dev/null && ! seen; do sleep 0.01; done
i=0; while ! seen && kill -0 $tp 2>/dev/null && [ $i -lt 20 ]; do sleep 0.01; i=$((i+1)); done
kill $pp 2>/dev/null; wait $pp 2>/dev/null; pp=
kill $tp 2>/dev/null; ending=$tp; tp=
head -q -n 200 "$d/err" "$d/out"
"""
# Seconds the script spends besides the ping: tcpdump's start, then flushing and stopping it.
SCRIPT_OVERHEAD = 5.0
_TIMESTAMP = re.compile(r"^\d\d:\d\d:\d\d\.\d+ ")
_ADDRESS = re.compile(r"[0-9A-Fa-f.:]+")


def needle(inner: str | None) -> str:
    """`case` patterns for a captured line proving the encapsulation: one where tcpdump names
    `inner` as an address (`who-has A tell`, `> A: ICMP`, `has A, length`), or, when tcpdump
    does not decode the inner packet, any packet line. Stricter than `mentions`, never looser:
    stopping at a wrong packet would fail the case, stopping late only costs time."""
    if inner is None:
        return "[0-9][0-9]:[0-9][0-9]:[0-9][0-9].*"  # a packet's timestamp
    if not _ADDRESS.fullmatch(inner):
        raise ValueError(f"not an address: {inner!r}")
    return f'*" {inner} "*|*" {inner}: "*|*" {inner},"*'


def wire_script(dev: str, options: list[str], bpf: str, target: str, wait: int, inner: str | None = None) -> str:
    return WIRE_SCRIPT.format(dev=shlex.quote(dev), filter=" ".join([*options, shlex.quote(bpf)]),
                              target=shlex.quote(target), wait=wait, needle=needle(inner),
                              scratch=SCRATCH)


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


def judge_capture(output: str, expect: list[str], inner: str | None, what: str, host: str) -> tuple[bool, str]:
    """Pass when a captured packet matches; else say whether anything was seen at all."""
    seen = packets(output)
    good = first_match(seen, expect, inner)
    if good is not None:
        return True, good[:160]
    if not seen:
        return False, f"no {what} packet from {host} seen on the underlay"
    return False, f"packets seen, but without {' / '.join([*expect, *([inner] if inner else [])])}"


class WireCheck(Check):
    name = "wire"
    proves = "a capture on the underlay during a ping shows the encapsulation"

    def cases(self, lab: Lab) -> list[Case]:
        return first_peer_cases(self.name, lab)

    def probes(self, ctx: Context, case: Case) -> list[tuple[str, Probe]]:
        t = ctx.tunnels[case.tunnel]  # type: ignore[index]
        options, bpf, _, inner = expectations(ctx.lab, case.host, case.peer, t)  # type: ignore[arg-type]
        target = address(t, case.peer)  # type: ignore[arg-type]
        wait = max(2, math.ceil(ctx.reply_timeout * 3))
        cmd = wire_script(ctx.lab.underlay.interface, options, bpf, target, wait, inner)
        return [(case.host, Probe(cmd, wait + SCRIPT_OVERHEAD))]

    def judge(self, ctx: Context, case: Case, seen: Seen) -> Outcome:
        t = ctx.tunnels[case.tunnel]  # type: ignore[index]
        _, _, expect, inner = expectations(ctx.lab, case.host, case.peer, t)  # type: ignore[arg-type]
        ev = seen[(case.host, self.probes(ctx, case)[0][1])]
        passed, summary = judge_capture(ev.stdout, expect, inner, t.type, case.host)
        seen_packets = packets(ev.stdout)
        excerpt = "\n".join(seen_packets[:3]) if seen_packets else ev.output.strip()[-400:]
        options, bpf, _, _ = expectations(ctx.lab, case.host, case.peer, t)  # type: ignore[arg-type]
        label = (f"tcpdump -n -i {ctx.lab.underlay.interface} {' '.join([*options, repr(bpf)])} during "
                 f"ping -c 3 {address(t, case.peer)}   (the script: -v)")  # type: ignore[arg-type]
        return Outcome(passed, summary, [ev.brief(excerpt, label)])
