"""The evaluation protocol: who is enrolled, who probes, and which pairs are compared.

Following the seed study: for every identity, its earliest sessions (``n_enrol`` of
them, by session label order) form the gallery and the remaining sessions are probes.
Identities with a single session cannot probe themselves; they still enrol, so they act
as distractors for everyone else. Verification compares all unordered pairs of samples.
Open-set identification needs no identities held back: each probe also searches with
its own identity removed (:mod:`gallery.evaluation`). Everything here works on label
arrays and indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from psbase.errors import ConfigError
from psbase.labels import natural_key


@dataclass(frozen=True)
class Split:
    """Row indices into the evaluated samples."""

    gallery: np.ndarray  # enrolled samples
    probes: np.ndarray  # samples of enrolled identities, searched against the gallery


def session_order(subject: np.ndarray, session: np.ndarray) -> np.ndarray:
    """Indices sorted by identity, then session label in natural order (``v2`` before
    ``v10``: capture order, earliest first), then position."""
    names, inverse = np.unique(np.asarray(session).astype(str), return_inverse=True)
    rank = np.empty(names.size, np.int64)
    ordered = sorted(range(names.size), key=lambda i: natural_key(str(names[i])))
    rank[ordered] = np.arange(names.size)
    return np.lexsort((np.arange(subject.size), rank[inverse.reshape(-1)], subject))


def gallery_probe_split(subject: np.ndarray, session: np.ndarray, *, n_enrol: int = 1) -> Split:
    """Split samples into the gallery (each identity's earliest ``n_enrol`` sessions) and
    probes (the rest).

    Parameters
    ----------
    subject, session : (N,) labels; session labels sort in capture order (dates, v00..)
    n_enrol : sessions per identity enrolled (its earliest); the rest probe
    """
    subject, session = np.asarray(subject), np.asarray(session)
    if n_enrol < 1:
        raise ConfigError(f"sessions to enrol must be at least 1, got {n_enrol}")
    order = session_order(subject, session)
    _, first, counts = np.unique(subject[order], return_index=True, return_counts=True)
    position = np.arange(order.size) - np.repeat(first, counts)  # 0 = earliest session
    enrolled = position < n_enrol
    return Split(gallery=np.sort(order[enrolled]), probes=np.sort(order[~enrolled]))
