"""Recognition figures of hand-built maps whose answers are known."""

from __future__ import annotations

import math
import time
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from ablation.maps import SessionMaps
from ablation.recognition import MODALITIES, _embedder, model_input, recognition_measures
from photostereo.realdata.metrics import recognition_vector, resize_area
from recognition.config import TrainConfig
from recognition.embed import save_model
from recognition.fusion import EmbeddingModel

SIZE = 128
#: Every mask covers this central square (even bounds: whole cells of the 64 px resize).
FACE = np.s_[32:96, 24:104]


def face_mask() -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), bool)
    mask[FACE] = True
    return mask


def sample(person: str, session: int, seed: int, *, junk: int | None = None) -> SessionMaps:
    """Random maps of one look (``seed``), with other random values off the face
    (``junk``, for a look that differs only where nothing is compared)."""
    rng = np.random.default_rng(seed)
    normal = rng.normal(size=(3, SIZE, SIZE)).astype(np.float32)
    albedo, depth, image = rng.random((3, SIZE, SIZE), dtype=np.float32)
    if junk is not None:
        off = ~face_mask()
        noise = np.random.default_rng(junk).random((6, SIZE, SIZE), dtype=np.float32)
        for plane, values in zip((*normal, albedo, depth, image), noise, strict=True):
            plane[off] = values[off]
    return SessionMaps(person, session, normal, albedo, depth, image, face_mask())


def test_identical_sessions_are_recognised_perfectly():
    """Each person's sessions are the same maps on the face (and differ off it, where the
    common mask leaves them out): rank-1 and AUC are 1 in every modality."""
    samples = [
        sample(p, s, seed=i, junk=10 * i + s) for i, p in enumerate("ABCD") for s in (0, 1, 2)
    ]
    measures = recognition_measures(samples, [])
    assert set(measures) == {f"{k}/{m}" for k in ("rank1", "auc") for m in MODALITIES}
    assert all(type(v) is float for v in measures.values())
    assert all(v == 1.0 for v in measures.values()), measures


def test_rank1_of_half_the_probes_and_auc_as_sklearn():
    """Gallery A0, B0; probes A1 = A0 and A2 = B0 (one right, one wrong), B1 = B0 and
    B2 = A0 (the same): rank-1 is 2/4 = 0.5 exactly. The AUC is that of every probe
    scored against every gallery entry, computed here from vectors made one by one with
    recognition_vector, and checked against scikit-learn's roc_auc_score."""
    look = {"A": 1, "B": 2}
    plan = [
        ("A", 0, "A"),
        ("A", 1, "A"),
        ("A", 2, "B"),
        ("B", 0, "B"),
        ("B", 1, "B"),
        ("B", 2, "A"),
    ]
    rng = np.random.default_rng(7)
    samples = []
    for person, session, like in plan:
        s = sample(person, session, seed=look[like])
        s.normal += 0.3 * rng.normal(size=s.normal.shape).astype(np.float32)  # not ties
        samples.append(s)
    measures = recognition_measures(samples, [])
    assert measures["rank1/normal"] == 0.5

    common = resize_area(face_mask().astype(np.float32)) >= 0.5
    vectors = np.stack([recognition_vector(resize_area(s.normal), common) for s in samples])
    gallery = [i for i, s in enumerate(samples) if s.session == 0]
    probes = [i for i, s in enumerate(samples) if s.session != 0]
    scores = vectors[probes] @ vectors[gallery].T
    same = np.array([[samples[p].person == samples[g].person for g in gallery] for p in probes])
    expected = roc_auc_score(same.ravel(), scores.ravel())
    auc = measures["auc/normal"]
    print(f"\nrank-1 {measures['rank1/normal']}, AUC {auc:.4f} (sklearn {expected:.4f})")
    assert auc == pytest.approx(expected, abs=1e-9)


def test_model_input_is_stacked_as_the_maps_file_reads_it():
    """Channels in the modality's order (normal+albedo: nx, ny, nz, albedo; depth+image),
    area-resized per channel when the model takes another size."""
    s = sample("A", 0, seed=3)
    same = model_input(s, SimpleNamespace(modality="normal+albedo", size=SIZE))
    np.testing.assert_array_equal(same, np.concatenate([s.normal, s.albedo[None]]))
    small = model_input(s, SimpleNamespace(modality="depth+image", size=32))
    for channel, plane in zip(small, (s.depth, s.image), strict=True):
        np.testing.assert_array_equal(
            channel, cv2.resize(plane, (32, 32), interpolation=cv2.INTER_AREA)
        )
    one = model_input(s, SimpleNamespace(modality="albedo", size=32))
    assert one.shape == (1, 32, 32) and one.dtype == np.float32


def test_untrained_model_gives_figures_in_range(tmp_path):
    """An untrained normal+albedo model (32 px, maps resized from 128 px): 11 people of 2
    sessions make 110 impostor scores, enough for TAR at FAR 1e-2. The run is loaded
    once per process. Measured: about 2 s on 2 shared cores."""
    start = time.perf_counter()
    config = TrainConfig(modality="normal+albedo", size=32, width=0.125, embedding_dim=64)
    torch.manual_seed(0)
    save_model(tmp_path, EmbeddingModel(config), config)
    samples = [sample(f"p{i}", s, seed=100 + i) for i in range(11) for s in (0, 1)]
    _embedder.cache_clear()
    measures = recognition_measures(samples, [("tiny", str(tmp_path))])
    recognition_measures(samples[:4], [("tiny", str(tmp_path))])
    assert _embedder.cache_info().misses == 1
    figures = {k: v for k, v in measures.items() if k.endswith("/model:tiny")}
    print(f"\n{figures} in {time.perf_counter() - start:.1f} s")
    assert set(figures) == {f"{k}/model:tiny" for k in ("rank1", "auc", "tar@far=1e-2")}
    assert all(type(v) is float and math.isfinite(v) and 0 <= v <= 1 for v in figures.values())
    assert figures["rank1/model:tiny"] == 1.0  # identical sessions embed identically
