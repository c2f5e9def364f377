"""Benchmark: cast shadows on four-light rigs, against ground truth, every solver.

Synthetic frontal faces (``tests/scenes.py: face_like_scene``: room light lifting the
shadows to 10-30% of the lit level, bounced light, skin highlights, sensor noise) under
four-light rings at 25, 35 and 45 degrees and the Photoface rig; the renderer knows
which observations the nose and brows shadow. Per rig and solver, over ``--seeds``
people: mean angular error on the face pixels some light's cast shadow falls on, and
on the whole face, with ratios to plain least squares from the same run. Then the
Photoface rig with each light in turn dimmed to 40% on its own patch
(``dimmed_patch_scene``): the median error on each patch.

Usage: python benchmarks/bench_cast_shadows.py [--seeds 6]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from tables import ratio, table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from photostereo.lights import from_zenith_azimuth
from photostereo.realdata.runner import BASELINE
from photostereo.solvers import SOLVERS, solve
from tests.scenes import dimmed_patch_scene, face_like_scene

#: Four-light rings (zenith in degrees), lights on the diagonals as on Photoface.
RINGS = (25.0, 35.0, 45.0)


def errors_deg(normals: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(H, W) angle in degrees between two unit normal maps."""
    return np.degrees(np.arccos(np.clip(np.einsum("hwc,hwc->hw", normals, truth), -1.0, 1.0)))


def rigs() -> dict[str, str | np.ndarray]:
    azimuths = np.array([45.0, 135.0, 225.0, 315.0])
    named: dict[str, str | np.ndarray] = {
        f"ring {z:g}": from_zenith_azimuth(np.full(4, z), azimuths) for z in RINGS
    }
    named["photoface"] = "photoface"
    return named


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def cast_table(seeds: int, solvers: list[str]) -> str:
    rows = []
    for name, rig in rigs().items():
        cast = {m: [] for m in solvers}
        face = {m: [] for m in solvers}
        share = []
        for seed in range(seeds):
            scene = face_like_scene(rig, seed=seed, noise=True)
            shadowed = scene.cast_shadow.any(axis=0) & scene.mask
            share.append(shadowed.sum() / scene.mask.sum())
            for method in solvers:
                result = solve(scene.images, scene.directions, method=method, mask=scene.mask)
                error = errors_deg(result.normals, scene.normals)
                if shadowed.any():
                    cast[method].append(error[shadowed].mean())
                face[method].append(error[scene.mask].mean())
        for method in solvers:
            c, f = _mean(cast[method]), _mean(face[method])
            c0, f0 = _mean(cast[BASELINE]), _mean(face[BASELINE])
            rows.append([
                name, f"{100 * np.mean(share):.1f}", method,
                f"{c:6.2f} {ratio(c, c0)}", f"{f:6.2f} {ratio(f, f0)}",
            ])  # fmt: skip
    header = ["rig", "cast px %", "solver", "cast-shadowed px deg", "whole face deg"]
    return table(header, rows)


def dimmed_table(solvers: list[str]) -> str:
    scene = dimmed_patch_scene()
    rows = []
    for method in solvers:
        result = solve(scene.images, scene.directions, method=method, mask=scene.mask)
        error = errors_deg(result.normals, scene.normals)
        medians = [np.median(error[scene.dimmed[k]]) for k in range(len(scene.directions))]
        rows.append([method, *(f"{m:6.2f}" for m in medians)])
    header = ["solver", *(f"light {k + 1} dimmed" for k in range(len(scene.directions)))]
    return table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6, help="synthetic people per rig")
    args = parser.parse_args()
    solvers = [BASELINE, *(name for name in SOLVERS if name != BASELINE)]
    start = time.perf_counter()
    print(f"## Cast shadows, four-light rigs, {args.seeds} people each (mean error)\n")
    print(cast_table(args.seeds, solvers))
    print("\n## Photoface rig, one light dimmed to 40% on its patch (median error, deg)\n")
    print(dimmed_table(solvers))
    print(f"\ntotal {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
