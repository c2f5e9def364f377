"""The training-free floor: maps matched as they are, pixel by pixel.

A trained embedder earns its keep only if it identifies people better than the maps
themselves do under cosine matching; this is that baseline, in the embedder's terms
(unit rows, one per sample).
"""

from __future__ import annotations

import numpy as np

from photostereo.maps_file import CHANNELS, MapsFile
from photostereo.realdata.metrics import centred_unit_rows


def pixel_embeddings(maps: MapsFile, modality: str, rows: np.ndarray) -> np.ndarray:
    """(n, D) unit rows: the ``rows``' maps of ``modality`` over the common face (pixels
    that are face in at least half of them), each channel centred and each modality of a
    ``+`` join scaled to unit norm before they are concatenated, so that depth's larger
    numbers do not drown the normals and albedo beside it."""
    values = np.nan_to_num(maps.read(modality, rows).astype(np.float64))
    common = maps.mask(rows).reshape(len(rows), maps.size, maps.size).mean(axis=0) >= 0.5
    ends = np.cumsum([CHANNELS[name] for name in modality.split("+")])[:-1]
    blocks = np.split(values[:, :, common], ends, axis=1)
    joined = np.concatenate([centred_unit_rows(block) for block in blocks], axis=1)
    return joined / np.maximum(np.linalg.norm(joined, axis=1, keepdims=True), 1e-12)
