"""A small maps.h5 from the synthetic generator's ground truth, shared by the tests."""

from __future__ import annotations

import pytest

from recognition.config import TrainConfig
from tests.recognition.ground_truth_maps import write_ground_truth_maps

PEOPLE, SESSIONS, SIZE = 24, 5, 32


@pytest.fixture(scope="session")
def maps_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("recognition") / "maps.h5"
    write_ground_truth_maps(path, subjects=PEOPLE, sessions=SESSIONS, size=SIZE, seed=5)
    return path


def tiny_config(**changes) -> TrainConfig:
    """An iResNet-18 at a quarter width on 32 px: seconds per epoch on a CPU."""
    base = {
        "modality": "normal",
        "size": SIZE,
        "width": 0.25,
        "embedding_dim": 128,
        "epochs": 2,
        "batch_size": 16,
        "lr": 0.05,
        "val_fraction": 0.25,
    }
    return TrainConfig(**{**base, **changes})
