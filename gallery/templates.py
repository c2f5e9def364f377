"""Per-identity templates: normalising session templates and aggregating them.

An identity enrolled from several sessions keeps every session's template; the one that
``identify`` searches by default is their *aggregate*, the quality-weighted mean
renormalised to unit length. Weighting by quality lets a sharp, well-lit session count
more than a blurred one; renormalising keeps cosine scores comparable across identities
with different numbers of sessions.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse


def l2_normalise(rows: np.ndarray, *, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit L2 norm, float32; an all-zero row stays zero."""
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.sqrt(np.einsum("...i,...i->...", rows, rows))[..., None]
    return rows / np.maximum(norms, np.float32(eps))


def aggregate(
    templates: np.ndarray, quality: np.ndarray, subject: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One template per identity: the quality-weighted mean of its rows, renormalised.

    Parameters
    ----------
    templates : (N, D) float32, unit rows
    quality : (N,) non-negative weights; an identity whose weights are all zero (or not
        finite) falls back to the plain mean
    subject : (N,) identity labels

    Returns
    -------
    identities : (M,) the distinct labels, sorted
    aggregates : (M, D) float32, unit rows
    counts : (M,) int64, templates per identity
    """
    templates = np.asarray(templates, dtype=np.float32)
    quality = np.asarray(quality, dtype=np.float64)
    subject = np.asarray(subject)
    identities, codes, counts = np.unique(subject, return_inverse=True, return_counts=True)
    if identities.size == 0:
        return identities, np.zeros((0, templates.shape[1]), np.float32), counts
    weights = np.where(np.isfinite(quality) & (quality > 0), quality, 0.0)
    total = np.bincount(codes, weights=weights, minlength=identities.size)
    weights = np.where(total[codes] > 0, weights, 1.0)  # all-zero identity: plain mean
    # Sum rows per identity as a sparse (M, N) one-hot-times-weight product: O(N D).
    n = templates.shape[0]
    membership = sparse.csr_matrix(
        (weights.astype(np.float32), (codes, np.arange(n))), shape=(identities.size, n)
    )
    sums = membership @ templates
    return identities, l2_normalise(sums), counts
