"""Preprocessing speed: sessions per second end to end, and MTCNN batched against one
picture at a time.

Run: ``.venv/bin/python benchmarks/bench_preprocess.py [--sessions 500] [--device cuda]``.
It renders the synthetic sessions (four-light rig, 256 px) into a temporary folder,
preprocesses them with ``--workers`` processes into a fresh maps file, and prints the
rate and the time per step (summed over the workers). The MTCNN comparison runs in this
process on the same pictures, both ways in the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from photostereo.batch import run_preprocess
from photostereo.detect import FaceDetector, detection_picture
from photostereo.io import find_sessions, load_session
from photostereo.preprocess import PreprocessConfig
from synthetic_faces.generate import SynthConfig, generate


def bench_end_to_end(root: Path, size: int, workers: int) -> None:
    out = root.parent / "maps.h5"
    summary = run_preprocess(root, out, PreprocessConfig(size=size), workers=workers)
    n = len(summary.done)
    print(f"\nEnd to end: {n} sessions ({len(summary.failed)} failed) -> {size} px crops")
    print(f"  {summary.seconds:.1f} s wall with {workers} workers: {summary.rate:.1f} sessions/s")
    print("  time per step, summed over workers (ms per session):")
    for step, seconds in summary.step_seconds.items():
        print(f"    {step:10s} {1e3 * seconds / max(n, 1):8.1f}")
    print(f"  target: at least 10 sessions/s -> {'met' if summary.rate >= 10 else 'NOT met'}")


def bench_mtcnn(root: Path, count: int, device: str, batch: int) -> None:
    refs = find_sessions(root)[:count]
    pictures = [detection_picture(load_session(ref).images[0]) for ref in refs]
    detector = FaceDetector(device=device)
    detector.detect(pictures[:2])  # warm-up
    start = time.perf_counter()
    for i in range(0, len(pictures), batch):
        detector.detect(pictures[i : i + batch])
    batched = time.perf_counter() - start
    start = time.perf_counter()
    for picture in pictures:
        detector.detect([picture])
    single = time.perf_counter() - start
    threads = torch.get_num_threads()
    print(f"\nMTCNN on {len(pictures)} pictures of 256 px, {device}, {threads} threads")
    print(f"  batches of {batch}: {len(pictures) / batched:7.1f} pictures/s")
    print(f"  one at a time:   {len(pictures) / single:7.1f} pictures/s")
    print(f"  batched / one at a time: {single / batched:.2f}x (target >= 2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--size", type=int, default=112, help="crop size")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--device", default="cpu", help="MTCNN device for the comparison")
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "sessions"
        subjects = max(1, args.sessions // 4)
        start = time.perf_counter()
        generate(root, SynthConfig(subjects=subjects, sessions=4, seed=3), workers=args.workers)
        print(f"rendered {subjects * 4} sessions in {time.perf_counter() - start:.1f} s")
        bench_mtcnn(root, min(128, subjects * 4), args.device, args.batch)
        bench_end_to_end(root, args.size, args.workers)


if __name__ == "__main__":
    main()
