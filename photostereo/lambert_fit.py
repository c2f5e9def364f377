"""Per-pixel weighted least squares for b = rho n, in closed form over whole arrays.

Every solver that trusts some observations more than others solves, per pixel,
``(sum_k w_k s_k s_k^T + lambda I) b = sum_k w_k I_k s_k + lambda b0``: a 3 x 3
symmetric system whose inverse has a closed form (the adjugate over the determinant),
so NumPy solves millions of them as a few whole-array expressions.
"""

from __future__ import annotations

import numpy as np


def packed_normal_matrix(s: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(6, P): the entries a, b, c, d, e, f of sum_k w_k s_k s_k^T = [[a b c] [b d e] [c e f]]."""
    sx, sy, sz = s[:, 0], s[:, 1], s[:, 2]
    outer = np.stack([sx * sx, sx * sy, sx * sz, sy * sy, sy * sz, sz * sz])
    return outer @ w.astype(np.float64)


def weighted_fit(
    s: np.ndarray,
    obs: np.ndarray,
    w: np.ndarray,
    *,
    prior: tuple[float | np.ndarray, np.ndarray] | None = None,
    tolerance: float = 1e-12,
) -> tuple[np.ndarray, np.ndarray]:
    """Solve (sum_k w_k s_k s_k^T + lambda I) b = sum_k w_k I_k s_k + lambda b0 per pixel.

    ``prior`` is ``(lambda, b0 (3, P))``. Returns b (3, P), zero where the system is
    singular (determinant at most ``tolerance`` times the cube of the mean eigenvalue),
    and a flag (P,) that is False there.
    """
    rhs = s.T @ (w * obs)
    weight: float | np.ndarray = 0.0
    if prior is not None:
        weight, b0 = prior
        rhs = rhs + weight * b0
    inverse, ok = regularised_inverses(s, w, weight, tolerance)
    return np.einsum("cdp,dp->cp", inverse, rhs), ok


def regularised_inverses(
    s: np.ndarray, w: np.ndarray, weight: float | np.ndarray = 0.0, tolerance: float = 1e-12
) -> tuple[np.ndarray, np.ndarray]:
    """(3, 3, P) inverses of sum_k w_k s_k s_k^T + lambda I by the adjugate over the
    determinant, zero where singular (:func:`weighted_fit`), and a flag (P,) that is
    False there."""
    a, b, c, d, e, f = packed_normal_matrix(s, w)
    a, d, f = a + weight, d + weight, f + weight
    c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
    c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
    det = a * c00 + b * c01 + c * c02
    ok = det > tolerance * np.maximum((a + d + f) / 3.0, 1e-300) ** 3
    inv_det = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    adjugate = np.stack([[c00, c01, c02], [c01, c11, c12], [c02, c12, c22]])
    return adjugate * inv_det, ok


def condition_numbers(s: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(P,) condition number of each pixel's weighted light matrix, sqrt of that of
    sum_k w_k s_k s_k^T, whose eigenvalues come in closed form (Smith 1961)."""
    a, b, c, d, e, f = packed_normal_matrix(s, w)
    q = (a + d + f) / 3.0
    p1 = b * b + c * c + e * e
    p2 = (a - q) ** 2 + (d - q) ** 2 + (f - q) ** 2 + 2.0 * p1
    p = np.sqrt(np.maximum(p2, 0.0) / 6.0)
    safe = np.where(p > 1e-300, p, 1.0)
    ba, bd, bf = (a - q) / safe, (d - q) / safe, (f - q) / safe
    bb, bc, be = b / safe, c / safe, e / safe
    half_det = 0.5 * (
        ba * (bd * bf - be * be) - bb * (bb * bf - be * bc) + bc * (bb * be - bd * bc)
    )
    phi = np.arccos(np.clip(half_det, -1.0, 1.0)) / 3.0
    largest = q + 2.0 * p * np.cos(phi)
    smallest = q + 2.0 * p * np.cos(phi + 2.0 * np.pi / 3.0)
    ratio = largest / np.where(smallest > 0, smallest, 1.0)
    return np.where(smallest > 1e-12 * np.maximum(largest, 1e-300), np.sqrt(ratio), np.inf)
