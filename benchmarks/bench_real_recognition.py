"""Benchmark: recognition on real faces (Extended Yale B), trained against training-free.

The cross-lighting sessions of the real-data protocol (``data/protocols/yaleb.json``:
per person, sessions of 3, 4 and 6 lights from the left, right, above, below and front,
and Photoface-like rings) are written as canonical sessions (16-bit linear captures,
the strobes' calibrated intensities, raw-clipped observations kept at full scale so
the reader finds them again), preprocessed as a user would (``run_preprocess``, no face
detection: Yale B is already cropped, 64 px), and then, for each fold of a
leave-people-out split:

* **trained**: ``train_run`` on the other people's maps for each modality, its embedder
  applied to the held-out people;
* **training-free**: the held-out people's maps themselves as vectors (each channel
  centred over the common face mask, the whole L2-normalised), the floor every
  trained model must clear;

both scored by ``gallery.evaluation.evaluate``: verification over all held-out pairs
(AUC, EER, TAR at FAR 1e-2) and identification with each person's front four-light
session enrolled and every differently lit session a probe (rank-1). Mean and spread
(population standard deviation) over the folds.

With ``--synthetic RUN`` (a run trained on synthetic people only, such as the demo's),
two more rows: that run applied as it is (the domain gap) and fine-tuned from it
(``train_run(init=RUN)``) on each fold's training people.

Usage: python benchmarks/bench_real_recognition.py [--folds 2] [--epochs 30] [--width 0.25]
[--synthetic psface-demo/run]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from tables import table

from gallery.evaluation import evaluate
from photostereo.batch import run_preprocess
from photostereo.maps_file import MapsFile
from photostereo.preprocess import PreprocessConfig
from photostereo.realdata.export import export_sessions
from photostereo.realdata.runner import load_protocol
from recognition.baseline import pixel_embeddings
from recognition.config import TrainConfig, load_config
from recognition.embed import load_embedder
from recognition.train import train_run

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "yaleb"
PROTOCOL = ROOT / "data" / "protocols" / "yaleb.json"
MODALITIES = ("image", "albedo", "normal", "depth", "normal+albedo", "normal+albedo+depth")
SIZE = 64


def folds(people: list[str], n_folds: int, seed: int) -> list[list[str]]:
    """Leave-people-out folds: a seeded shuffle cut into ``n_folds`` near-equal parts."""
    order = np.random.default_rng(seed).permutation(sorted(people))
    return [sorted(map(str, part)) for part in np.array_split(order, n_folds)]


def figures(embeddings: np.ndarray, subject: np.ndarray, session: np.ndarray) -> dict:
    """AUC, EER, TAR at FAR 1e-2 and rank-1 of unit-row embeddings (no bootstrap)."""
    quality = np.ones(len(embeddings), np.float32)
    report, _ = evaluate(embeddings, quality, subject, session, bootstrap=0)
    ver, ident = report["verification"], report["identification"]
    return {
        "auc": ver["auc"],
        "eer": ver["eer"],
        "tar": ver["tar_at_far"].get("1e-2"),
        "rank1": ident["rank1"],
    }


def run_fold(maps_path: Path, work: Path, held_out: list[str], args) -> dict:
    """{row name: {"trained": figures, "free": figures}} for one fold: one row per
    modality, and with ``--synthetic RUN`` two more, that run alone (trained on synthetic
    people only: the domain gap) and that run fine-tuned here (``--init``)."""
    with MapsFile(maps_path) as maps:
        subject, session = maps.labels()
    rows = np.flatnonzero(np.isin(subject, held_out))
    split = work / "split.json"
    train = sorted(set(map(str, subject)) - set(held_out))
    split.write_text(json.dumps({"train": train, "val": held_out}), encoding="utf-8")
    plans: list[tuple[str, str, Path | None, TrainConfig | None]] = []
    for modality in args.modalities:
        config = TrainConfig(
            modality=modality, width=args.width, epochs=args.epochs, size=SIZE, seed=args.seed
        )
        plans.append((modality, modality, None, config))
    if args.synthetic is not None:
        pretrained = load_config(args.synthetic / "config.json")
        modality = pretrained.modality
        tuned = replace(pretrained, epochs=args.epochs, seed=args.seed)
        plans.append((f"{modality} (synthetic only)", modality, None, None))
        plans.append((f"{modality} (synthetic, fine-tuned)", modality, args.synthetic, tuned))
    out = {}
    for name, modality, init, config in plans:
        run = args.synthetic if config is None else work / f"run-{len(out)}"
        if config is not None:
            train_run(
                maps_path, run, config, split_file=split, device="cpu", overwrite=True, init=init
            )
        embedder = load_embedder(run, device="cpu")
        with MapsFile(maps_path) as maps:
            embeddings, _ = embedder.embed_file(maps, rows)
            free = pixel_embeddings(maps, modality, rows)
        out[name] = {
            "trained": figures(embeddings, subject[rows], session[rows]),
            "free": figures(free, subject[rows], session[rows]),
        }
    return out


def _summary(values: list[float | None]) -> str:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    if not finite:
        return "n/a"
    return f"{np.mean(finite):.3f} +-{np.std(finite):.3f}"


def report_table(results: list[dict], names: list[str]) -> str:
    header = [
        "modality", "trained AUC", "trained EER", "trained TAR@1e-2", "trained rank-1",
        "NN AUC", "NN rank-1",
    ]  # fmt: skip
    rows = []
    for m in names:
        trained = [fold[m]["trained"] for fold in results]
        free = [fold[m]["free"] for fold in results]
        rows.append([
            m,
            _summary([f["auc"] for f in trained]),
            _summary([f["eer"] for f in trained]),
            _summary([f["tar"] for f in trained]),
            _summary([f["rank1"] for f in trained]),
            _summary([f["auc"] for f in free]),
            _summary([f["rank1"] for f in free]),
        ])  # fmt: skip
    return table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="Yale B folder")
    parser.add_argument("--folds", type=int, default=2, help="leave-people-out folds")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--modalities", nargs="+", default=list(MODALITIES))
    parser.add_argument(
        "--synthetic",
        type=Path,
        metavar="RUN",
        help="a run trained on synthetic people only (e.g. psface-demo/run after make demo): "
        "score it here as it is, and fine-tuned from it (64 px, its own settings)",
    )
    parser.add_argument("--json", type=Path, help="also write the per-fold figures here")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"{args.data}: no Yale B data here; pass --data")
    protocol = load_protocol(PROTOCOL)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        count = export_sessions(args.data, protocol, work / "sessions")
        summary = run_preprocess(
            work / "sessions", work / "maps.h5", PreprocessConfig(size=SIZE, detect=False)
        )
        exported = time.perf_counter() - start
        people = sorted(protocol["people"])
        results = [
            run_fold(work / "maps.h5", work, held_out, args)
            for held_out in folds(people, args.folds, args.seed)
        ]
    print(
        f"real faces: {len(people)} Yale B people, {count} sessions ({len(summary.done)} "
        f"preprocessed, {len(summary.failed)} failed) in {exported:.0f} s; {args.folds} "
        f"leave-people-out folds; iResNet-18 width {args.width:g}, {args.epochs} epochs, "
        f"{SIZE} px; gallery: each person's front four-light session"
    )
    print()
    print(report_table(results, list(results[0])))
    print(f"\nmean +- spread over folds; total {time.perf_counter() - start:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
