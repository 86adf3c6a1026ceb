"""`netlab capture`: tcpdump on the underlay, printing outer and inner headers (or a pcap)."""

from __future__ import annotations

import ipaddress
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from netlab.errors import NetlabError
from netlab.model import Lab
from netlab.providers.base import Provider
from netlab.render.tenants import TENANT_IFNAME


def default_filter(lab: Lab) -> list[str]:
    """Everything but IPv6 noise: outer IPv6 (the machines' own), and inner IPv6 of the Ethernet
    tunnels (router solicitations and MLD reports each tunnel device sends when it comes up)."""
    inner = dict.fromkeys(f for t in lab.tunnels if (f := t.kind.inner_ipv6_filter(t)))
    return " and ".join(["not ip6", *(f"not {f}" for f in inner)]).split()


def ping_target(lab: Lab, source: str, target: str) -> str:
    """`target` as an address `source` can ping: an IP as given, or a host's address on a tunnel
    both are on (its underlay address when they share none)."""
    if source in lab.tenants:
        return tenant_ping_target(lab, source, target)
    if source not in lab.hosts:
        raise NetlabError(f"--ping: lab {lab.name} has no host {source!r}",
                          hint=f"hosts: {', '.join(lab.hosts)}; tenants: {', '.join(lab.tenants) or 'none'}")
    if target == source:
        other = next((h for h in lab.hosts if h != source), "HOST")
        raise NetlabError(f"--ping {source} {target}: a host pinging itself sends nothing over the underlay",
                          hint=f"ping another host: --ping {source} {other}")
    try:
        return str(ipaddress.ip_address(target))
    except ValueError:
        pass
    if target not in lab.hosts:
        raise NetlabError(f"--ping: {target!r} is neither a host of lab {lab.name} nor an IP address",
                          hint=f"hosts: {', '.join(lab.hosts)}")
    # A tunnel on which both have an address (a bridged tunnel's endpoints may have none).
    shared = next((t for t in lab.tunnels if source in t.addresses and target in t.addresses), None)
    return str(shared.interface(target).ip) if shared else lab.hosts[target].ip


def tenant_ping_target(lab: Lab, source: str, target: str) -> str:
    """`target` as tenant `source` pings it: an IP as given, or another tenant of its tunnel."""
    try:
        return str(ipaddress.ip_address(target))
    except ValueError:
        pass
    peers = [n for n in lab.tenants_of(lab.tenants[source].tunnel) if n != source]
    if target not in peers:
        raise NetlabError(f"--ping {source} {target}: {target!r} is not another tenant of {source}'s tunnel "
                          f"{lab.tenants[source].tunnel} nor an IP address",
                          hint=f"its tunnel's tenants: {', '.join(peers) or 'none'}")
    return str(lab.tenants[target].interface.ip)


def tenant_capture_argv(provider: Provider, tenant: str, tcpdump: list[str], filter_words: list[str],
                        segment: str | None) -> list[str]:
    """tcpdump on a tenant's eth0, inside its namespace: the inner frames as the tenant sends
    them, before its host's VTEP encapsulates them."""
    if segment is not None:
        raise NetlabError(f"--host {tenant} is a tenant: it is on no underlay segment",
                          hint=f"drop --segment, or capture on its host: --host {provider.lab.tenants[tenant].host}")
    return provider.host_argv(tenant, [*tcpdump, "-i", TENANT_IFNAME, *(filter_words or ["not", "ip6"])])


def capture_argv(
    provider: Provider, host: str | None, count: int | None, pcap: bool, filter_words: list[str],
    segment: str | None = None,
) -> list[str]:
    """tcpdump's command line; `count` None: until it is stopped (a pcap for Wireshark)."""
    lab = provider.lab
    if count is not None and count < 1:
        raise NetlabError("--count must be at least 1")
    if host is not None and host not in lab.nodes:
        raise NetlabError(f"lab {lab.name} has no host {host!r}", hint=f"hosts: {', '.join(lab.nodes)}")
    if segment is not None and segment not in lab.underlay.networks:
        raise NetlabError(f"lab {lab.name} has no underlay segment {segment!r}",
                          hint=f"segments: {', '.join(lab.underlay.networks)}")
    # -n: numbers, not names; -e: MACs, so learned fdb entries can be matched to frames;
    # -l: line-buffered, so output appears as packets arrive; -U: each packet written at once.
    tcpdump = ["tcpdump", "-n", "-e", "-l", *(["-c", str(count)] if count is not None else [])]
    tcpdump += ["-U", "-w", "-"] if pcap else ["-v"]
    if host is not None and host in lab.tenants:
        return tenant_capture_argv(provider, host, tcpdump, filter_words, segment)
    words = filter_words or default_filter(lab)
    segment_bridge = getattr(provider, "segment_bridge", None)
    if host is None and segment_bridge is not None:
        # netns: the switch sees every machine of a segment at once.
        bridge = segment_bridge(segment or next(iter(lab.underlay.networks)))
        return provider.switch_argv([*tcpdump, "-i", bridge, *words])  # type: ignore[attr-defined]
    machine, nic = _machine_on(lab, host, segment)
    return provider.host_argv(machine, [*tcpdump, "-i", nic, *words])


def _machine_on(lab: Lab, host: str | None, segment: str | None) -> tuple[str, str]:
    """Where to capture: the host's underlay NIC, or a router's NIC on `segment`, or a host's."""
    if host is not None and host in lab.routers:
        nics = lab.router_nics(host)
        return host, nics[segment] if segment in nics else next(iter(nics.values()))
    if host is not None:
        return host, lab.underlay.interface
    for router in lab.routers:  # a router sees every segment it joins
        if segment in lab.router_nics(router):
            return router, lab.router_nics(router)[segment]
    on_segment = [h for h, spec in lab.hosts.items() if segment is None or lab.underlay.segment_of(spec.ip) == segment]
    return (on_segment or list(lab.hosts))[0], lab.underlay.interface


def nothing_captured(lab: str, filter_words: list[str], ping: tuple[str, str] | None) -> NetlabError:
    """What to say when tcpdump saw none of what it was asked to show (an empty capture is a
    failed demonstration, not a success)."""
    what = f"no packet matching `{' '.join(filter_words)}`" if filter_words else "no packet"
    if ping is not None:
        return NetlabError(f"0 packets captured: {what} crossed while {ping[0]} pinged {ping[1]}",
                           hint=f"is the overlay working (netlab verify {lab})? or widen the filter "
                                "(without one, everything but IPv6 noise is shown)")
    return NetlabError(f"0 packets captured: {what} crossed while tcpdump ran",
                       hint="make traffic while capturing (--ping SRC DST), or widen the filter")


# How long tcpdump may take to start listening (ssh to an emulated VM, a loaded machine), and how
# long the capture goes on once the ping is over (its last replies still on their way).
LISTEN_SECONDS = 60.0
AFTER_PING_SECONDS = 2.0
_CAPTURED = re.compile(rb"^(\d+) packets? captured")


@dataclass
class Captured:
    code: int  # tcpdump's exit status (0 also when netlab stopped it)
    packets: int | None  # how many packets tcpdump says it captured (None: it did not say)
    listening: bool  # tcpdump said it was listening


def run_capture(argv: list[str], sink: IO[bytes] | int | None, pinger: list[str] | None,
                say: Callable[[str], None] = lambda _: None,
                attach: Callable[[subprocess.Popen[bytes]], Callable[[], None]] | None = None) -> Captured:
    """Run tcpdump (`argv`), its packets to `sink` (None: standard output; subprocess.PIPE: to
    whatever `attach` starts reading them, whose returned callable runs once tcpdump has ended,
    before its pipes close) and its messages to standard error; with `pinger`, make the traffic:
    the ping starts once tcpdump says it is listening (a fixed wait missed the first packets on a
    loaded machine: the ARP request a lesson shows), and the capture ends when tcpdump has its -c
    packets or soon after the ping ends."""
    wake = threading.Event()  # tcpdump listens, or is gone
    heard: dict[str, int] = {}  # "listening": 1 once it said so; "packets": what it said it captured
    with subprocess.Popen(argv, stdout=sink, stderr=subprocess.PIPE) as proc:
        assert proc.stderr is not None
        reader = threading.Thread(target=_relay, args=(proc.stderr, wake, heard), daemon=True)
        reader.start()
        finish = attach(proc) if attach is not None else None
        try:
            if pinger is not None:
                if _until_listening(proc, wake, heard):
                    say(" ".join(pinger))
                    _ping_while(proc, pinger)
                elif proc.poll() is None:
                    proc.terminate()  # it never listened: a ping now would show nothing either
            code = proc.wait()
        except KeyboardInterrupt:  # Ctrl-C: tcpdump got it too and prints what it captured
            code = _stop(proc)
        if finish is not None:
            finish()
        reader.join(timeout=5)
    return Captured(0 if code in (0, -15) else code, heard.get("packets"), "listening" in heard)


def _relay(stream: IO[bytes], wake: threading.Event, heard: dict[str, int]) -> None:
    """tcpdump's standard error to ours, line by line, noting "listening on" and its count."""
    for line in stream:
        sys.stderr.buffer.write(line)
        sys.stderr.flush()
        if b"listening on" in line:
            heard["listening"] = 1
            wake.set()
        elif (m := _CAPTURED.match(line.strip())) is not None:
            heard["packets"] = int(m[1])
    wake.set()  # tcpdump is gone: nobody waits for it any longer


def _until_listening(proc: subprocess.Popen[bytes], wake: threading.Event, heard: dict[str, int]) -> bool:
    """Wait until tcpdump listens; False when it ended (or never listened) instead."""
    wake.wait(LISTEN_SECONDS)
    return proc.poll() is None and "listening" in heard


def _ping_while(proc: subprocess.Popen[bytes], pinger: list[str]) -> None:
    """Ping until tcpdump has its packets (then the ping stops) or the ping ends (then tcpdump
    gets AFTER_PING_SECONDS more, and is stopped)."""
    with subprocess.Popen(pinger, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as ping:
        while proc.poll() is None and ping.poll() is None:
            time.sleep(0.02)
        if ping.poll() is None:
            ping.terminate()
        try:
            proc.wait(timeout=AFTER_PING_SECONDS)
        except subprocess.TimeoutExpired:
            proc.terminate()  # fewer packets than -c: the ping is over, so is the capture


def _stop(proc: subprocess.Popen[bytes]) -> int:
    try:
        return proc.wait(timeout=5)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        proc.terminate()
        return proc.wait()
