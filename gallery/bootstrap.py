"""Identity-level bootstrap of verification metrics, without re-sorting per replicate.

Pairs that share a person are not independent, so resampling *pairs* gives intervals
that are too narrow. Here each replicate resamples *identities* with replacement
(multiplicities ``c``) and re-weights the existing pairs instead of rebuilding them:

* a genuine pair of identity ``a`` counts ``c[a]`` times;
* an impostor pair of identities ``a`` and ``b`` counts ``c[a] * c[b]`` times;
* pairs between two copies of one drawn identity are left out (they are neither).

The scores are sorted once; a replicate is a weighted cumulative sum over that order,
O(pairs), from which the weighted ROC gives AUC (trapezoids, so ties count half), the EER
(:func:`gallery.metrics.eer_from_roc`) and TAR at a FAR with the same definitions as
:mod:`gallery.metrics` (with unit weights they return exactly the unweighted numbers).
"""

from __future__ import annotations

import math

import numpy as np

from gallery.metrics import eer_from_roc, far_key


def pair_identities(labels: np.ndarray, *, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Identity codes of the pairs of :func:`gallery.metrics.pair_scores`, in its order.

    Returns ``(genuine (G,), impostor (I, 2))``: the identity of each genuine pair and
    the two identities of each impostor pair, as indices into ``np.unique(labels)``.
    """
    _, codes = np.unique(np.asarray(labels), return_inverse=True)
    codes = codes.astype(np.int32)
    n = codes.size
    genuine, impostor = [], []
    for start in range(0, n, block):
        stop = min(start + block, n)
        rows = np.arange(start, stop)[:, None]
        cols = np.arange(start, n)[None, :]
        upper = cols > rows
        a = np.broadcast_to(codes[rows], upper.shape)
        b = np.broadcast_to(codes[cols], upper.shape)
        same = a == b
        genuine.append(a[upper & same])
        impostor.append(np.stack([a[upper & ~same], b[upper & ~same]], axis=1))
    return (
        np.concatenate(genuine) if genuine else np.empty(0, np.int32),
        np.concatenate(impostor) if impostor else np.empty((0, 2), np.int32),
    )


def roc_from_weights(
    scores_desc_groups: np.ndarray, w_genuine: np.ndarray, w_impostor: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted (far, tar) at every distinct score, strictest first, starting at (0, 0).

    ``w_genuine`` and ``w_impostor`` are per-score weights in descending score order;
    ``scores_desc_groups`` holds the index of the last score of each run of equal scores.
    """
    cum_g = np.concatenate([[0.0], np.cumsum(w_genuine)[scores_desc_groups]])
    cum_i = np.concatenate([[0.0], np.cumsum(w_impostor)[scores_desc_groups]])
    return cum_i / cum_i[-1], cum_g / cum_g[-1]


class IdentityBootstrap:
    """Replicates of AUC, EER and TAR@FAR under identity resampling."""

    def __init__(
        self,
        genuine: np.ndarray,
        impostor: np.ndarray,
        genuine_id: np.ndarray,
        impostor_ids: np.ndarray,
        n_identities: int,
    ) -> None:
        scores = np.concatenate([genuine, impostor]).astype(np.float64)
        order = np.argsort(-scores, kind="stable")
        self.is_genuine = order < genuine.size
        s = scores[order]
        self.group_ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
        ids = np.concatenate([np.stack([genuine_id, genuine_id], axis=1), impostor_ids])[order]
        self.a, self.b = ids[:, 0], ids[:, 1]
        self.n_identities = n_identities

    def metrics(self, counts: np.ndarray, fars: tuple[float, ...]) -> dict:
        """AUC, EER and {far_key: TAR} for identity multiplicities ``counts``."""
        counts = counts.astype(np.float64)
        w = np.where(self.is_genuine, counts[self.a], counts[self.a] * counts[self.b])
        w_g = np.where(self.is_genuine, w, 0.0)
        w_i = np.where(self.is_genuine, 0.0, w)
        if w_g.sum() == 0 or w_i.sum() == 0:
            return {"auc": math.nan, "eer": math.nan, "tar": dict.fromkeys(map(far_key, fars))}
        far, tar = roc_from_weights(self.group_ends, w_g, w_i)
        auc = float(np.sum(np.diff(far) * (tar[1:] + tar[:-1]) / 2))
        tars = {far_key(f): float(tar[far <= f + 1e-12].max()) for f in fars}
        return {"auc": auc, "eer": eer_from_roc(far, tar), "tar": tars}

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """Multiplicities of one identity resample."""
        return np.bincount(
            rng.integers(0, self.n_identities, self.n_identities), minlength=self.n_identities
        )
