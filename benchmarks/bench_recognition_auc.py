"""Acceptance run: verification AUC on held-out synthetic people, per modality.

100 synthetic people; models trained on 70 (iResNet-18 at width 0.25, MagFace, AdamW,
64 px) are scored by cosine verification AUC over all pairs of the 30 people never seen
in training, for albedo, normal and normal+albedo (late fusion). The maps come from the
real pipeline, ``psface synth`` then ``psface preprocess --size 64``, when this psface
has the preprocess stage; otherwise from the generator's ground-truth maps (said in the
output).

Usage: python benchmarks/bench_recognition_auc.py [--epochs E] [--width W] [--source S]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from photostereo.maps_file import MapsFile  # noqa: E402
from recognition.config import TrainConfig  # noqa: E402
from recognition.train import train_run  # noqa: E402
from tests.recognition.ground_truth_maps import write_ground_truth_maps  # noqa: E402

PSFACE = [sys.executable, "-m", "psface"]


def has_preprocess() -> bool:
    out = subprocess.run([*PSFACE, "--help"], capture_output=True, text=True, cwd=ROOT).stdout
    return "preprocess" in out


def build_maps(work: Path, args: argparse.Namespace) -> tuple[Path, str]:
    maps = work / "maps.h5"
    source = args.source
    if source == "auto":
        source = "pipeline" if has_preprocess() else "ground-truth"
    if maps.is_file() and (work / "source.txt").read_text().strip() == source:
        return maps, source
    if source == "pipeline":
        sessions = work / "sessions"
        shutil.rmtree(sessions, ignore_errors=True)
        subprocess.run(
            [*PSFACE, "synth", str(sessions), "--subjects", str(args.people), "--sessions",
             str(args.sessions), "--seed", "0", "--quiet"],
            check=True, cwd=ROOT,
        )  # fmt: skip
        subprocess.run(
            [*PSFACE, "preprocess", str(sessions), "-o", str(maps), "--size", str(args.size)],
            check=True, cwd=ROOT,
        )  # fmt: skip
    else:
        write_ground_truth_maps(
            maps, subjects=args.people, sessions=args.sessions, size=args.size, seed=0
        )
    (work / "source.txt").write_text(source + "\n")
    return maps, source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--train-people", type=int, default=70)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--modalities", nargs="+", default=["albedo", "normal", "normal+albedo"])
    parser.add_argument("--source", choices=("auto", "pipeline", "ground-truth"), default="auto")
    parser.add_argument("--work", type=Path, default=ROOT / "data/generated/bench_recognition")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    maps_path, source = build_maps(args.work, args)
    with MapsFile(maps_path) as maps_file:
        subjects = np.unique(maps_file.labels()[0])
        n_samples = len(maps_file)
    rng = np.random.default_rng(0)
    order = [str(s) for s in rng.permutation(subjects)]
    split = {"train": sorted(order[: args.train_people]), "val": sorted(order[args.train_people :])}
    split_path = args.work / "split.json"
    split_path.write_text(json.dumps(split))
    print(
        f"maps: {maps_path} ({source}; {n_samples} samples of {len(subjects)} people, "
        f"{args.size} px), built in {time.perf_counter() - start:.0f} s"
    )
    print(f"train {len(split['train'])} people, held out {len(split['val'])}")
    results = {}
    for modality in args.modalities:
        run = args.work / f"run_{modality.replace('+', '_')}"
        shutil.rmtree(run, ignore_errors=True)
        config = TrainConfig(
            modality=modality,
            size=args.size,
            width=args.width,
            epochs=args.epochs,
            batch_size=64,
            optimizer="adamw",
            lr=2e-3,
            weight_decay=0.05,
            warmup_epochs=1,
        )
        began = time.perf_counter()
        rows = train_run(maps_path, run, config, split_file=split_path, device="cpu")
        seconds = time.perf_counter() - began
        results[modality] = {
            "untrained_auc": rows[0]["val_auc"],
            "auc": rows[-1]["val_auc"],
            "eer": rows[-1]["val_eer"],
            "best_auc": max(r["val_auc"] for r in rows[1:]),
            "seconds": round(seconds),
        }
        r = results[modality]
        print(
            f"{modality:>14}: AUC {r['auc']:.4f} (EER {r['eer']:.4f}; untrained "
            f"{r['untrained_auc']:.4f}) after {args.epochs} epochs, {seconds:.0f} s",
            flush=True,
        )
    summary = {"source": source, "args": {k: str(v) for k, v in vars(args).items()}, **results}
    (args.work / "results.json").write_text(json.dumps(summary, indent=1))
    failing = [m for m, r in results.items() if r["auc"] < 0.98]
    print("all modalities reach AUC >= 0.98" if not failing else f"below 0.98: {failing}")


if __name__ == "__main__":
    main()
