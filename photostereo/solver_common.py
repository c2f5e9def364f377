"""What every photometric-stereo solver shares: its result type and input checks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A pixel needs this many usable observations to determine b = rho n.
MIN_OBSERVATIONS = 3
#: Codes of :attr:`PhotometricResult.how`: which step of the shadow-aware solver
#: (:mod:`photostereo.shadows`) solved a pixel.
HOW = {
    "unsolved": 0,
    "all lights": 1,
    "shadows dropped": 2,
    "neighbours": 3,
    "plain": 4,
    "cast shadow": 5,
}


@dataclass(frozen=True)
class PhotometricResult:
    """What a solver returns; every array is (H, W) or (H, W, 3) in the image frame.

    Attributes
    ----------
    normals : (H, W, 3) float32
        Unit normals (x right, y up, z toward the camera); zero where not solved.
    albedo : (H, W) float32
        rho, in the captures' units divided by the light intensity; zero where not solved.
    mask : (H, W) bool
        Pixels that were solved.
    residual : (H, W) float32
        RMS of the observed minus modelled intensity over the observations used, a
        per-pixel quality figure (zero where exactly three observations were used).
    n_used : (H, W) uint8
        Observations each pixel was solved from (weights above one half for ``robust``).
    underdetermined : (H, W) bool
        Pixels asked for but left unsolved: fewer than three usable observations, or
        usable lights too close to coplanar. Reported, never invented.
    how : (H, W) uint8, optional
        How each pixel was solved, where the solver says (codes in
        :data:`HOW`: 0 unsolved, 1 every usable light, 2 a shadowed
        light dropped, 3 from fewer than three lights with its neighbours' help, 4 plain
        least squares, 5 one light left out as cast-shadowed, chosen by the neighbours).
    notes : tuple of str
        What the solver had to do that a person should know (a fallback, say).
    """

    normals: np.ndarray
    albedo: np.ndarray
    mask: np.ndarray
    residual: np.ndarray
    n_used: np.ndarray
    underdetermined: np.ndarray
    how: np.ndarray | None = None
    notes: tuple[str, ...] = ()

    @property
    def partial_fraction(self) -> float:
        """Fraction of solved pixels that used fewer observations than there are lights."""
        solved = int(self.mask.sum())
        if solved == 0:
            return 0.0
        full = int(self.n_used[self.mask].max(initial=0))
        return float((self.n_used[self.mask] < full).sum() / solved)


def prepare_inputs(
    images: np.ndarray,
    directions: np.ndarray,
    intensities: np.ndarray | None,
    mask: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flatten the captures to (K, P) float32 and scale each light by its intensity."""
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must be (K, H, W), got shape {images.shape}")
    k, h, w = images.shape
    directions = np.asarray(directions, dtype=np.float32)
    if directions.shape != (k, 3):
        raise ValueError(f"directions must be ({k}, 3) for {k} images, got {directions.shape}")
    if k < MIN_OBSERVATIONS:
        raise ValueError(f"photometric stereo needs at least 3 images, got {k}")
    e = np.ones(k, np.float32) if intensities is None else np.asarray(intensities, np.float32)
    if e.shape != (k,) or not (e > 0).all():
        raise ValueError(f"intensities must be {k} positive numbers")
    stack = np.ascontiguousarray(images, dtype=np.float32).reshape(k, h * w)
    requested = np.ones((h, w), bool) if mask is None else np.asarray(mask, bool)
    if requested.shape != (h, w):
        raise ValueError(f"mask must be ({h}, {w}), got {requested.shape}")
    return stack, directions * e[:, None], requested
