"""A contact sheet: a few people, each across their sessions and lights, in one PNG.

One row per person; per session, its captures side by side (the first ``max_lights``),
then the ground-truth albedo and normals (RGB = (n + 1) / 2), so a glance shows that the
faces look like faces, that a person stays the same and that the lights differ.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from photostereo.io.canonical import read_canonical
from photostereo.io.images import write_image


def _tile(folder: Path, max_lights: int, size: int) -> list[np.ndarray]:
    session = read_canonical(folder)
    tiles = [np.repeat(img[..., None], 3, axis=-1) for img in session.images[:max_lights]]
    albedo_path = folder / "gt_albedo.npy"
    normal_path = folder / "gt_normal.npy"
    if albedo_path.is_file():
        albedo = np.load(albedo_path)
        tiles.append(np.repeat(np.clip(albedo, 0, 1)[..., None], 3, axis=-1))
    if normal_path.is_file():
        normal = np.load(normal_path)
        shown = np.where(np.any(normal != 0, axis=-1, keepdims=True), (normal + 1) / 2, 0.0)
        tiles.append(shown)
    return [
        cv2.resize(t.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA) for t in tiles
    ]


def contact_sheet(
    root: str | Path,
    path: str | Path,
    *,
    people: int = 4,
    sessions: int = 3,
    max_lights: int = 4,
    tile: int = 128,
) -> Path:
    """Write a contact sheet of the data set under ``root`` to ``path`` (PNG); return it.

    Takes the first ``people`` subject folders (sorted) and up to ``sessions`` sessions
    each. Sessions are separated by a thin gap.
    """
    root = Path(root)
    subjects = sorted(p for p in root.iterdir() if p.is_dir())[:people]
    rows = []
    width = 0
    for subject in subjects:
        folders = sorted(p for p in subject.iterdir() if (p / "lights.json").is_file())
        row: list[np.ndarray] = []
        for folder in folders[:sessions]:
            if row:
                row.append(np.ones((tile, tile // 8, 3), np.float32))
            row.extend(_tile(folder, max_lights, tile))
        if row:
            rows.append(np.hstack(row))
            width = max(width, rows[-1].shape[1])
    if not rows:
        raise FileNotFoundError(f"{root}: no sessions to preview")
    padded = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    sheet = np.vstack(padded)
    path = Path(path)
    write_image(path, sheet)
    return path
