"""``psface demo``: the whole pipeline on synthetic people, ending in a report."""

from __future__ import annotations

import argparse
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from psbase.atomic import write_atomically
from psbase.errors import InputError
from psbase.outputs import make_folders
from psface.options import integer, non_negative_int, number
from psface.readers import maps_and_models

HELP = "the whole pipeline on synthetic people: synth, preprocess, train, evaluate"
DESCRIPTION = """\
Run every stage on a small synthetic population, as `make demo` does:

  1. synth       render PEOPLE people, SESSIONS sessions each, under the Photoface rig,
                 and presentation attacks (print, curved print, screen, mask) against
                 the first ATTACKED of them
  2. preprocess  detect, align and reconstruct every session into OUT/maps.h5, and
                 score each session's liveness
  3. train       an iResNet-18 (narrow, 64 px crops) on normal+albedo for 70% of them
                 (live sessions only)
  4. evaluate    verification and identification on the people it never saw, and how
                 well liveness tells the attacks from live faces (APCER, BPCER)

OUT ends up holding sessions/, maps.h5, run/ (the model) and report/ (report.json,
report.md, roc.png, cmc.png, scores.png, det.png). The demo is deterministic for its --seed and
takes a few minutes on two CPU cores.

An existing OUT is never deleted: a folder that holds files is refused, unless it is an
earlier demo's (it holds the marker file .psface-demo) and --overwrite is given; then
only the demo's own outputs in it are replaced.

examples:
  psface demo
  psface demo --overwrite             # run again into the earlier psface-demo/
  psface demo -o /tmp/demo --people 40 --seed 1"""

#: Written first into the folder a demo creates; only such a folder is ever cleared.
MARKER = ".psface-demo"
#: What a demo writes into OUT, and all that --overwrite removes from an earlier demo.
OUTPUTS = ("sessions", "maps.h5", "run", "report")

#: The demo model: the settings of benchmarks/bench_recognition_auc.py, small enough to
#: train in a few minutes on two CPU cores.
DEMO_TRAINING: dict[str, Any] = {
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
    parser.add_argument(
        "--people", type=integer(4), default=80, help="synthetic people, at least 4 (80)"
    )
    parser.add_argument(
        "--sessions", type=integer(2), default=5, help="sessions per person, at least 2 (5)"
    )
    parser.add_argument(
        "--attacked",
        type=integer(0),
        default=20,
        help="people with one attack of each kind against them (20; 0: none)",
    )
    parser.add_argument(
        "--held-out",
        type=number(0.0, 1.0, low_open=True, high_open=True),
        default=0.3,
        help="fraction of people kept for testing (0.3)",
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="random seed (0)")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the outputs of an earlier demo in OUT (never other files)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gallery.runs import evaluate_runs
    from photostereo.batch import run_preprocess
    from photostereo.preprocess import PreprocessConfig
    from psface.plots import write_plots
    from psface.progress import progress_bar
    from recognition.config import TrainConfig
    from recognition.train import train_run
    from synthetic_faces.attacks import ATTACKS, generate_attacks
    from synthetic_faces.generate import SynthConfig, generate

    config = TrainConfig(**DEMO_TRAINING, seed=args.seed, val_fraction=args.held_out)
    out = prepare_demo_folder(args.out, overwrite=args.overwrite)
    workers = os.cpu_count() or 1
    started = time.perf_counter()

    print(f"1/4 synth: {args.people} people x {args.sessions} sessions")
    synth = SynthConfig(subjects=args.people, sessions=args.sessions, seed=args.seed, size=192)
    with progress_bar("synth", "session") as update:
        generate(out / "sessions", synth, workers=workers, progress=update)
    if args.attacked:
        victims = replace(synth, subjects=min(args.attacked, args.people))
        with progress_bar("attacks", "session") as update:
            generate_attacks(out / "sessions", victims, ATTACKS, workers=workers, progress=update)

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

    def epoch_done(kind: str, info: dict) -> None:
        if kind == "epoch" and info.get("epoch") and "val_auc" in info:
            print(f"    epoch {info['epoch']}: held-out AUC {info['val_auc']:.3f}")

    with progress_bar("train", "batch") as update:
        train_run(
            out / "maps.h5", out / "run", config, device="cpu", callback=epoch_done, progress=update
        )

    print("4/4 evaluate on the held-out people")
    report = evaluate_runs(
        out / "maps.h5",
        [out / "run"],
        out / "report",
        **maps_and_models("cpu"),
    )
    write_plots(report.folder, report.names, report.curves, report.pad_curves)
    print()
    print((out / "report" / "report.md").read_text())
    minutes = (time.perf_counter() - started) / 60
    print(f"done in {minutes:.1f} min; report and plots in {report.folder}/")
    return 0


def prepare_demo_folder(out: Path, *, overwrite: bool) -> Path:
    """Make ``out`` ready for a demo without ever deleting what a demo did not write.

    A new or empty folder gets the marker; an earlier demo's folder (marker present) is
    cleared of the demo's own outputs under ``overwrite``; anything else is refused.
    """
    if out.exists() and not out.is_dir():
        raise InputError(out, "is a file; name a folder for the demo")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise InputError(
                out, "holds files that no psface demo made; choose another folder with -o"
            )
        if not overwrite:
            raise InputError(
                out, "holds an earlier demo; pass --overwrite to replace it, or choose -o"
            )
        for name in OUTPUTS:
            target = out / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
    make_folders(out)
    text = "made by psface demo; --overwrite may clear this folder\n"
    write_atomically(out / MARKER, lambda tmp: tmp.write_text(text))
    return out
