"""Benchmark: 1,000 four-light sessions at 256 px, rendered and written with 2 workers.

Baseline in the same run: the plain cost of writing the same files (captures as PNG,
ground truth as NPY) with no rendering, on one process, for a sample of sessions,
scaled to 1,000. Writes the figure into benchmarks/RESULTS.md under its own heading.

Usage: python benchmarks/bench_synth.py [--sessions 1000] [--workers 2]
"""

from __future__ import annotations

import argparse
import platform
import re
import subprocess
import tempfile
import time
from pathlib import Path

from synthetic_faces.generate import SynthConfig, generate, render_visit, write_visit

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADING = "## Synthetic generator (bench_synth.py)"


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        match = re.search(r"Model name:\s*(.+)", out)
        if match:
            return match.group(1).strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown CPU"


def update_results(section: str) -> None:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.is_file() else "# Benchmark results\n"
    pattern = re.compile(re.escape(HEADING) + r".*?(?=\n## |\Z)", re.S)
    if pattern.search(text):
        text = pattern.sub(section.rstrip("\n"), text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-write-results", action="store_true")
    args = parser.parse_args()
    subjects = args.sessions // 4
    config = SynthConfig(subjects=subjects, sessions=4, seed=0, rig="photoface", size=256)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        folders = generate(Path(tmp) / "synth", config, workers=args.workers)
        elapsed = time.perf_counter() - start
        # Baseline: writing the same bytes, no rendering (sample of 50, scaled).
        sample = [render_visit(config, i, 0) for i in range(50)]
        start = time.perf_counter()
        for visit in sample:
            write_visit(Path(tmp) / "baseline", visit)
        write_only = (time.perf_counter() - start) / len(sample) * len(folders)
    cores = args.workers
    print(
        f"{len(folders)} sessions (4 lights, 256 px) in {elapsed:.1f} s with {cores} workers "
        f"({1000 * elapsed / len(folders):.1f} ms per session wall)"
    )
    print(
        f"baseline, writing the same files on one process: {write_only:.1f} s "
        f"(render+write / write-only = {elapsed / write_only:.2f})"
    )
    if not args.no_write_results:
        section = (
            f"{HEADING}\n\n"
            f"- {len(folders)} sessions of the four-light `photoface` rig at 256 px, rendered "
            f"and written (4 PNG captures, lights.json, gt_normal/albedo/depth .npy, gt_mask.png):"
            f" **{elapsed:.1f} s** with {cores} worker processes "
            f"({1000 * elapsed / len(folders):.1f} ms per session). Target: under 60 s.\n"
            f"- Baseline in the same run: writing the same files without rendering, one process: "
            f"{write_only:.1f} s (ratio {elapsed / write_only:.2f}).\n"
            f"- Machine: {cpu_model()}, {cores} cores used.\n"
        )
        update_results(section)


if __name__ == "__main__":
    main()
