"""Writing one session's reconstruction as the files INTERFACES.md names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from photostereo.io.images import write_image, write_npy
from photostereo.io.mesh import write_ply
from photostereo.preview import albedo_to_rgb, depth_to_rgb, normal_to_rgb
from photostereo.reconstruct import Reconstruction
from photostereo.solver_common import HOW
from psbase.atomic import write_atomically
from psbase.outputs import make_folders


def write_reconstruction(out: Path, rec: Reconstruction, *, summary: dict) -> None:
    """Write maps (``.npy``), mask, previews, ``mesh.ply`` and ``summary.json`` into ``out``.

    Each file is replaced atomically; ``summary.json`` comes last, so its presence
    means the folder is complete.
    """
    out = Path(out)
    make_folders(out)
    arrays = {
        "normal": rec.normals,
        "albedo": rec.albedo,
        "depth": rec.depth,
        "residual": rec.photometric.residual,
        "n_used": rec.photometric.n_used,
    }
    for name, array in arrays.items():
        write_npy(out / f"{name}.npy", array)
    write_image(out / "mask.png", rec.mask.astype(np.float32))
    write_image(out / "normal.png", normal_to_rgb(rec.normals, rec.mask) / 255.0)
    write_image(out / "albedo.png", albedo_to_rgb(rec.albedo, rec.mask) / 255.0)
    write_image(out / "depth.png", depth_to_rgb(rec.depth, rec.mask) / 255.0)
    write_ply(out / "mesh.ply", rec.depth, rec.mask)
    text = json.dumps(summary, indent=2) + "\n"
    write_atomically(out / "summary.json", lambda tmp: tmp.write_text(text, encoding="utf-8"))


def quality_summary(rec: Reconstruction) -> dict[str, object]:
    """The numbers a person checks first: coverage, residual, partial solves, how the
    pixels were solved, and the solver's notes (a fallback)."""
    p = rec.photometric
    inside = rec.mask
    summary: dict[str, object] = {
        "pixels": int(inside.sum()),
        "underdetermined_pixels": int(p.underdetermined.sum()),
        "median_residual": float(np.median(p.residual[inside])) if inside.any() else 0.0,
        "partial_fraction": round(p.partial_fraction, 6),
        "notes": list(p.notes),
    }
    if p.how is not None:
        counts = np.bincount(p.how[inside].ravel(), minlength=len(HOW))
        summary["solved_by"] = {name: int(counts[code]) for name, code in HOW.items() if code}
    return summary
