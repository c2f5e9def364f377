"""The training-free floor: maps matched as they are, pixel by pixel.

A trained embedder earns its keep only if it identifies people better than the maps
themselves do under cosine matching; this is that baseline, in the embedder's terms
(unit rows, one per sample).
"""

from __future__ import annotations

import numpy as np

from photostereo.maps_file import MapsFile


def pixel_embeddings(maps: MapsFile, modality: str, rows: np.ndarray) -> np.ndarray:
    """(n, D) unit rows: the ``rows``' maps of ``modality``, each channel centred over
    the common face (pixels that are face in at least half of them), concatenated."""
    values = np.nan_to_num(maps.read(modality, rows).astype(np.float64))
    common = maps.mask(rows).reshape(len(rows), maps.size, maps.size).mean(axis=0) >= 0.5
    picked = values[:, :, common]
    picked -= picked.mean(axis=2, keepdims=True)
    flat = picked.reshape(len(rows), -1)
    return flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-12)
