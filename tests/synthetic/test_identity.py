"""Identity is signal, lighting a nuisance: nearest-neighbour identification, albedo vs captures."""

from __future__ import annotations

import cv2
import numpy as np

from synthetic_faces.generate import SynthConfig, render_visit

PEOPLE, SESSIONS, SIZE = 50, 4, 64


def _features(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The face cut out by its mask's bounding box, masked, as a 24x24 thumbnail.

    The crop removes the head's position and scale, as any face pipeline's alignment
    would; the same crop is used for albedo and captures.
    """
    rows, cols = np.nonzero(mask)
    crop = (image * mask)[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    return cv2.resize(crop.astype(np.float32), (24, 24), interpolation=cv2.INTER_AREA).ravel()


def _rank1(gallery: np.ndarray, probes: np.ndarray, labels: np.ndarray) -> float:
    distances = ((probes[:, None, :] - gallery[None, :, :]) ** 2).sum(-1)
    return float(
        np.mean(labels[np.argmin(distances, axis=1)] == np.repeat(np.arange(PEOPLE), SESSIONS - 1))
    )


def test_albedo_identifies_people_and_lighting_changes_hurt_raw_captures():
    config = SynthConfig(subjects=PEOPLE, sessions=SESSIONS, size=SIZE, seed=11)
    albedo, light0, light2 = [], [], []
    for person in range(PEOPLE):
        for session in range(SESSIONS):
            visit = render_visit(config, person, session)
            mask = visit.ground_truth["mask"]
            albedo.append(_features(visit.ground_truth["albedo"], mask))
            light0.append(_features(visit.images[0], mask))
            light2.append(_features(visit.images[2], mask))
    albedo, light0, light2 = (
        np.array(a).reshape(PEOPLE, SESSIONS, -1) for a in (albedo, light0, light2)
    )
    labels = np.arange(PEOPLE)
    # Gallery: each person's first session; probes: the other sessions.
    on_albedo = _rank1(albedo[:, 0], albedo[:, 1:].reshape(-1, albedo.shape[-1]), labels)
    same_light = _rank1(light0[:, 0], light0[:, 1:].reshape(-1, light0.shape[-1]), labels)
    other_light = _rank1(light0[:, 0], light2[:, 1:].reshape(-1, light2.shape[-1]), labels)
    print(
        f"rank-1 over {PEOPLE} people (chance {1 / PEOPLE:.2f}): albedo {on_albedo:.2f}, "
        f"captures same light {same_light:.2f}, captures other light {other_light:.2f}"
    )
    assert on_albedo > 0.4  # twenty times chance
    assert other_light < on_albedo - 0.1
