"""Benchmark of tenants on the netns provider: `up` of 64 VTEPs x 4 tenants beside a raw
`ip -batch` floor of the same devices, and the time to check that every tenant reaches every
other tenant of its VNI.

Run as root:  .venv/bin/python bench/bench_tenants.py [--hosts 64] [--vnis 4] [--repeat 3]
Prints a Markdown table (paste it into docs/performance.md) and where `up` spends its processes.

The lab: HOSTS VTEPs on one /16 underlay, VNIS multicast VXLAN tunnels (VNI 100, 101, ...), each
with a bridge on every VTEP and one tenant per VTEP (HOSTS x VNIS tenants; every VNI reuses the
same tenant addresses 10.100.0.0/24, as labs/tenants.yml does). The floor builds the same
namespaces, switch, bridges, VXLAN devices, veths, MACs and addresses with hand-written batches:
one `ip -batch` for the namespaces, one for the switch, one per host, one per tenant.

The tenant check: netlab's `tenant` check when netlab has it; otherwise (said in the output) the
same work by hand: from every tenant one fping to every other tenant of its VNI, 16 at a time.
"""

from __future__ import annotations

import argparse
import collections
import ipaddress
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from netlab.lifecycle import down, open_lab, up
from netlab.verify.checks import CHECKS, plan
from netlab.verify.context import Context

UNDERLAY = ipaddress.IPv4Network("10.77.0.0/16")
TENANT_NET = ipaddress.IPv4Network("10.100.0.0/24")


def quiet(_: str) -> None:
    pass


def tenant_lab(hosts: int, vnis: int) -> dict[str, Any]:
    names = [f"h{i}" for i in range(hosts)]
    return {
        "name": f"btn-{hosts}x{vnis}",
        "title": f"{hosts} VTEPs x {vnis} tenants",
        "underlay": {"name": "bench", "subnet": str(UNDERLAY)},
        "hosts": {h: {"ip": str(UNDERLAY[i + 1])} for i, h in enumerate(names)},
        "tunnels": [{"name": f"vxlan{100 + k}", "type": "vxlan", "vni": 100 + k, "group": f"239.255.0.{k + 1}",
                     "ttl": 5, "bridge": f"br{100 + k}", "endpoints": {h: None for h in names}}
                    for k in range(vnis)],
        "tenants": {f"t{k}h{i}": {"host": h, "tunnel": f"vxlan{100 + k}", "ip": f"{TENANT_NET[i + 1]}/24"}
                    for k in range(vnis) for i, h in enumerate(names)},
    }


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def ip_batch(lines: list[str], *options: str) -> None:
    subprocess.run(["ip", *options, "-batch", "-"], input="\n".join(lines) + "\n", text=True, check=True)


def mac(kind: int, a: int, b: int) -> str:
    return f"52:54:{kind:02x}:{a // 256:02x}:{a % 256:02x}:{b:02x}"


def raw_floor(hosts: int, vnis: int) -> tuple[float, float]:
    """The lab's devices with bare `ip -batch`, no reading back: what `up` cannot beat."""
    names = [f"rawt.h{i}" for i in range(hosts)]
    tenants = {(k, i): f"rawt.t{k}h{i}" for k in range(vnis) for i in range(hosts)}
    switch = "rawt._sw"
    every = [switch, *names, *tenants.values()]

    def build() -> None:
        ip_batch([f"netns add {n}" for n in every])
        lines = ["link add br0 type bridge mcast_snooping 0", "link set br0 up"]
        for i, n in enumerate(names):
            lines += [f"link add p{i} type veth peer name enp0s8 netns {n}", f"link set p{i} master br0 up"]
        ip_batch(lines, "-n", switch)
        for i, n in enumerate(names):
            lines = ["link set lo up", "link set enp0s8 mtu 1500", f"addr add {UNDERLAY[i + 1]}/16 dev enp0s8",
                     "link set enp0s8 up"]
            for k in range(vnis):
                vx, br = f"vxlan{100 + k}", f"br{100 + k}"
                lines += [f"link add {vx} type vxlan id {100 + k} group 239.255.0.{k + 1} ttl 5 dstport 4789 "
                          f"dev enp0s8", f"link set {vx} address {mac(1, i, k)}",
                          f"link add {br} type bridge", f"link set {br} address {mac(2, i, k)} mtu 1450",
                          f"link set {vx} master {br}", f"link set {vx} up", f"link set {br} up",
                          f"link add ve-t{k}h{i} mtu 1450 type veth peer name eth0 address {mac(3, i, k)} "
                          f"mtu 1450 netns {tenants[k, i]}", f"link set ve-t{k}h{i} master {br} up"]
            ip_batch(lines, "-n", n)
        for (_, i), t in tenants.items():
            ip_batch([f"addr add {TENANT_NET[i + 1]}/24 dev eth0", "link set eth0 up", "link set lo up"], "-n", t)

    def teardown() -> None:
        ip_batch([f"netns del {n}" for n in every])

    return timed(build), timed(teardown)


@contextmanager
def counting_processes() -> Iterator[dict[str, list[float]]]:
    """The processes `up` starts, by what they are (the namespace names left out): the seconds
    of each (summed over netlab's parallel workers, so more than the wall clock)."""
    counts: dict[str, list[float]] = collections.defaultdict(list)
    original = subprocess.run

    def run(argv: Any, *args: Any, **kwargs: Any) -> Any:
        words = [w for w in argv if isinstance(w, str)] if isinstance(argv, list) else [str(argv)]
        shape = []
        skip = False
        for w in words:
            if skip:
                shape.append("NS")
                skip = False
                continue
            shape.append(w)
            skip = w in ("-n", "exec")
        start = time.perf_counter()
        try:
            return original(argv, *args, **kwargs)
        finally:
            counts[" ".join(shape[:7])].append(time.perf_counter() - start)

    subprocess.run = run  # type: ignore[assignment]
    try:
        yield counts
    finally:
        subprocess.run = original  # type: ignore[assignment]


def tenant_reachability(session: Any) -> tuple[float, int, int, str]:
    """(seconds, passed, of how many, how): netlab's `tenant` check (its cases) if it exists, else an
    fping from every tenant to every other tenant of its VNI (16 at a time, as the checks run)."""
    lab, provider = session.lab, session.provider
    if "tenant" in CHECKS:
        cases = plan(lab, ["tenant"])
        ctx = Context(lab, provider)
        start = time.perf_counter()
        outcomes = CHECKS["tenant"].run(ctx, cases)  # {case: outcome}
        seconds = time.perf_counter() - start
        passed = sum(1 for o in outcomes.values() if o.passed)
        return seconds, passed, len(outcomes), "netlab's tenant check (cases passed / cases)"
    by_tunnel: dict[str, list[str]] = collections.defaultdict(list)
    for name, tenant in lab.tenants.items():
        by_tunnel[tenant.tunnel].append(name)

    def one(name: str) -> tuple[int, int]:
        peers = [str(lab.tenants[o].interface.ip) for o in by_tunnel[lab.tenants[name].tunnel] if o != name]
        argv = provider.host_argv(name, ["fping", "-a", "-i", "1", "-r", "1", "-t", "1000", *peers])
        out = subprocess.run(argv, capture_output=True, text=True, timeout=120).stdout
        return len(out.split()), len(peers)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(one, lab.tenants))
    seconds = time.perf_counter() - start
    return (seconds, sum(a for a, _ in answers), sum(n for _, n in answers),
            "no tenant check in netlab yet: one fping per tenant to every other tenant of its VNI")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=64)
    parser.add_argument("--vnis", type=int, default=4, help="tunnels, so tenants per VTEP")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    results: dict[str, list[float]] = collections.defaultdict(list)
    processes: dict[str, list[float]] = {}
    answered = pairs = 0
    how = ""
    with tempfile.TemporaryDirectory() as tmp:
        data = tenant_lab(args.hosts, args.vnis)
        path = Path(tmp) / f"{data['name']}.yml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        for run in range(args.repeat):
            session = open_lab(str(path), "netns")
            with counting_processes() as counts:
                results["up"].append(timed(lambda s=session: up(s, quiet)))
            if run == 0:
                processes = counts
            # A second `up` of the lab as it is: what reading the state back costs alone.
            results["up_again"].append(timed(lambda: up(open_lab(str(path), "netns"), quiet)))
            seconds, answered, pairs, how = tenant_reachability(session)
            results["tenants"].append(seconds)
            results["down"].append(timed(lambda s=session: down(s, quiet)))
            raw_up, raw_down = raw_floor(args.hosts, args.vnis)
            results["raw_up"].append(raw_up)
            results["raw_down"].append(raw_down)
    r = {k: statistics.median(v) for k, v in results.items()}
    tenants = args.hosts * args.vnis
    print(f"{args.hosts} VTEPs x {args.vnis} tenants ({tenants} tenants, {args.vnis} VNIs), "
          f"median of {args.repeat} runs, seconds\n")
    print("| up | raw `ip -batch` up | up / raw | up again (no change) | tenant reachability | "
          "passed (pairs or cases) | down | raw down |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {r['up']:.2f} | {r['raw_up']:.2f} | {r['up'] / r['raw_up']:.2f}× | {r['up_again']:.2f} | "
          f"{r['tenants']:.2f} | {answered}/{pairs} | {r['down']:.2f} | {r['raw_down']:.2f} |")
    print(f"\ntenant reachability: {how}")
    print(f"\nprocesses the first `up` started: {sum(map(len, processes.values()))} "
          f"(the floor: {2 + args.hosts + tenants}); count, seconds summed over the workers, what:")
    for shape, seconds in sorted(processes.items(), key=lambda kv: -sum(kv[1]))[:6]:
        print(f"  {len(seconds):5d} {sum(seconds):7.2f} s  {shape[:60]}")
    if answered != pairs:
        sys.exit(f"{pairs - answered} of {pairs} did not pass")


if __name__ == "__main__":
    main()
