"""Batch orders for an epoch, derived from (seed, epoch) alone so a resumed run sees the
same batches as an uninterrupted one."""

from __future__ import annotations

import numpy as np

from psbase.errors import ConfigError


def _rng(seed: int, epoch: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(epoch, stream)))


def shuffled_batches(n: int, batch_size: int, *, seed: int, epoch: int) -> list[np.ndarray]:
    """A permutation of range(n) cut into full batches (the remainder is dropped, so
    BatchNorm never sees a batch of one); one batch of everything when n < batch_size."""
    order = _rng(seed, epoch, 0).permutation(n)
    if n < batch_size:
        return [order]
    return [order[i : i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]


def pk_batches(labels: np.ndarray, p: int, k: int, *, seed: int, epoch: int) -> list[np.ndarray]:
    """Identity-balanced batches: P identities × K samples each (FaceNet's sampling).

    Every identity appears once per epoch as one of the P; one with fewer than K samples
    is drawn with replacement, one with more gives K distinct samples. Each batch holds
    exactly P·K indices grouped by identity; the last, incomplete group of identities is
    dropped. Identities with a single sample are skipped (they form no positive pair).
    """
    if p < 2 or k < 2:
        raise ConfigError(f"P x K sampling needs P >= 2 and K >= 2, got {p} x {k}")
    rng = _rng(seed, epoch, 1)
    classes, inverse = np.unique(labels, return_inverse=True)
    members = [np.flatnonzero(inverse == c) for c in range(len(classes))]
    usable = np.array([c for c, m in enumerate(members) if len(m) >= 2])
    if len(usable) < p:
        raise ConfigError(
            f"P x K sampling needs {p} people with two samples or more, got {len(usable)}; "
            f"lower P (--pk)"
        )
    order = rng.permutation(usable)
    batches = []
    for start in range(0, len(order) - p + 1, p):
        picks = [
            rng.choice(members[c], size=k, replace=len(members[c]) < k)
            for c in order[start : start + p]
        ]
        batches.append(np.concatenate(picks))
    return batches
