"""Recognition figures of a cell's maps: training-free nearest neighbour and trained models.

Each person's session 0 is the gallery and their other sessions are the probes. A cell
lights every session from elsewhere, so every comparison is across lighting, which is
what a lighting ablation has to measure. Maps are compared as the real-data benchmark
compares them (:mod:`photostereo.realdata.metrics`): area-resized to 64 px, centred and
normalised over the common face, scored by cosine.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import cv2
import numpy as np

from ablation.maps import SessionMaps
from gallery.metrics import roc_auc, tar_at_far
from photostereo.maps_file import parse_modality
from photostereo.realdata.metrics import centred_unit_rows, rank1, resize_area
from recognition.embed import Embedder, load_embedder

#: The training-free modalities; ``photo`` is the capture nearest the camera axis.
MODALITIES = ("albedo", "normal", "depth", "photo")
#: The false-accept rate the trained models' TAR is read at, and the figure's name.
FAR, TAR = 1e-2, "tar@far=1e-2"
#: A pixel is in the common face if it is face in at least this share of the sessions.
COMMON_SHARE = 0.5


def recognition_measures(
    samples: Sequence[SessionMaps], models: Sequence[tuple[str, str]]
) -> dict[str, float]:
    """``rank1/M`` and ``auc/M`` for every modality M of :data:`MODALITIES`, and for every
    (name, run folder) of ``models`` ``rank1``, ``auc`` and ``tar@far=1e-2`` of
    ``model:NAME``; NaN where there are no probes, or no genuine or impostor scores."""
    people = np.array([s.person for s in samples])
    in_gallery = np.array([s.session == 0 for s in samples])
    small_masks = resize_area(np.stack([s.mask for s in samples]).astype(np.float32))
    common = small_masks.mean(axis=0) >= COMMON_SHARE
    out: dict[str, float] = {}
    for modality in MODALITIES:
        small = resize_area(np.stack([_plane(s, modality) for s in samples]))
        vectors = centred_unit_rows(small[..., common])  # recognition_vector, batched
        figures = _figures(vectors, people, in_gallery)
        out.update({f"{key}/{modality}": figures[key] for key in ("rank1", "auc")})
    for name, run in models:
        embedder = _embedder(run)
        vectors, _ = embedder.embed(np.stack([model_input(s, embedder) for s in samples]))
        figures = _figures(vectors, people, in_gallery)
        out.update({f"{key}/model:{name}": value for key, value in figures.items()})
    return out


def _plane(sample: SessionMaps, modality: str) -> np.ndarray:
    """(C, S, S) map of one training-free modality."""
    maps = {"albedo": sample.albedo, "depth": sample.depth, "photo": sample.image}
    return sample.normal if modality == "normal" else maps[modality][None]


def model_input(sample: SessionMaps, embedder: Embedder) -> np.ndarray:
    """(C, s, s) float32: the sample stacked as ``MapsFile.read(modality)`` stacks it (the
    channels in the modality's order), area-resized to the model's size if it differs."""
    planes = {
        "normal": sample.normal,
        "albedo": sample.albedo[None],
        "depth": sample.depth[None],
        "image": sample.image[None],
    }
    names = parse_modality(embedder.modality)
    stacked = np.concatenate([planes[name] for name in names]).astype(np.float32)
    size = embedder.size
    if stacked.shape[-1] == size:
        return stacked
    resized = cv2.resize(np.moveaxis(stacked, 0, -1), (size, size), interpolation=cv2.INTER_AREA)
    return np.moveaxis(resized.reshape(size, size, -1), -1, 0)


@cache
def _embedder(run: str) -> Embedder:
    """One model per run folder and process, on the CPU (cells run in parallel workers)."""
    return load_embedder(run, device="cpu")


def _figures(vectors: np.ndarray, people: np.ndarray, in_gallery: np.ndarray) -> dict[str, float]:
    """Rank-1, ROC AUC and TAR at :data:`FAR` of unit ``vectors``: every probe scored by
    cosine against every gallery entry, genuine where the person is the same."""
    gallery, probes = vectors[in_gallery], vectors[~in_gallery]
    labels, probe_labels = people[in_gallery], people[~in_gallery]
    scores = probes @ gallery.T
    same = probe_labels[:, None] == labels[None, :]
    genuine, impostor = scores[same], scores[~same]
    both = genuine.size > 0 and impostor.size > 0
    return {
        "rank1": float(rank1(gallery, labels, probes, probe_labels)),
        "auc": roc_auc(genuine, impostor) if both else float("nan"),
        TAR: tar_at_far(genuine, impostor, FAR) if both else float("nan"),
    }
