"""Verification and identification metrics over score arrays, in plain NumPy.

Conventions, used by every function here:

* a *score* is a cosine similarity: larger means "more likely the same person";
* a comparison is *accepted* at threshold ``t`` when ``score >= t``;
* FAR(t) (false accept rate) is the fraction of impostor scores accepted, TAR(t) (true
  accept rate) the fraction of genuine scores accepted, FRR(t) = 1 - TAR(t).

Scores are read as float64 for the arithmetic; arrays may be float32 to save memory.
Nothing here touches files, models or plotting.
"""

from __future__ import annotations

import math

import numpy as np

#: The FARs ``verification_summary`` reports TAR at, and their report keys.
REPORT_FARS = (1e-2, 1e-3, 1e-4)


def far_key(far: float) -> str:
    """The report key of a FAR: ``1e-2`` for 0.01 (no zero padding, as INTERFACES.md)."""
    mantissa, exponent = f"{far:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


# ---------------------------------------------------------------------------------------
# Pairs
# ---------------------------------------------------------------------------------------


def pair_scores(
    embeddings: np.ndarray, labels: np.ndarray, *, block: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine scores of all unordered pairs ``i < j``, split into genuine and impostor.

    Parameters
    ----------
    embeddings : (n, d) array
        L2-normalised rows, so the dot product is the cosine.
    labels : (n,) array
        Identity of each row; a pair is *genuine* when its labels are equal.
    block : int, optional
        Rows per matrix product, bounding the temporary memory at ``block * n`` scores.

    Returns
    -------
    genuine, impostor : 1-D arrays
        Scores of the ``n (n - 1) / 2`` pairs, in row-major pair order, with the
        embeddings' floating dtype (at least float32).
    """
    embeddings = np.asarray(embeddings)
    labels = np.asarray(labels)
    if embeddings.ndim != 2 or labels.shape != (embeddings.shape[0],):
        raise ValueError("embeddings must be (n, d) and labels (n,) with the same n.")
    dtype = np.result_type(embeddings.dtype, np.float32)
    embeddings = embeddings.astype(dtype, copy=False)
    _, codes = np.unique(labels, return_inverse=True)
    n = embeddings.shape[0]
    genuine: list[np.ndarray] = []
    impostor: list[np.ndarray] = []
    for start in range(0, n, block):
        stop = min(start + block, n)
        scores = embeddings[start:stop] @ embeddings[start:].T  # (b, n - start)
        rows = np.arange(start, stop)[:, None]
        cols = np.arange(start, n)[None, :]
        upper = cols > rows
        same = codes[rows] == codes[cols]
        genuine.append(scores[upper & same])
        impostor.append(scores[upper & ~same])
    empty = np.empty(0, dtype)
    return (
        np.concatenate(genuine) if genuine else empty,
        np.concatenate(impostor) if impostor else empty,
    )


# ---------------------------------------------------------------------------------------
# Verification (1:1)
# ---------------------------------------------------------------------------------------


def _check_scores(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    genuine = np.asarray(genuine, dtype=np.float64).ravel()
    impostor = np.asarray(impostor, dtype=np.float64).ravel()
    if genuine.size == 0 or impostor.size == 0:
        raise ValueError("need at least one genuine and one impostor score.")
    if not (np.isfinite(genuine).all() and np.isfinite(impostor).all()):
        raise ValueError("scores must be finite.")
    return genuine, impostor


def roc_curve(
    genuine: np.ndarray, impostor: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ROC: FAR and TAR at every distinct score used as a threshold.

    Returns
    -------
    far, tar, thresholds : 1-D float64 arrays
        ``thresholds`` runs from ``+inf`` (nothing accepted: FAR = TAR = 0) down through
        every distinct score to the lowest (everything accepted: FAR = TAR = 1);
        ``far[k] = mean(impostor >= thresholds[k])``, likewise ``tar`` for genuine.
        Both are non-decreasing.
    """
    genuine, impostor = _check_scores(genuine, impostor)
    g_sorted = np.sort(genuine)
    i_sorted = np.sort(impostor)
    thresholds = np.concatenate([[np.inf], np.unique(np.concatenate([genuine, impostor]))[::-1]])
    tar = (genuine.size - np.searchsorted(g_sorted, thresholds, side="left")) / genuine.size
    far = (impostor.size - np.searchsorted(i_sorted, thresholds, side="left")) / impostor.size
    return far, tar, thresholds


def roc_auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Area under the ROC: P(genuine > impostor) + P(genuine == impostor) / 2.

    This is the Mann-Whitney statistic over all genuine-impostor pairs with ties counted
    half, equal to scikit-learn's ``roc_auc_score`` with genuine as the positive class.
    Cost O((G + I) log I), without forming the G x I pairs.
    """
    genuine, impostor = _check_scores(genuine, impostor)
    i_sorted = np.sort(impostor)
    below = np.searchsorted(i_sorted, genuine, side="left")
    below_or_equal = np.searchsorted(i_sorted, genuine, side="right")
    wins = below.sum(dtype=np.int64) + 0.5 * (below_or_equal - below).sum(dtype=np.int64)
    return float(wins / (genuine.size * impostor.size))


def equal_error_rate(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """The error rate where FAR equals FRR, linearly interpolated along the ROC
    (:func:`eer_from_roc` of :func:`roc_curve`)."""
    far, tar, _ = roc_curve(genuine, impostor)
    return eer_from_roc(far, tar)


def eer_from_roc(far: np.ndarray, tar: np.ndarray) -> float:
    """The EER of ROC points, so that weighted ROCs (the identity bootstrap's) share it.

    ``far`` and ``tar`` are non-decreasing from (0, 0) to (1, 1), as :func:`roc_curve`
    gives them. Walking from the strictest threshold, ``FAR - FRR`` goes from -1 to +1;
    the EER is the common value of FAR and FRR where the straight segment between the
    two points around the sign change crosses zero. Perfectly separated scores give 0.
    """
    far, tar = np.asarray(far, dtype=np.float64), np.asarray(tar, dtype=np.float64)
    diff = far - (1.0 - tar)
    k = int(np.argmax(diff >= 0))  # the first point at or past the crossing; diff[0] = -1
    if diff[k] == 0:
        return float(far[k])
    alpha = diff[k - 1] / (diff[k - 1] - diff[k])
    return float(far[k - 1] + alpha * (far[k] - far[k - 1]))


def min_impostors(far: float) -> int:
    """The fewest impostor scores for which TAR at ``far`` is reported: ceil(1 / far).

    With fewer, no threshold can accept even one impostor while keeping FAR <= ``far``,
    so the "TAR at that FAR" would be TAR at FAR = 0 under another name.
    """
    return math.ceil(1.0 / far - 1e-9)


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, far: float) -> float:
    """The highest TAR of any threshold whose FAR is at most ``far``.

    With ``k = floor(far * I)`` impostors allowed through, the loosest admissible
    threshold accepts exactly the scores above the (k+1)-th highest impostor score
    ``v``; the result is ``mean(genuine > v)`` (or 1 when ``k >= I``). Ties at ``v``
    are rejected, so the FAR bound holds exactly.

    Returns NaN when there are fewer than :func:`min_impostors` impostor scores: the
    FAR cannot then be measured at that level (``verification_summary`` says so).
    """
    if not 0 < far <= 1:
        raise ValueError(f"far must be in (0, 1], got {far}.")
    genuine, impostor = _check_scores(genuine, impostor)
    if impostor.size < min_impostors(far):
        return math.nan
    allowed = math.floor(far * impostor.size + 1e-9)
    if allowed >= impostor.size:
        return 1.0
    # The (allowed + 1)-th highest impostor score, by partial sort.
    v = np.partition(impostor, impostor.size - allowed - 1)[impostor.size - allowed - 1]
    return float(np.mean(genuine > v))


def threshold_at_far(
    impostor: np.ndarray, far: float, *, weights: np.ndarray | None = None
) -> float:
    """The lowest threshold (accept ``score >= t``) whose FAR on ``impostor`` is <= far.

    FAR is the accepted share of the impostors' total weight; ``weights`` (default 1
    each) let a resample count a score several times without copying it (the identity
    bootstrap of open-set identification). The threshold is the next float, in the
    scores' precision, above the highest score that must be rejected: walking down the
    scores, the first whose cumulative weight exceeds ``far`` of the total. With unit
    weights that is the (k+1)-th highest score, k = floor(far * I), matching
    :func:`tar_at_far`. Used to calibrate a verification threshold.
    """
    impostor = np.asarray(impostor).ravel()
    if not np.issubdtype(impostor.dtype, np.floating):
        impostor = impostor.astype(np.float64)
    if impostor.size == 0:
        raise ValueError("need at least one impostor score.")
    if not 0 < far <= 1:
        raise ValueError(f"far must be in (0, 1], got {far}.")
    if weights is None:
        weights = np.ones(impostor.size)
    weights = np.asarray(weights, dtype=np.float64).ravel()
    if weights.shape != impostor.shape:
        raise ValueError("weights must have one entry per impostor score.")
    order = np.argsort(-impostor, kind="stable")
    cumulative = np.cumsum(weights[order])
    over = np.flatnonzero(cumulative > far * cumulative[-1] + 1e-9)
    if over.size == 0:
        return float(impostor.min())
    v = impostor[order[over[0]]]
    # The next value in the scores' own precision, so float32 scores compare correctly.
    return float(np.nextafter(v, np.asarray(np.inf, v.dtype)))


def verification_summary(
    genuine: np.ndarray, impostor: np.ndarray, *, fars: tuple[float, ...] = REPORT_FARS
) -> dict:
    """The verification numbers of a report, JSON-ready.

    Keys: ``auc``, ``eer``, ``tar_at_far`` (``{"1e-2": ..., ...}``, ``None`` where
    there are too few impostor pairs), ``tar_at_far_note`` (why each ``None`` is one),
    ``n_genuine``, ``n_impostor``.
    """
    genuine, impostor = _check_scores(genuine, impostor)
    tars: dict[str, float | None] = {}
    notes: dict[str, str] = {}
    for far in fars:
        value = tar_at_far(genuine, impostor, far)
        key = far_key(far)
        if math.isnan(value):
            tars[key] = None
            notes[key] = (
                f"not measured: {impostor.size} impostor pairs, at least "
                f"{min_impostors(far)} needed for FAR {key}"
            )
        else:
            tars[key] = value
    return {
        "auc": roc_auc(genuine, impostor),
        "eer": equal_error_rate(genuine, impostor),
        "tar_at_far": tars,
        "tar_at_far_note": notes,
        "n_genuine": int(genuine.size),
        "n_impostor": int(impostor.size),
    }


# ---------------------------------------------------------------------------------------
# Identification (1:N)
# ---------------------------------------------------------------------------------------


def genuine_ranks(
    scores: np.ndarray, gallery_labels: np.ndarray, probe_labels: np.ndarray
) -> np.ndarray:
    """The rank (1 = best) of each probe's true identity among the gallery identities.

    ``scores`` is (P, G), one column per gallery *identity* (labels distinct). A rank
    counts the other identities scoring at least as high, plus one: ties count against
    the probe, so an embedder that maps everyone to one point ranks every probe last
    rather than first. Probes whose identity is not in the gallery get rank 0.
    """
    scores = np.asarray(scores, dtype=np.float64)
    gallery_labels = np.asarray(gallery_labels)
    probe_labels = np.asarray(probe_labels)
    if scores.shape != (probe_labels.size, gallery_labels.size):
        raise ValueError("scores must be (n_probes, n_gallery_identities).")
    if np.unique(gallery_labels).size != gallery_labels.size:
        raise ValueError("gallery labels must be distinct (one column per identity).")
    match = probe_labels[:, None] == gallery_labels[None, :]
    mated = match.any(axis=1)
    true_score = np.where(match, scores, -np.inf).max(axis=1)
    ranks = (scores >= true_score[:, None]).sum(axis=1)  # the true identity counts once
    return np.where(mated, ranks, 0)


def cmc(ranks: np.ndarray, max_rank: int | None = None) -> np.ndarray:
    """Cumulative match characteristic: ``cmc[r - 1]`` = share of mated probes at rank <= r.

    ``ranks`` are from :func:`genuine_ranks`; unmated probes (rank 0) are left out.
    """
    ranks = np.asarray(ranks)
    ranks = ranks[ranks > 0]
    if ranks.size == 0:
        raise ValueError("no mated probes: every probe's identity is missing from the gallery.")
    max_rank = int(ranks.max()) if max_rank is None else max_rank
    counts = np.bincount(np.minimum(ranks, max_rank + 1), minlength=max_rank + 2)[1 : max_rank + 1]
    return np.cumsum(counts) / ranks.size


def mean_average_precision(
    scores: np.ndarray, gallery_labels: np.ndarray, probe_labels: np.ndarray
) -> float:
    """Mean over mated probes of the average precision of their ranked gallery list.

    ``scores`` is (P, G) against gallery *templates* (labels may repeat, e.g. one per
    enrolled session); each probe's relevant items are the templates of its identity.
    AP = mean over relevant items of precision at that item's position, items sorted by
    descending score, with ties against the probe (as :func:`genuine_ranks`): among
    equal scores the other identities' templates come first.
    """
    scores = np.asarray(scores, dtype=np.float64)
    gallery_labels = np.asarray(gallery_labels)
    probe_labels = np.asarray(probe_labels)
    relevant = probe_labels[:, None] == gallery_labels[None, :]
    irrelevant_first = np.argsort(relevant, axis=1, kind="stable")
    tied_order = np.take_along_axis(scores, irrelevant_first, axis=1)
    by_score = np.argsort(-tied_order, axis=1, kind="stable")
    order = np.take_along_axis(irrelevant_first, by_score, axis=1)
    relevant = np.take_along_axis(relevant, order, axis=1)
    n_relevant = relevant.sum(axis=1)
    mated = n_relevant > 0
    if not mated.any():
        raise ValueError("no mated probes: every probe's identity is missing from the gallery.")
    hits = np.cumsum(relevant, axis=1)
    positions = np.arange(1, scores.shape[1] + 1)
    precision_sum = np.where(relevant, hits / positions, 0.0).sum(axis=1)
    return float(np.mean(precision_sum[mated] / n_relevant[mated]))


def dir_at_fpir(
    scores: np.ndarray,
    gallery_labels: np.ndarray,
    probe_labels: np.ndarray,
    fpir: float,
    *,
    rank: int = 1,
) -> tuple[float, float]:
    """Open-set detection-and-identification rate at a false-positive identification rate.

    ``scores`` is (P, G) against gallery *identities* (distinct labels). Non-mated
    probes (identity not enrolled) set the threshold: FPIR(t) is the share of them whose
    best score is ``>= t``; ``t`` is the lowest threshold with FPIR <= ``fpir`` (rule of
    :func:`threshold_at_far`). DIR(t) is the share of mated probes whose true identity
    is within ``rank`` and scores ``>= t`` (:func:`open_set_dir`).

    Returns ``(dir, threshold)``; ``(nan, nan)`` when there are fewer than
    ``ceil(1 / fpir)`` non-mated probes, or no mated ones.
    """
    scores = np.asarray(scores, dtype=np.float64)
    gallery_labels = np.asarray(gallery_labels)
    probe_labels = np.asarray(probe_labels)
    ranks = genuine_ranks(scores, gallery_labels, probe_labels)
    mated = ranks > 0
    non_mated_best = scores[~mated].max(axis=1) if scores.shape[1] else np.empty(0)
    match = probe_labels[mated][:, None] == gallery_labels[None, :]
    true_score = np.where(match, scores[mated], -np.inf).max(axis=1, initial=-np.inf)
    return open_set_dir(ranks[mated], true_score, non_mated_best, fpir, rank=rank)


def open_set_dir(
    mated_ranks: np.ndarray,
    mated_scores: np.ndarray,
    non_mated_best: np.ndarray,
    fpir: float,
    *,
    rank: int = 1,
    mated_weights: np.ndarray | None = None,
    non_mated_weights: np.ndarray | None = None,
) -> tuple[float, float]:
    """:func:`dir_at_fpir` from per-probe summaries, which a bootstrap computes once.

    Parameters
    ----------
    mated_ranks, mated_scores : (M,) arrays
        Each mated probe's rank of its true identity (:func:`genuine_ranks`) and that
        identity's score.
    non_mated_best : (N,) array
        Each non-mated search's best score.
    fpir : float
        The false-positive identification rate that sets the threshold.
    rank : int, optional
        A mated probe is identified when its rank is at most this.
    mated_weights, non_mated_weights : arrays, optional
        How many times each probe counts (default once), for resampling.

    Returns
    -------
    dir, threshold : float
        ``(nan, nan)`` when there are fewer than ``ceil(1 / fpir)`` non-mated searches,
        or no mated probes.
    """
    mated_ranks, mated_scores = np.asarray(mated_ranks), np.asarray(mated_scores)
    non_mated_best = np.asarray(non_mated_best)
    if non_mated_best.size < min_impostors(fpir) or mated_ranks.size == 0:
        return math.nan, math.nan
    threshold = threshold_at_far(non_mated_best, fpir, weights=non_mated_weights)
    detected = (mated_ranks <= rank) & (mated_scores >= threshold)
    return float(np.average(detected, weights=mated_weights)), threshold
