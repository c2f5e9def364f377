"""Presentation-attack detection: APCER per attack and BPCER of the deciding (physical)
liveness score, the learned networks' and both together, on synthetic and real faces.

Run: ``.venv/bin/python benchmarks/bench_liveness.py [--people 20]``. Two sets, neither
seen by ``scripts/train_liveness.py``:

* synthetic people of seed 100 (five live sessions each, and one attack of every kind
  against each, made from their own photographs), preprocessed as ``psface
  preprocess`` does by default (face detection, 112 px);
* Extended Yale B people 6 to 10 (``../shared/data/yaleb``): every protocol session
  live, and two print and two screen attacks from each four-light session's captures,
  preprocessed without detection at 64 px.

Each row gives the ISO/IEC 30107-3 figures of one score: BPCER and APCER per attack
at its operating threshold (the physical score's: the shipped calibration's for BPCER
1%, :mod:`photostereo.liveness`; the others, which have none: BPCER 1% of the set's own
live faces), the worst APCER, and APCER at BPCER 1% and 0.1% of the set's own live faces
(``-``: too few live faces to measure that BPCER). The baseline is the physical score,
which decides; the worst APCER's ratio to it is measured in this same run. Last, the
liveness step's share of preprocessing time.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

import numpy as np
from tables import table

from gallery.pad_metrics import (
    apcer_at_bpcer,
    apcer_per_type,
    bpcer,
    min_bona_fide,
    threshold_at_bpcer,
)
from photostereo.batch import BatchSummary, run_preprocess
from photostereo.maps_file import MapsFile
from photostereo.preprocess import PreprocessConfig
from photostereo.realdata.export import export_sessions
from photostereo.realdata.runner import load_protocol
from synthetic_faces.attacks import ATTACKS, generate_attacks, write_capture_attacks
from synthetic_faces.generate import SynthConfig, generate

ROOT = Path(__file__).resolve().parents[1]
YALE = ROOT.parent / "shared" / "data" / "yaleb"
PROTOCOL = ROOT / "data" / "protocols" / "yaleb.json"
HELD_OUT = [f"yaleB{i:02d}" for i in range(6, 11)]


def synthetic_set(work: Path, people: int) -> tuple[Path, BatchSummary]:
    config = SynthConfig(subjects=people, sessions=5, seed=100)
    generate(work / "synthetic", config, workers=2)
    generate_attacks(work / "synthetic", config, ATTACKS, workers=2)
    out = work / "synthetic.h5"
    return out, run_preprocess(work / "synthetic", out, PreprocessConfig(), workers=2)


def yale_set(work: Path) -> tuple[Path, BatchSummary]:
    export_sessions(YALE, load_protocol(PROTOCOL), work / "yale", people=HELD_OUT)
    write_capture_attacks(work / "yale", np.random.default_rng(1))
    out = work / "yale.h5"
    config = PreprocessConfig(size=64, detect=False)
    return out, run_preprocess(work / "yale", out, config, workers=2)


def figures(path: Path) -> tuple[list[list[str]], list[str]]:
    """Table rows per score, and the attack kinds."""
    with MapsFile(path) as maps:
        attacks = np.asarray(maps.attacks(), dtype=str)
        calibrated = maps.liveness_threshold(0.01)
        physical, learned = maps.liveness(), maps.learned_liveness()
    assert calibrated is not None, "the shipped liveness calibration is missing"
    scores = {"physical": physical, "learned": learned, "both": np.minimum(physical, learned)}
    kinds = sorted(set(attacks) - {""})
    live = attacks == ""
    rows, base = [], None
    for name, score in scores.items():
        own = threshold_at_bpcer(score[live], 0.01)
        threshold = calibrated if name == "physical" else own
        per_type = apcer_per_type(score, attacks, threshold)
        worst = max(per_type.values())
        base = worst if base is None else base
        cells = [name, f"{threshold:.3f}", f"{bpcer(score[live], threshold):.3f}"]
        cells += [f"{per_type[k]:.3f}" for k in kinds]
        cells.append(f"{worst:.3f}" + ("" if name == "physical" else _ratio(worst, base)))
        for target in (0.01, 0.001):
            if live.sum() < min_bona_fide(target):
                cells.append("-")
            else:
                cells.append(f"{apcer_at_bpcer(score, attacks, target)['max']:.3f}")
        rows.append(cells)
    return rows, kinds


def _ratio(value: float, base: float) -> str:
    return f" (x{value / base:.2f})" if base > 0 else " (base 0)"


def report(title: str, path: Path, summary: BatchSummary) -> None:
    rows, kinds = figures(path)
    with MapsFile(path) as maps:
        attacks = np.asarray(maps.attacks(), dtype=str)
    counts = ", ".join(f"{k} {int((attacks == k).sum())}" for k in kinds)
    print(f"\n{title}: {int((attacks == '').sum())} live sessions; attacks: {counts}")
    header = ["score", "threshold", "BPCER", *(f"APCER {k}" for k in kinds), "APCER max"]
    print(table([*header, "APCER@BPCER 1%", "APCER@BPCER 0.1%"], rows))
    total = sum(summary.step_seconds.values())
    share = summary.step_seconds["liveness"] / total if total else float("nan")
    per_session = 1e3 * summary.step_seconds["liveness"] / max(len(summary.done), 1)
    print(f"liveness step: {per_session:.1f} ms per session, {share:.1%} of preprocessing")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=20)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        report("Synthetic, seed 100", *synthetic_set(work, args.people))
        if YALE.is_dir():
            report("Extended Yale B people 6-10 (real)", *yale_set(work))
        else:
            print(f"\n{YALE} is absent: no real-data table")


if __name__ == "__main__":
    main()
