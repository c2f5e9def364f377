"""The faces look like faces to the project's detector, which finds them where they are.

Every capture of 36 synthetic visits (32 people, the first four seen twice; 144
captures) goes through :class:`~photostereo.detect.FaceDetector` as the pipeline sends
it (:func:`~photostereo.detect.detection_picture`), counting faces above the pipeline's
own :data:`~photostereo.detect.MIN_CONFIDENCE`. Measured (seed 2024): exactly one face in
141 of 144 captures (97.9%), none in 3, never two; the five landmarks lie a median
0.066 of the inter-ocular distance (about 43 pixels) from where the renderer put them
(:func:`synthetic_faces.landmarks.visit_landmarks`), no landmark's median above 0.079.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("facenet_pytorch")

from photostereo.detect import MIN_CONFIDENCE, FaceDetector, detection_picture
from synthetic_faces.generate import SynthConfig, render_visit
from synthetic_faces.landmarks import NAMES, visit_landmarks

#: At least this share of captures holds exactly one face (measured 141/144 = 97.9%).
MIN_ONE_FACE_RATE = 0.97
#: The landmarks' median error, as a fraction of the inter-ocular distance (measured 0.066).
MAX_MEDIAN_ERROR = 0.075
#: ...and each landmark's own median error (measured at most 0.079, the nose tip).
MAX_LANDMARK_MEDIAN_ERROR = 0.09


@pytest.fixture(scope="module")
def detections():
    """Every capture's detection and the renderer's five landmarks for it."""
    import torch

    torch.set_num_threads(2)
    config = SynthConfig(subjects=32, sessions=2, seed=2024)  # default rig and size
    pictures, truth = [], []
    for subject in range(config.subjects):
        for session in range(config.sessions if subject < 4 else 1):
            visit = render_visit(config, subject, session)
            landmarks = visit_landmarks(config, subject, session)
            pictures.extend(detection_picture(capture) for capture in visit.images)
            truth.extend(landmarks for _ in visit.images)
    return FaceDetector().detect(pictures), truth


@pytest.mark.slow
def test_detector_finds_exactly_one_face_in_nearly_every_capture(detections):
    found, _ = detections
    faces = [0 if d is None else d.n_faces for d in found]
    assert all(d is None or d.score >= MIN_CONFIDENCE for d in found)
    rate = float(np.mean(np.array(faces) == 1))
    print(
        f"FaceDetector: exactly one face in {rate:.1%} of {len(found)} captures "
        f"(none: {faces.count(0)}, several: {sum(f > 1 for f in faces)})"
    )
    assert len(found) >= 100
    assert rate >= MIN_ONE_FACE_RATE


@pytest.mark.slow
def test_detected_landmarks_lie_where_the_renderer_put_them(detections):
    found, truth = detections
    errors = np.array(
        [
            np.linalg.norm(d.landmarks - t, axis=1) / np.linalg.norm(t[1] - t[0])
            for d, t in zip(found, truth, strict=True)
            if d is not None
        ]
    )
    medians = np.median(errors, axis=0)
    print(
        f"landmark error / inter-ocular distance over {len(errors)} faces: median "
        f"{np.median(errors):.3f}; "
        + ", ".join(f"{n} {m:.3f}" for n, m in zip(NAMES, medians, strict=True))
    )
    assert len(errors) >= 100
    assert np.median(errors) < MAX_MEDIAN_ERROR
    assert np.all(medians < MAX_LANDMARK_MEDIAN_ERROR)
