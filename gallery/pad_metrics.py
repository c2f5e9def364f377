"""Presentation attack detection (PAD) metrics of ISO/IEC 30107-3, in plain NumPy.

Conventions, used by every function here:

* a *liveness score* is larger for "more likely a live face";
* a presentation is *classified bona fide* at threshold ``t`` when ``score >= t``, and
  as an attack otherwise;
* an *attack type* (the standard's PAI species: "print", "screen", "mask", ...) labels
  each attack presentation; the empty string :data:`BONA_FIDE` labels a live one.

The figures (ISO/IEC 30107-3, the standard's metrics for PAD subsystems):

* APCER(t) of one attack type: the share of its presentations classified bona fide,
  ``mean(attack_scores >= t)``, an attack that got through;
* BPCER(t): the share of bona fide presentations classified as attacks,
  ``mean(bona_fide_scores < t)``, a live person turned away;
* APCER_max(t): the largest APCER over the attack types. The standard reports the
  worst type rather than a pooled rate, which the commonest type would dominate;
* APCER at BPCER ``b``: APCER at the largest threshold whose BPCER is at most ``b``
  (:func:`threshold_at_bpcer`), the operating point that turns at most ``b`` of the
  live faces away;
* the DET curve: APCER against BPCER over every threshold.

A NaN score means that no liveness was measured for that presentation: the functions
taking ``(scores, attacks)`` leave those rows out (they are neither accepted nor
rejected), and those taking one class's scores refuse NaN. Scores are read as float64.
Nothing here touches files or plotting.
"""

from __future__ import annotations

import math

import numpy as np

from gallery.metrics import far_key, min_impostors, roc_curve

#: The label of a live (bona fide) presentation among the attack types.
BONA_FIDE = ""
#: The BPCERs ``pad_summary`` reports APCER at, keyed as FARs are (``"1e-2"``).
REPORT_BPCERS = (1e-2, 1e-3)


def _scores(scores: np.ndarray, what: str) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if scores.size == 0:
        raise ValueError(f"need at least one {what} score.")
    if np.isnan(scores).any():
        raise ValueError(f"{what} scores must not be NaN (leave unmeasured ones out).")
    return scores


def split_presentations(
    scores: np.ndarray, attacks: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(bona fide scores, {attack type: its scores}) with the NaN (unmeasured) rows left
    out; types sorted by name, a type whose every score is NaN absent."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    attacks = np.asarray(attacks, dtype=str).ravel()
    if scores.shape != attacks.shape:
        raise ValueError("scores and attacks must have one entry per presentation.")
    measured = ~np.isnan(scores)
    scores, attacks = scores[measured], attacks[measured]
    types = np.unique(attacks[attacks != BONA_FIDE])
    return scores[attacks == BONA_FIDE], {str(k): scores[attacks == k] for k in types}


def apcer(attack_scores: np.ndarray, threshold: float) -> float:
    """Share of one attack type's presentations classified bona fide (score >= t)."""
    return float(np.mean(_scores(attack_scores, "attack") >= threshold))


def bpcer(bona_fide_scores: np.ndarray, threshold: float) -> float:
    """Share of bona fide presentations classified as attacks (score < t)."""
    return float(np.mean(_scores(bona_fide_scores, "bona fide") < threshold))


def apcer_per_type(scores: np.ndarray, attacks: np.ndarray, threshold: float) -> dict[str, float]:
    """{attack type: APCER at ``threshold``}, types sorted; NaN scores left out."""
    _, by_type = split_presentations(scores, attacks)
    return {kind: apcer(attack, threshold) for kind, attack in by_type.items()}


def apcer_max(per_type: dict[str, float]) -> float:
    """The worst attack type's APCER (ISO/IEC 30107-3 takes the maximum over the PAI
    species), so a rare type that always gets through is not hidden by a common one."""
    if not per_type:
        raise ValueError("no attack types.")
    return max(per_type.values())


def threshold_at_bpcer(bona_fide_scores: np.ndarray, target: float) -> float:
    """The largest threshold whose BPCER on ``bona_fide_scores`` is at most ``target``.

    BPCER(t) counts the scores below ``t``; with ``k = floor(target * B)`` of the ``B``
    allowed below it, the largest such ``t`` is the (k+1)-th smallest score: every
    score under it may be rejected, and ties with it are accepted. Raising ``t`` past
    it would reject one more. It is the strictest threshold (the lowest APCER) that
    keeps BPCER <= ``target``. ``+inf`` when ``k >= B`` (everything may be rejected).
    """
    if not 0 < target <= 1:
        raise ValueError(f"target BPCER must be in (0, 1], got {target}.")
    scores = np.sort(_scores(bona_fide_scores, "bona fide"))
    allowed = math.floor(target * scores.size + 1e-9)
    return math.inf if allowed >= scores.size else float(scores[allowed])


def min_bona_fide(target: float) -> int:
    """The fewest bona fide scores at which APCER at BPCER ``target`` is reported:
    ceil(1 / target). With fewer, no threshold may reject even one live face, and the
    figure would be APCER at BPCER 0 under another name (as :func:`gallery.metrics.
    min_impostors` for FAR)."""
    return min_impostors(target)


def apcer_at_bpcer(scores: np.ndarray, attacks: np.ndarray, target: float) -> dict[str, float]:
    """{attack type: APCER, ..., "max": APCER_max} at :func:`threshold_at_bpcer` of the
    bona fide rows; NaN scores left out."""
    bona_fide, _ = split_presentations(scores, attacks)
    per_type = apcer_per_type(scores, attacks, threshold_at_bpcer(bona_fide, target))
    return {**per_type, "max": apcer_max(per_type)}


def det_curve(
    bona_fide_scores: np.ndarray, attack_scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The DET points of one attack type: BPCER and APCER at every distinct score.

    Returns
    -------
    bpcer, apcer, thresholds : 1-D float64 arrays
        ``thresholds`` runs from ``+inf`` (everything rejected: BPCER 1, APCER 0) down
        through every distinct score of either class to the lowest (everything accepted:
        BPCER 0, APCER 1); ``bpcer[k] = mean(bona_fide < thresholds[k])`` and
        ``apcer[k] = mean(attack >= thresholds[k])``. BPCER falls and APCER rises along
        it. It is the ROC (:func:`gallery.metrics.roc_curve`) with bona fide as genuine
        and the attack as impostor: APCER is its FAR and BPCER one minus its TAR.
    """
    far, tar, thresholds = roc_curve(
        _scores(bona_fide_scores, "bona fide"), _scores(attack_scores, "attack")
    )
    return 1.0 - tar, far, thresholds


def det_curves(
    scores: np.ndarray, attacks: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """{attack type: :func:`det_curve` against all bona fide rows}, NaN scores left out."""
    bona_fide, by_type = split_presentations(scores, attacks)
    return {kind: det_curve(bona_fide, attack) for kind, attack in by_type.items()}


def pad_summary(
    scores: np.ndarray,
    attacks: np.ndarray,
    threshold: float | None,
    *,
    bpcers: tuple[float, ...] = REPORT_BPCERS,
) -> dict:
    """The PAD numbers of a report at an operating ``threshold``, JSON-ready.

    Keys: ``threshold``; ``bpcer`` (None without measured bona fide rows); ``apcer``
    ({type: ...}); ``apcer_max``; ``apcer_at_bpcer`` ({"1e-2": {type: ..., "max": ...}
    or None where there are fewer than :func:`min_bona_fide` bona fide scores});
    ``apcer_at_bpcer_note`` (why each None is one); ``bona_fide`` and ``attacks``
    ({type: n}), the measured presentations counted; ``not_measured``, the rows left out
    for a NaN score. ``threshold`` None (none known) leaves the rates at it None.
    """
    bona_fide, by_type = split_presentations(scores, attacks)
    per_type = apcer_per_type(scores, attacks, threshold) if threshold is not None else {}
    at: dict[str, dict[str, float] | None] = {}
    notes: dict[str, str] = {}
    for target in bpcers:
        key = far_key(target)
        if by_type and bona_fide.size >= min_bona_fide(target):
            at[key] = apcer_at_bpcer(scores, attacks, target)
        else:
            at[key] = None
            notes[key] = (
                f"not measured: {bona_fide.size} bona fide presentations, at least "
                f"{min_bona_fide(target)} needed for BPCER {key}"
                if by_type
                else "not measured: no attack presentation has a liveness score"
            )
    return {
        "threshold": threshold,
        "bpcer": bpcer(bona_fide, threshold) if threshold is not None and bona_fide.size else None,
        "apcer": {kind: per_type.get(kind) for kind in by_type},
        "apcer_max": apcer_max(per_type) if per_type else None,
        "apcer_at_bpcer": at,
        "apcer_at_bpcer_note": notes,
        "bona_fide": int(bona_fide.size),
        "attacks": {kind: int(s.size) for kind, s in by_type.items()},
        "not_measured": int(np.isnan(np.asarray(scores, dtype=np.float64)).sum()),
    }
