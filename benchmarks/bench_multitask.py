"""Multi-task disentanglement against the single-task model, part by part.

Run: ``.venv/bin/python benchmarks/bench_multitask.py [--people 120] [--seeds 0 1]``.
Synthetic people (the generator's ground-truth maps, ``tests/recognition/
ground_truth_maps.py``) whose sessions vary spectacles, facial hair, expression and pose
at the Photoface frequencies are split by identity; each variant trains on the same
people with the same seed and is evaluated by ``psface evaluate``'s own workflow on the
held-out people (:func:`gallery.runs.evaluate_runs`): identity AUC, rank-1 of probes whose
spectacles, facial hair or expression changed since enrolment and of the others, each
attribute head's AUC, and the leakage of each attribute from the identity embedding (a
linear probe's AUC; 0.5: nothing leaks). The baseline is the single-task model of the
same run, and every difference is printed against it.

Variants: ``single`` (no attribute heads), ``multitask`` (attention split, focal loss,
adversarial heads), ``multitask`` without each part: ``no split``, ``no focal``
(cross-entropy), ``no adversarial``, and with the adversarial loss weighted ten times
the tasks' (``adversary x10``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gallery.runs import evaluate_runs  # noqa: E402
from photostereo.maps_file import MapsFile  # noqa: E402
from psface.readers import attribute_reader  # noqa: E402
from recognition.attributes import TASKS  # noqa: E402
from recognition.config import TrainConfig  # noqa: E402
from recognition.embed import load_embedder  # noqa: E402
from recognition.train import train_run  # noqa: E402
from tests.recognition.ground_truth_maps import write_ground_truth_maps  # noqa: E402

VARIANTS = {
    "single": {"multitask": False},
    "multitask": {"multitask": True},
    "no split": {"multitask": True, "attention_split": False},
    "no focal": {"multitask": True, "focal_gamma": 0.0},
    "no adversarial": {"multitask": True, "adversarial": False},
    "adversary x10": {"multitask": True, "adversarial_weight": 10.0},
}


def figures(report: dict) -> dict[str, float]:
    """The comparison's figures from one model's entry of report.json."""
    entry = report["models"][0]
    out = {"identity AUC": entry["verification"]["auc"]}
    change = entry.get("attribute_change", {})
    for group in ("changed", "unchanged"):
        out[f"rank-1 {group}"] = change.get(group, {}).get("rank1", float("nan"))
    attributes = entry.get("attributes", {})
    for task in TASKS:
        out[f"{task} head"] = attributes.get(task, {}).get("auc", float("nan"))
        out[f"{task} leak"] = attributes.get(task, {}).get("leakage_auc", float("nan"))
    return {k: float("nan") if v is None else float(v) for k, v in out.items()}


def run_variant(maps: Path, folder: Path, name: str, args: argparse.Namespace, seed: int):
    config = TrainConfig(
        modality="normal+albedo",
        fusion="early",
        size=args.size,
        width=0.25,
        embedding_dim=64,
        epochs=args.epochs,
        batch_size=64,
        val_fraction=0.3,
        seed=seed,
        **VARIANTS[name],
    )
    run = folder / f"{name.replace(' ', '_')}-{seed}"
    start = time.perf_counter()
    train_run(maps, run, config, device="cpu")
    trained = time.perf_counter() - start
    report = evaluate_runs(
        maps,
        [run],
        folder / f"report-{run.name}",
        open_maps=MapsFile,
        load_model=partial(load_embedder, device="cpu"),
        attributes=attribute_reader(),
        bootstrap=0,
    ).report
    return figures(report), trained


def _mean(values: list[float]) -> float:
    """Mean of the finite values (a single-task run has no head figures), or NaN."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=120)
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}; {args.people} people x {args.sessions} sessions")
    results: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        maps = folder / "maps.h5"
        write_ground_truth_maps(maps, subjects=args.people, sessions=args.sessions, size=args.size)
        for seed in args.seeds:
            for name in args.variants:
                measured, seconds = run_variant(maps, folder, name, args, seed)
                results.setdefault(name, []).append(measured)
                print(f"  seed {seed} {name}: trained in {seconds:.0f} s", flush=True)
    means = {name: {k: _mean([r[k] for r in rs]) for k in rs[0]} for name, rs in results.items()}
    keys = list(next(iter(means.values())))
    base = means.get("single")
    print(f"\nmean over seeds {args.seeds}; in brackets the difference from single")
    print(f"{'':22s}" + "".join(f"{name:>18s}" for name in means))
    for key in keys:
        cells = []
        for name in means:
            value = means[name][key]
            delta = "" if base is None or name == "single" else f" ({value - base[key]:+.3f})"
            cells.append(f"{value:.3f}{delta}")
        print(f"{key:22s}" + "".join(f"{c:>18s}" for c in cells))
    if args.json:
        args.json.write_text(json.dumps({"means": means, "runs": results}, indent=1))


if __name__ == "__main__":
    main()
