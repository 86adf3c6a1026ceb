"""Benchmark of `netlab grade` for a class: N passing labs, then the same N with one fault each.

Run as root:  .venv/bin/python bench/bench_grade.py [--labs 30] [--workers 4] [--sequential]
Brings N instances of lab10 up on netns (`--name gb0` ...), grades them all (passing), applies
one fault to each with `netlab break` (the faults taken in turn), grades them again (broken),
and takes them down. Each grade runs in a process of its own, as `netlab grade` does.
`--sequential` also grades each class one lab at a time (what `grade` did before it graded
side by side). Prints a Markdown table for docs/performance.md, with the load average: on a
shared machine it moves every number.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

from netlab import faults, grading
from netlab.lifecycle import down, open_lab, up


def quiet(_: str) -> None:
    pass


def timed_grade(names: list[str], workers: int) -> tuple[float, list[dict[str, Any]]]:
    """`netlab grade` as a teacher runs it, in a process of its own (`workers` labs at once)."""
    code = ("import json, sys; from netlab import grading; "
            f"print(json.dumps(grading.as_rows(grading.grade_all(sys.argv[1:], workers={workers}))))")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, check=True)
    return time.perf_counter() - start, json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labs", type=int, default=30)
    parser.add_argument("--lab", default="lab10", help="the catalog lab every student has")
    parser.add_argument("--workers", type=int, default=grading.WORKERS)
    parser.add_argument("--sequential", action="store_true", help="also grade the broken class one at a time")
    args = parser.parse_args()
    names = [f"gb{i}" for i in range(args.labs)]
    sessions = []
    try:
        start = time.perf_counter()
        for name in names:
            session = open_lab(args.lab, "netns", name=name)
            sessions.append(session)
            up(session, quiet)
        up_seconds = time.perf_counter() - start
        passing, grades = timed_grade(names, args.workers)
        assert all(g["failed"] == 0 for g in grades), [g for g in grades if g["failed"]]
        passing_sequential = timed_grade(names, 1)[0] if args.sequential else None
        model = sessions[0].lab
        options = [(fault, target.host) for fault, targets in faults.applicable(model, None).items()
                   for target in targets[:1]]
        applied = []
        for n, name in enumerate(names):
            fault, host = options[n % len(options)]
            subprocess.run([sys.executable, "-m", "netlab", "break", name, fault, "--host", host],
                           check=True, capture_output=True)
            applied.append(fault)
        broken, grades = timed_grade(names, args.workers)
        assert all(g["failed"] for g in grades), [g["lab"] for g in grades if not g["failed"]]
        sequential = timed_grade(names, 1)[0] if args.sequential else None
        load = os.getloadavg()
        print(f"{args.labs} x {args.lab}, {os.cpu_count()} cores, {args.workers} workers, "
              f"load average {load[0]:.1f} after the run; up took {up_seconds:.1f} s")
        print(f"faults, in turn: {', '.join(dict.fromkeys(applied))}\n")
        print("| grade of the class | seconds |")
        print("|---|---:|")
        print(f"| {args.labs} passing labs, side by side | {passing:.1f} |")
        if passing_sequential is not None:
            print(f"| {args.labs} passing labs, one at a time (workers=1) | {passing_sequential:.1f} |")
        print(f"| {args.labs} broken labs (one fault each), side by side | {broken:.1f} |")
        if sequential is not None:
            print(f"| {args.labs} broken labs, one at a time (workers=1) | {sequential:.1f} |")
    finally:
        for session in sessions:
            down(session, quiet)


if __name__ == "__main__":
    main()
