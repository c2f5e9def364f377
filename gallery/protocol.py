"""The evaluation protocol: who is enrolled, who probes, and which pairs are compared.

Following the seed study: for every identity, its earliest sessions (``n_enrol`` of
them, by session label order) form the gallery and the remaining sessions are probes.
Identities with a single session cannot probe themselves; they still enrol, so they act
as distractors for everyone else. Verification compares all unordered pairs of samples.

Open-set identification needs probes of people who are *not* enrolled: a share of the
identities (``open_set_fraction``, chosen by a seeded draw) is left out of the gallery,
and their probes play impostors. Everything here works on label arrays and indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    """Row indices into the evaluated samples."""

    gallery: np.ndarray  # enrolled samples
    probes: np.ndarray  # samples of enrolled identities, searched against the gallery
    non_mated: np.ndarray  # samples of identities left out of the gallery (open set)


def session_order(subject: np.ndarray, session: np.ndarray) -> np.ndarray:
    """Indices sorted by identity, then session label (natural 'earliest first' order)."""
    return np.lexsort((np.arange(subject.size), session, subject))


def gallery_probe_split(
    subject: np.ndarray,
    session: np.ndarray,
    *,
    n_enrol: int = 1,
    open_set_fraction: float = 0.0,
    seed: int = 0,
) -> Split:
    """Split samples into gallery, mated probes and non-mated probes.

    Parameters
    ----------
    subject, session : (N,) labels; session labels sort in capture order (dates, v00..)
    n_enrol : sessions per identity enrolled (its earliest); the rest probe
    open_set_fraction : share of identities (with at least two sessions) left out of
        the gallery entirely; all their sessions become non-mated probes
    seed : for the choice of left-out identities
    """
    subject, session = np.asarray(subject), np.asarray(session)
    if n_enrol < 1:
        raise ValueError(f"n_enrol must be at least 1, got {n_enrol}.")
    if not 0 <= open_set_fraction < 1:
        raise ValueError(f"open_set_fraction must be in [0, 1), got {open_set_fraction}.")
    order = session_order(subject, session)
    ids, first, counts = np.unique(subject[order], return_index=True, return_counts=True)
    position = np.arange(order.size) - np.repeat(first, counts)  # 0 = earliest session
    rng = np.random.default_rng(seed)
    multi = ids[counts > 1]
    n_out = round(open_set_fraction * multi.size)
    left_out = rng.choice(multi, n_out, replace=False) if n_out else np.array([], ids.dtype)
    out = np.isin(subject[order], left_out)
    enrolled = (position < n_enrol) & ~out
    return Split(
        gallery=np.sort(order[enrolled]),
        probes=np.sort(order[~enrolled & ~out]),
        non_mated=np.sort(order[out]),
    )
