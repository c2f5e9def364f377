"""Test fixture: a maps dataset straight from the synthetic generator's ground truth.

So the recognition tests and benchmarks run without the capture → reconstruction →
preprocessing chain: each synthetic session is rendered, its ground-truth normal, albedo
and depth are cut out around the face mask (a square on the mask's bounding box, as an
aligner would), resized to S and written in the maps schema. Depth is converted to crop
pixels and made zero-mean on the face; everything is zero off it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import h5py
import numpy as np

from photostereo.maps_file import append_samples, create_datasets
from synthetic_faces.generate import RenderedVisit, SynthConfig, render_visit, visit_plan

#: The rendered face spans about a third of the frame; render this much larger than S.
RENDER_FACTOR = 3


def crop_sample(
    visit: RenderedVisit, size: int, *, margin: float = 1.1
) -> dict[str, np.ndarray | str]:
    """One rendered visit as a maps sample (dict of the schema's arrays and labels)."""
    truth = visit.ground_truth
    mask = truth["mask"]
    rows, cols = np.nonzero(mask)
    cy, cx = (rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2
    side = margin * max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)
    factor = size / side
    # Affine map from the frame to the crop: scale about the mask's centre.
    matrix = np.array(
        [[factor, 0, size / 2 - factor * cx], [0, factor, size / 2 - factor * cy]], np.float32
    )

    def cut(image: np.ndarray) -> np.ndarray:
        # Bilinear: warpAffine has no area filter (it silently treats INTER_AREA as this).
        image = image.astype(np.float32)
        return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR)

    face = cut(mask.astype(np.float32)) > 0.5
    normal = cut(truth["normal"])
    normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-6)
    normal[~face] = 0
    albedo = np.where(face, cut(truth["albedo"]), 0)
    depth = cut(np.nan_to_num(truth["depth"], nan=0.0)) * factor
    depth = np.where(face, depth - depth[face].mean(), 0) if face.any() else depth * 0
    frontal = int(np.argmax(visit.directions[:, 2]))
    image = np.clip(cut(visit.images[frontal]), 0, 1)
    return {
        "normal": normal.transpose(2, 0, 1).astype(np.float32),
        "albedo": albedo[None].astype(np.float32),
        "depth": depth[None].astype(np.float32),
        "image": image[None].astype(np.float32),
        "mask": face[None].astype(np.uint8),
        "subject": visit.subject,
        "session": visit.session,
        "attributes": json.dumps(dict(visit.attributes), sort_keys=True),
    }


def write_ground_truth_maps(
    path: str | Path,
    *,
    subjects: int,
    sessions: int,
    size: int = 64,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Render ``subjects`` × ``sessions`` synthetic sessions into a maps file at ``path``.

    Returns the number of samples. ``progress(done, total)`` is called per sample.
    """
    config = SynthConfig(
        subjects=subjects, sessions=sessions, seed=seed, size=max(64, RENDER_FACTOR * size)
    )
    plan = visit_plan(config)
    with h5py.File(path, "w") as handle:
        create_datasets(handle, size)
        batch = []
        for done, (i, j) in enumerate(plan, start=1):
            batch.append(crop_sample(render_visit(config, i, j), size))
            if len(batch) == 64:
                append_samples(handle, batch)
                batch = []
            if progress is not None:
                progress(done, len(plan))
        append_samples(handle, batch)
    return len(plan)
