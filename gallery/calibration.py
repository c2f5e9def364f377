"""Verification thresholds: a raw cosine, or the one giving a chosen false-accept rate.

A threshold stated as a FAR is portable across models (a cosine of 0.4 means different
things to different embedders); it is calibrated on impostor pairs of a labelled
calibration set the user provides, never on the pair being verified.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gallery.metrics import min_impostors, pair_scores, threshold_at_far
from psbase.errors import InputError


@dataclass(frozen=True)
class Threshold:
    """A decision threshold (accept when score >= value) and where it came from."""

    value: float
    far: float | None = None  # the target FAR, when calibrated
    n_impostor: int = 0  # impostor pairs it was calibrated on

    def describe(self) -> str:
        if self.far is None:
            return f"score >= {self.value:.4f}"
        return f"score >= {self.value:.4f} (FAR {self.far:g} on {self.n_impostor} impostor pairs)"


def calibrate(
    embeddings: np.ndarray, labels: np.ndarray, far: float, *, source: str | Path
) -> Threshold:
    """The threshold with FAR <= ``far`` on all impostor pairs of a labelled set.

    A set with too few impostor pairs to measure that FAR (fewer than ``ceil(1 / far)``)
    is the user's to change: an :class:`~psbase.errors.InputError` naming ``source``,
    the file the set was read from.
    """
    _, impostor = pair_scores(embeddings, labels)
    needed = min_impostors(far)
    if impostor.size < needed:
        raise InputError(
            source,
            f"the calibration set has {impostor.size} impostor pairs; FAR {far:g} needs at "
            f"least {needed}: use a larger set or a higher FAR",
        )
    return Threshold(threshold_at_far(impostor, far), far, int(impostor.size))
