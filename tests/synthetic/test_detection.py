"""The faces look like faces to a real detector: MTCNN finds exactly one in each capture."""

from __future__ import annotations

import numpy as np
import pytest

from synthetic_faces.generate import SynthConfig, render_visit

facenet = pytest.importorskip("facenet_pytorch")

#: A detection counts when MTCNN's final-stage probability exceeds this.
MIN_PROBABILITY = 0.9


@pytest.mark.slow
def test_mtcnn_finds_exactly_one_face_in_at_least_95_percent_of_captures():
    import torch

    torch.set_num_threads(2)
    config = SynthConfig(subjects=32, sessions=2, seed=2024)  # default rig and size
    captures = []
    for subject in range(config.subjects):
        for session in range(config.sessions if subject < 4 else 1):
            visit = render_visit(config, subject, session)
            grey = np.rint(np.clip(visit.images, 0, 1) * 255).astype(np.uint8)
            captures.extend(np.repeat(g[..., None], 3, axis=-1) for g in grey)
    detector = facenet.MTCNN(keep_all=True, device="cpu")
    _, probs = detector.detect(np.stack(captures))
    faces = [
        0 if p is None or p[0] is None else int((np.asarray(p) > MIN_PROBABILITY).sum())
        for p in probs
    ]
    rate = float(np.mean(np.array(faces) == 1))
    print(
        f"MTCNN: exactly one face in {rate:.1%} of {len(captures)} captures "
        f"(none: {faces.count(0)}, several: {sum(f > 1 for f in faces)})"
    )
    assert len(captures) >= 100
    assert rate >= 0.95
