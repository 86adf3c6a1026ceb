"""Benchmark of the netns provider: up, verify and down, beside the raw `ip -batch` floor.

Run as root:  .venv/bin/python bench/bench_netns.py [--repeat 5] [--sizes 2 8 32 64]
Prints a Markdown table (paste it into docs/performance.md). Every number is the median of
--repeat runs measured in this one process, so ratios between rows are meaningful even on a
noisy machine; absolute numbers are not.
"""

from __future__ import annotations

import argparse
import ipaddress
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from netlab import catalog
from netlab.lifecycle import down, open_lab, up
from netlab.model import Lab, validate_lab
from netlab.verify.checks import CHECKS, plan
from netlab.verify.context import Context
from netlab.verify.runner import run_verify


def quiet(_: str) -> None:
    pass


def multicast_lab(n: int) -> Lab:
    underlay = ipaddress.IPv4Network("10.77.0.0/16")
    overlay = ipaddress.IPv4Network("10.78.0.0/16")
    hosts = {f"h{i}": {"ip": str(underlay[i + 1])} for i in range(n)}
    return validate_lab(
        {
            "name": f"bench-n{n}",
            "underlay": {"name": "bench", "subnet": str(underlay)},
            "hosts": hosts,
            "tunnels": [{
                "name": "vxlan0", "type": "vxlan", "vni": 100, "mode": "multicast",
                "group": "239.255.0.1", "ttl": 5,
                "endpoints": {h: f"{overlay[i + 1]}/16" for i, h in enumerate(hosts)},
            }],
        },
        f"<generated {n}-host lab>",
    )


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def raw_floor(lab: Lab) -> tuple[float, float]:
    """The same namespaces, bridge, veths and VXLAN devices with bare `ip -batch`: netlab's floor."""
    prefix = f"raw{lab.name[-3:]}"
    names = [f"{prefix}.{h}" for h in lab.hosts]
    switch = f"{prefix}._sw"

    def build() -> None:
        subprocess.run(["ip", "-batch", "-"], input="".join(f"netns add {n}\n" for n in [switch, *names]),
                       text=True, check=True)
        lines = ["link add br0 type bridge mcast_snooping 0", "link set br0 up"]
        for i, n in enumerate(names):
            lines += [f"link add p{i} type veth peer name enp0s8 netns {n}", f"link set p{i} master br0 up"]
        subprocess.run(["ip", "-n", switch, "-batch", "-"], input="\n".join(lines) + "\n", text=True, check=True)
        for n, host in zip(names, lab.hosts, strict=True):
            batch = (
                f"link set lo up\nlink set enp0s8 up\naddr add {lab.hosts[host].ip}/16 dev enp0s8\n"
                "link add vxlan0 type vxlan id 100 group 239.255.0.1 ttl 5 dstport 4789 dev enp0s8\n"
                f"addr add {lab.tunnels[0].endpoints[host]} dev vxlan0\nlink set vxlan0 up\n"
            )
            subprocess.run(["ip", "-n", n, "-batch", "-"], input=batch, text=True, check=True)

    def teardown() -> None:
        subprocess.run(["ip", "-batch", "-"], input="".join(f"netns del {n}\n" for n in [switch, *names]),
                       text=True, check=True)

    return timed(build), timed(teardown)


def measure(lab: Lab, repeat: int, source: Path) -> dict[str, float]:
    results: dict[str, list[float]] = {k: [] for k in ("up", "verify", "cli_verify", "ping", "down", "raw_up",
                                                       "raw_down")}
    for _ in range(repeat):
        session = open_lab(str(source), "netns")
        results["up"].append(timed(lambda s=session: up(s, quiet)))
        start = time.perf_counter()
        passed = run_verify(session.lab, session.provider).passed
        results["verify"].append(time.perf_counter() - start)
        if not passed:
            down(session, quiet)
            raise SystemExit(f"verify failed on {lab.name}: the benchmark measures working labs only")
        # The whole `netlab verify` process (Python start-up, every check, the report).
        results["cli_verify"].append(timed(lambda: subprocess.run(
            [sys.executable, "-m", "netlab", "verify", lab.name], check=True, capture_output=True)))
        ctx = Context(session.lab, session.provider)
        ping_cases = plan(session.lab, ["ping"])
        results["ping"].append(timed(lambda c=ctx, p=ping_cases: CHECKS["ping"].run(c, p)))
        results["down"].append(timed(lambda s=session: down(s, quiet)))
        raw_up, raw_down = raw_floor(lab)
        results["raw_up"].append(raw_up)
        results["raw_down"].append(raw_down)
    return {k: median(v) for k, v in results.items()}


def cli_seconds(repeat: int) -> tuple[float, float]:
    """`netlab up lab10` + `netlab verify lab10` as separate processes (Python start included)."""
    ups, verifies = [], []
    netlab = [sys.executable, "-m", "netlab"]
    for _ in range(repeat):
        ups.append(timed(lambda: subprocess.run([*netlab, "up", "lab10", "-p", "netns"], check=True,
                                                capture_output=True)))
        verifies.append(timed(lambda: subprocess.run([*netlab, "verify", "lab10"], check=True, capture_output=True)))
        subprocess.run([*netlab, "down", "lab10"], check=True, capture_output=True)
    return median(ups), median(verifies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="*", default=[2, 8, 32, 64])
    args = parser.parse_args()

    rows = []
    lab10 = catalog.load("lab10")
    rows.append(("lab10 (3 hosts)", measure(lab10, args.repeat, catalog.resolve("lab10"))))
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            lab = multicast_lab(n)
            path = Path(tmp) / f"{lab.name}.yml"
            path.write_text(yaml.safe_dump(lab.model_dump(mode="json", exclude_none=True), sort_keys=False))
            rows.append((f"multicast VXLAN, {n} hosts", measure(lab, args.repeat, path)))
    cli_up, cli_verify = cli_seconds(args.repeat)

    print(f"median of {args.repeat} runs, seconds\n")
    print("| lab | up | verify (all checks) | `netlab verify` process | ping check alone | down | "
          "raw `ip -batch` up | raw down | up / raw |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['up']:.3f} | {r['verify']:.3f} | {r['cli_verify']:.3f} | {r['ping']:.3f} | "
              f"{r['down']:.3f} | "
              f"{r['raw_up']:.3f} | {r['raw_down']:.3f} | {r['up'] / r['raw_up']:.1f}× |")
    print(f"\nCLI, lab10, separate processes (Python start-up included): `netlab up` {cli_up:.3f} s, "
          f"`netlab verify` {cli_verify:.3f} s, together {cli_up + cli_verify:.3f} s")


if __name__ == "__main__":
    main()
