"""How `netlab render` grows with the lab: a one-segment multicast VXLAN lab of N hosts rendered for
VirtualBox (Vagrantfile, inventory, one host_vars file per host, the roles). Prints a Markdown
table; run from the repository: .venv/bin/python bench/bench_render.py [--sizes 250 1000 4000]."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

from netlab.configure.workdir import render_options
from netlab.model import Lab, validate_lab
from netlab.render import render


def multicast_lab(n: int) -> Lab:
    names = [f"h{i}" for i in range(n)]

    def address(prefix: str, i: int) -> str:
        return f"{prefix}.{(i + 10) // 250}.{(i + 10) % 250 + 1}"

    return validate_lab({
        "name": "big", "underlay": {"name": "w", "subnet": "10.0.0.0/16"},
        "hosts": {h: {"ip": address("10.0", i)} for i, h in enumerate(names)},
        "tunnels": [{"name": "vxlan0", "type": "vxlan", "vni": 7, "group": "239.1.1.1",
                     "endpoints": {h: address("10.1", i) + "/16" for i, h in enumerate(names)}}],
    }, "big.yml")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 1000, 4000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("| hosts | render (median, s) | s per 1000 hosts | peak Python memory (MB) |")
    print("|---|---|---|---|")
    for n in args.sizes:
        lab = multicast_lab(n)
        samples = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                started = time.perf_counter()
                render(lab, Path(tmp) / "out", render_options("virtualbox", lab))
                samples.append(time.perf_counter() - started)
        with tempfile.TemporaryDirectory() as tmp:  # memory in a run of its own: tracing is slow
            tracemalloc.start()
            render(lab, Path(tmp) / "out", render_options("virtualbox", lab))
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        median = statistics.median(samples)
        print(f"| {n} | {median:.2f} | {median / n * 1000:.2f} | {peak / 1e6:.0f} |")


if __name__ == "__main__":
    main()
