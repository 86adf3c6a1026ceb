"""`netlab verify` of three QEMU VMs with every tunnel type (tests/data/qemu-mix.yml, 66 checks).

Run as root, with the VM image built (netlab image build):
    .venv/bin/python bench/bench_qemu_verify.py [--repeat 5]
Brings the lab up once under its own state directory and name, runs `netlab verify` as a
separate process --repeat times (Python start-up included), prints each wall time and the
median, and takes the lab down again (also when a verify fails). The VMs run under TCG here
(no KVM): what a verify costs is mostly the guests' emulated CPU, so other VMs on the machine
move these numbers more than anything netlab does.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LAB = Path(__file__).resolve().parent.parent / "tests" / "data" / "qemu-mix.yml"
NAME = "bench-mix"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="netlab-bench-") as state:
        env = {**os.environ, "NETLAB_STATE_DIR": state}
        netlab = [sys.executable, "-m", "netlab", "-q"]
        start = time.perf_counter()
        subprocess.run([*netlab, "up", str(LAB), "-p", "qemu", "--name", NAME], env=env, check=True)
        print(f"up: {time.perf_counter() - start:.1f} s")
        try:
            seconds = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                proc = subprocess.run([*netlab, "verify", NAME], env=env, capture_output=True, text=True)
                seconds.append(time.perf_counter() - start)
                if proc.returncode != 0:
                    raise SystemExit(f"verify failed:\n{proc.stdout}{proc.stderr}")
            print("`netlab verify` process, seconds: " + ", ".join(f"{s:.2f}" for s in seconds)
                  + f"; median {statistics.median(seconds):.2f}")
        finally:
            subprocess.run([*netlab, "down", NAME], env=env, check=True)


if __name__ == "__main__":
    main()
