"""Ablation speed: a 5 x 3 grid on 20 synthetic people, 2 repeats, by local workers.

Run: ``.venv/bin/python benchmarks/bench_ablate.py [--workers 1 2] [--people 20]``. The
grid crosses ``calib_deg`` (0, 2, 5, 10, 20) with ``solver`` (plain, shadow, robust):
15 cells x 2 repeats = 30 tasks of 20 people x 3 sessions (1,800 sessions rendered,
aligned, solved and integrated). Each worker count runs the same ablation into a fresh
folder; the baseline is one worker, timed in the same run, and the ratio is printed.
Target (issue 13): under 10 minutes on two cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from ablation.factors import parse_factor
from ablation.runner import data_source, run_ablation

FACTORS = ("calib_deg=0,2,5,10,20", "solver=plain,shadow,robust")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores")
    data = data_source(f"synth:{args.people}x3")
    factors = [parse_factor(text, data.kind) for text in FACTORS]
    seconds = {}
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            run = run_ablation(
                data, factors, Path(folder) / "out", repeats=args.repeats, workers=workers
            )
            seconds[workers] = time.perf_counter() - start
        tasks = run.computed
        print(
            f"{workers} worker(s): {tasks} tasks in {seconds[workers]:.1f} s "
            f"({seconds[workers] / max(tasks, 1):.2f} s a task), {len(run.failed)} failed"
        )
    base = seconds[args.workers[0]]
    for workers, took in seconds.items():
        print(f"  {workers} worker(s): x{base / took:.2f} the speed of {args.workers[0]}")
    print(f"target: under 600 s -> {'met' if min(seconds.values()) < 600 else 'not met'}")


if __name__ == "__main__":
    main()
