"""``psface demo``: the whole pipeline on synthetic people, ending in a report."""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from tqdm import tqdm

HELP = "the whole pipeline on synthetic people: synth, preprocess, train, evaluate"
DESCRIPTION = """\
Run every stage on a small synthetic population, as `make demo` does:

  1. synth       render PEOPLE people, SESSIONS sessions each, under the Photoface rig
  2. preprocess  detect, align and reconstruct every session into OUT/maps.h5
  3. train       an iResNet-18 (narrow, 64 px crops) on normal+albedo for 70% of them
  4. evaluate    verification and identification on the people it never saw

OUT ends up holding sessions/, maps.h5, run/ (the model) and report/ (report.json,
report.md, roc.png, cmc.png, scores.png). The demo is deterministic for its --seed and
takes a few minutes on two CPU cores. An existing OUT is replaced.

examples:
  psface demo
  psface demo -o /tmp/demo --people 40 --seed 1"""

#: The demo model: the settings of benchmarks/bench_recognition_auc.py, small enough to
#: train in a few minutes on two CPU cores.
DEMO_TRAINING = {
    "modality": "normal+albedo",
    "fusion": "late",
    "backbone": "iresnet18",
    "width": 0.25,
    "size": 64,
    "optimizer": "adamw",
    "lr": 2e-3,
    "weight_decay": 0.05,
    "epochs": 10,
    "batch_size": 64,
    "warmup_epochs": 1.0,
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-o", "--out", type=Path, default=Path("psface-demo"), help="folder")
    parser.add_argument("--people", type=int, default=80, help="synthetic people (80)")
    parser.add_argument("--sessions", type=int, default=5, help="sessions per person (5)")
    parser.add_argument(
        "--held-out", type=float, default=0.3, help="fraction of people kept for testing (0.3)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from photostereo.batch import run_preprocess
    from photostereo.preprocess import PreprocessConfig
    from photostereo.synthetic.generate import SynthConfig, generate
    from psface.commands.evaluate import evaluate_runs
    from recognition.config import TrainConfig
    from recognition.train import train_run

    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    workers = os.cpu_count() or 1
    started = time.perf_counter()

    print(f"1/4 synth: {args.people} people x {args.sessions} sessions")
    synth = SynthConfig(subjects=args.people, sessions=args.sessions, seed=args.seed, size=192)
    generate(out / "sessions", synth, workers=workers, progress=True)

    print("2/4 preprocess: detect, align, photometric stereo")
    bar = tqdm(total=0, desc="preprocess", unit="session")
    summary = run_preprocess(
        out / "sessions",
        out / "maps.h5",
        PreprocessConfig(size=DEMO_TRAINING["size"]),
        workers=workers,
        on_total=lambda n: bar.reset(total=n),
        on_outcome=lambda _: bar.update(1),
    )
    bar.close()
    print(f"    {len(summary.done)} sessions in maps.h5, {len(summary.failed)} failed")

    print("3/4 train: iResNet-18 on normal+albedo")
    config = TrainConfig(**DEMO_TRAINING, seed=args.seed, val_fraction=args.held_out)
    bar = tqdm(total=0, desc="train", unit="batch")

    def progress(kind: str, info: dict) -> None:
        if kind == "batch":
            if bar.total == 0:
                bar.reset(total=info["batches"] * config.epochs)
            bar.update(1)
        elif kind == "epoch" and "val_auc" in info:
            bar.set_postfix_str(f"epoch {info['epoch']}, held-out AUC {info['val_auc']:.3f}")

    train_run(out / "maps.h5", out / "run", config, device="cpu", callback=progress)
    bar.close()

    print("4/4 evaluate on the held-out people")
    report = evaluate_runs(out / "maps.h5", [out / "run"], out / "report", device="cpu")
    print()
    print((out / "report" / "report.md").read_text())
    minutes = (time.perf_counter() - started) / 60
    print(f"done in {minutes:.1f} min; report and plots in {report}/")
    return 0
