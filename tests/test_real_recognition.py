"""Recognition on real faces: the protocol's sessions through preprocessing, and the
training-free floor that every trained embedder must clear (benchmarks/
bench_real_recognition.py trains against it). Skips only where ``../shared/data/yaleb``
is absent."""

from __future__ import annotations

import numpy as np
import pytest

from gallery.evaluation import evaluate
from gallery.identify import answers
from gallery.metrics import open_set_dir
from gallery.search import rank_identities
from photostereo.batch import run_preprocess
from photostereo.maps_file import MapsFile
from photostereo.preprocess import PreprocessConfig
from photostereo.realdata.export import GALLERY_SESSION, export_sessions
from photostereo.realdata.runner import load_protocol
from recognition.baseline import pixel_embeddings
from tests.test_real_yaleb import DATA, PROTOCOL, needs_data


@pytest.fixture(scope="module")
def maps_path(tmp_path_factory):
    """Every protocol session of the 10 people, preprocessed to 64 px maps."""
    work = tmp_path_factory.mktemp("real_recognition")
    protocol = load_protocol(PROTOCOL)
    count = export_sessions(DATA, protocol, work / "sessions")
    assert count == 18 * len(protocol["people"])  # 15 side sessions and 3 rings each
    summary = run_preprocess(
        work / "sessions", work / "maps.h5", PreprocessConfig(size=64, detect=False), workers=1
    )
    assert len(summary.done) == count and not summary.failed
    return work / "maps.h5"


def floor(maps_path, modality: str) -> tuple[float, float]:
    with MapsFile(maps_path) as maps:
        subject, session = maps.labels()
        rows = np.arange(len(maps))
        vectors = pixel_embeddings(maps, modality, rows)
    report, _ = evaluate(vectors, np.ones(len(rows)), subject, session, bootstrap=0)
    return report["verification"]["auc"], report["identification"]["rank1"]


@needs_data
def test_exported_sessions_become_maps_with_the_front_session_first(maps_path):
    with MapsFile(maps_path) as maps:
        subject, session = maps.labels()
        mask = maps.mask(np.arange(len(maps)))
    assert len(set(subject)) == 10 and (session == GALLERY_SESSION).sum() == 10
    assert 0.5 < mask.mean() < 1.0  # a face crop: mostly face, not all


@needs_data
def test_albedo_beats_the_photograph_without_any_training(maps_path):
    """The floor: cosine matching of the maps themselves, front session enrolled, the
    17 differently lit sessions as probes. Measured: albedo AUC 0.921, rank-1 1.000;
    the photograph AUC 0.824, rank-1 0.753."""
    albedo_auc, albedo_rank1 = floor(maps_path, "albedo")
    photo_auc, photo_rank1 = floor(maps_path, "image")
    assert albedo_rank1 >= 0.95 and albedo_rank1 > photo_rank1
    assert albedo_auc > photo_auc


def test_joined_modalities_weigh_equally_in_the_floor(tmp_path):
    """Each modality of a join is scaled to unit norm before concatenation: depth, in
    pixels, would otherwise outweigh unit normals and albedo by orders of magnitude."""
    from tests.recognition.ground_truth_maps import write_ground_truth_maps

    path = tmp_path / "maps.h5"
    write_ground_truth_maps(path, subjects=3, sessions=2, size=32, seed=1)
    with MapsFile(path) as maps:
        rows = np.arange(len(maps))
        joined = pixel_embeddings(maps, "normal+depth", rows)
        normal = pixel_embeddings(maps, "normal", rows)
    np.testing.assert_allclose(np.linalg.norm(joined, axis=1), 1.0)
    half = normal.shape[1]
    np.testing.assert_allclose(joined[:, :half] * np.sqrt(2), normal, atol=1e-12)


@needs_data
def test_open_set_search_turns_real_strangers_away(maps_path):
    """Open-set identification with real strangers: five people enrolled by their front
    session, their 17 other sessions probing, and the five others' sessions as strangers,
    matched on the albedo floor. A threshold set on three strangers at FPIR 10% turns
    away all but that share of them in ``psface identify``'s answers, and identifies
    exactly the mated probes :func:`gallery.metrics.open_set_dir` counts (measured DIR
    0.859; the strangers' best scores average 0.21 below the mated probes' true scores).
    Without a threshold every stranger is named as someone."""
    with MapsFile(maps_path) as maps:
        subject, session = maps.labels()
        vectors = pixel_embeddings(maps, "albedo", np.arange(len(maps))).astype(np.float32)
    people = np.unique(subject)
    enrolled, strangers = people[:5], people[5:]
    gallery = np.isin(subject, enrolled) & (session == GALLERY_SESSION)
    mated = np.isin(subject, enrolled) & ~gallery
    calibration = np.isin(subject, strangers[:3])
    names, scores = rank_identities(vectors, vectors[gallery], subject[gallery], 3, "numpy")
    true_rank = np.argmax(names == subject[:, None], axis=1) + 1
    true_score = scores[np.arange(len(names)), true_rank - 1]
    rate, threshold = open_set_dir(
        true_rank[mated], true_score[mated], scores[calibration, 0], fpir=0.1
    )
    said = np.array([a["answer"] for a in answers(names, scores, subject, session, threshold)])
    stranger = np.isin(subject, strangers)
    assert set(said[stranger]) <= {"unknown", *enrolled}
    assert (said[calibration] != "unknown").mean() <= 0.1
    assert (said[mated] == subject[mated]).mean() == rate
    assert rate >= 0.8
    assert scores[stranger, 0].mean() < true_score[mated].mean() - 0.1
    closed = [a["answer"] for a in answers(names, scores, subject, session)]
    assert "unknown" not in closed
