"""How the cost of a lab grows with its VTEPs: real `netlab up`, `verify` and `down` of generated
multicast VXLAN labs on the netns provider, and the memory the kernel spends on them.

Run as root:  .venv/bin/python bench/bench_scale.py [--sizes 16 64 256] [--mode multicast|flood]
Prints a Markdown table (docs/scale.md has one run). Each size is run once, as a user would run
it: the CLI in a subprocess (so Python's start-up is in every number). Memory is MemAvailable
(and Slab) from /proc/meminfo just before `up` and just after it: on a shared machine other work
moves these by tens of MiB, so read the per-host column for the larger sizes only.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

NETLAB = [sys.executable, "-m", "netlab"]


def lab_file(n: int, mode: str, directory: Path) -> Path:
    """A lab of `n` hosts on one /16 underlay, one VXLAN over them all (multicast group, or
    head-end replication: every host floods to every other)."""
    underlay = ipaddress.IPv4Network("10.77.0.0/16")
    overlay = ipaddress.IPv4Network("10.78.0.0/16")
    hosts = {f"h{i}": {"ip": str(underlay[i + 1])} for i in range(n)}
    tunnel: dict[str, object] = {"name": "vxlan0", "type": "vxlan", "vni": 100, "mode": mode,
                                 "endpoints": {h: f"{overlay[i + 1]}/16" for i, h in enumerate(hosts)}}
    if mode == "multicast":
        tunnel.update(group="239.255.0.1", ttl=5)
    name = f"bscale-{mode[0]}{n}"
    path = directory / f"{name}.yml"
    path.write_text(yaml.safe_dump({"name": name, "title": f"{n} VTEPs, {mode}",
                                    "underlay": {"name": "bench", "subnet": str(underlay)},
                                    "hosts": hosts, "tunnels": [tunnel]}, sort_keys=False))
    return path


def meminfo() -> dict[str, int]:
    """/proc/meminfo in KiB."""
    out = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        out[key] = int(rest.split()[0])
    return out


def run(*args: str, timeout: float = 1800) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run([*NETLAB, *args], capture_output=True, text=True, timeout=timeout)
    return time.perf_counter() - start, proc


def fdb_entries(lab: str, host: str) -> int:
    """Forwarding entries of vxlan0 on one host (the flood list lives here)."""
    proc = subprocess.run(["ip", "netns", "exec", f"netlab.{lab}.{host}", "bridge", "fdb", "show", "dev", "vxlan0"],
                          capture_output=True, text=True)
    return len(proc.stdout.splitlines())


def one(n: int, mode: str, directory: Path) -> dict[str, object]:
    path = lab_file(n, mode, directory)
    name = path.stem
    subprocess.run(["sync"], check=False)
    before = meminfo()
    t_up, proc = run("up", str(path), "--provider", "netns")
    if proc.returncode != 0:
        raise SystemExit(f"up of {n} hosts failed:\n{proc.stdout}{proc.stderr}")
    time.sleep(1)
    after = meminfo()
    t_verify, proc = run("verify", name)
    summary = re.search(r"(\d+) passed, (\d+) failed", proc.stdout)
    passed, failed = (int(summary.group(1)), int(summary.group(2))) if summary else (0, -1)
    fdb = fdb_entries(name, "h0")
    t_down, proc = run("down", name)
    if proc.returncode != 0:
        raise SystemExit(f"down of {n} hosts failed:\n{proc.stdout}{proc.stderr}")
    used = before["MemAvailable"] - after["MemAvailable"]
    return {"n": n, "up": t_up, "verify": t_verify, "down": t_down, "passed": passed, "failed": failed,
            "mem_mib": used / 1024, "per_host_kib": used / n, "slab_mib": (after["Slab"] - before["Slab"]) / 1024,
            "fdb": fdb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--mode", choices=("multicast", "flood"), default="multicast")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: network namespaces need it")
    rows = []
    with tempfile.TemporaryDirectory(prefix="netlab-bench-scale-") as tmp:
        for n in args.sizes:
            row = one(n, args.mode, Path(tmp))
            rows.append(row)
            print(f"# {n} hosts done: {row}", file=sys.stderr, flush=True)
    print(f"| VTEPs ({args.mode}) | up | verify | checks passed/failed | down | memory (MemAvailable) "
          "| per VTEP | slab | fdb entries on h0 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']} | {r['up']:.2f} s | {r['verify']:.2f} s | {r['passed']}/{r['failed']} | {r['down']:.2f} s "
              f"| {r['mem_mib']:.1f} MiB | {r['per_host_kib']:.0f} KiB | {r['slab_mib']:.1f} MiB | {r['fdb']} |")


if __name__ == "__main__":
    main()
