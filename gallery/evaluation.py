"""One model's evaluation numbers from its embeddings: verification and identification.

Pure over arrays (embeddings, quality, subject, session); the ``evaluate`` stage embeds
the maps and writes the report.

* Verification: every unordered pair of samples (:func:`gallery.metrics.pair_scores`).
* Closed-set identification (protocol of :mod:`gallery.protocol`): each identity's
  earliest ``n_enrol`` sessions are enrolled; its aggregate template (quality-weighted
  mean) is what a probe is ranked against. mAP ranks the enrolled *session* templates.
* Open set: each probe also stands in for a person who is not enrolled, by searching
  with its own identity removed (leave-one-identity-out); those best scores set the
  threshold at the FPIR, and DIR is the share of probes found at rank 1 above it.
* Confidence intervals: 95% percentile bootstrap over *identities* (people drawn with
  replacement; their pairs and probes re-weighted, :mod:`gallery.bootstrap`), since
  pairs and probes of one person are not independent.
* Presentation attacks (:func:`presentation_attack`): APCER per attack type and BPCER
  of the liveness scores at an operating threshold, and their DET curves
  (:mod:`gallery.pad_metrics`). The recognition figures are the caller's to compute on
  bona fide rows only, so an attack never counts as a genuine session of the person it
  claims to be.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gallery.bootstrap import IdentityBootstrap, pair_identities
from gallery.metrics import (
    REPORT_FARS,
    cmc,
    far_key,
    genuine_ranks,
    mean_average_precision,
    min_impostors,
    open_set_dir,
    pair_scores,
    roc_curve,
    verification_summary,
)
from gallery.pad_metrics import det_curves, pad_summary, split_presentations, threshold_at_bpcer
from gallery.protocol import Split, gallery_probe_split
from gallery.templates import aggregate

FPIR = 1e-2


def _interval(values: list[float]) -> list[float] | None:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return None
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


def verification(
    embeddings: np.ndarray, subject: np.ndarray, *, bootstrap: int = 200, seed: int = 0
) -> tuple[dict, dict]:
    """(summary with ``ci``, curves for plots: far, tar, genuine, impostor)."""
    genuine, impostor = pair_scores(embeddings, subject)
    summary = verification_summary(genuine, impostor)
    if bootstrap:
        genuine_id, impostor_ids = pair_identities(subject)
        n_ids = int(np.unique(subject).size)
        resampler = IdentityBootstrap(genuine, impostor, genuine_id, impostor_ids, n_ids)
        rng = np.random.default_rng(seed)
        measured = tuple(f for f in REPORT_FARS if summary["tar_at_far"][far_key(f)] is not None)
        auc: list[float] = []
        eer: list[float] = []
        tars: dict[str, list[float]] = {far_key(f): [] for f in measured}
        for _ in range(bootstrap):
            m = resampler.metrics(resampler.draw(rng), measured)
            auc.append(m["auc"])
            eer.append(m["eer"])
            for key, value in m["tar"].items():
                tars[key].append(math.nan if value is None else value)
        summary["ci"] = {
            "level": 0.95,
            "replicates": bootstrap,
            "resampling": "identities",
            "auc": _interval(auc),
            "eer": _interval(eer),
            "tar_at_far": {far_key(f): _interval(tars.get(far_key(f), [])) for f in REPORT_FARS},
        }
    far, tar, _ = roc_curve(genuine, impostor)
    return summary, {"far": far, "tar": tar, "genuine": genuine, "impostor": impostor}


@dataclass(frozen=True)
class _Searches:
    """Every probe searched against the enrolled identities' aggregate templates."""

    probe_labels: np.ndarray  # (P,)
    ranks: np.ndarray  # (P,) rank of the true identity, 1 = best
    true_score: np.ndarray  # (P,) score of the true identity
    others_best: np.ndarray  # (P,) best score with the own identity removed; empty if none


def _closed_set(
    embeddings: np.ndarray, quality: np.ndarray, subject: np.ndarray, split: Split
) -> tuple[_Searches, float, int]:
    """The probes' searches, mAP over enrolled session templates, and the identity count."""
    ids, templates, _ = aggregate(
        embeddings[split.gallery], quality[split.gallery], subject[split.gallery]
    )
    probes, probe_labels = embeddings[split.probes], subject[split.probes]
    scores = probes @ templates.T  # (P, M)
    own = probe_labels[:, None] == ids[None, :]
    searches = _Searches(
        probe_labels=probe_labels,
        ranks=genuine_ranks(scores, ids, probe_labels),
        true_score=np.where(own, scores, -np.inf).max(axis=1),
        # Leave-one-identity-out: the probe as a stranger to the gallery.
        others_best=np.where(own, -np.inf, scores).max(axis=1) if ids.size > 1 else np.empty(0),
    )
    session_scores = probes @ embeddings[split.gallery].T
    mean_ap = mean_average_precision(session_scores, subject[split.gallery], probe_labels)
    return searches, mean_ap, int(ids.size)


def _open_set(searches: _Searches, weights: np.ndarray | None = None) -> float:
    """DIR at :data:`FPIR`, each probe searching once as itself and once as a stranger."""
    rate, _ = open_set_dir(
        searches.ranks,
        searches.true_score,
        searches.others_best,
        FPIR,
        mated_weights=weights,
        non_mated_weights=weights,
    )
    return rate


def _identification_intervals(searches: _Searches, *, bootstrap: int, seed: int) -> dict:
    """95% intervals of rank-1, rank-5 and DIR over identities drawn with replacement."""
    rng = np.random.default_rng(seed)
    _, probe_id = np.unique(searches.probe_labels, return_inverse=True)
    n_ids = int(probe_id.max()) + 1
    ranks = searches.ranks
    r1, r5, dirs = [], [], []
    for _ in range(bootstrap):
        weights = np.bincount(rng.integers(0, n_ids, n_ids), minlength=n_ids)[probe_id]
        if weights.sum() == 0:
            continue
        r1.append(float(np.average(ranks == 1, weights=weights)))
        r5.append(float(np.average(ranks <= 5, weights=weights)))
        dirs.append(_open_set(searches, weights.astype(np.float64)))
    return {
        "level": 0.95,
        "replicates": bootstrap,
        "resampling": "identities",
        "rank1": _interval(r1),
        "rank5": _interval(r5),
        "dir_at_fpir": {far_key(FPIR): _interval(dirs)},
    }


def identification(
    embeddings: np.ndarray,
    quality: np.ndarray,
    subject: np.ndarray,
    session: np.ndarray,
    *,
    n_enrol: int = 1,
    bootstrap: int = 200,
    seed: int = 0,
) -> tuple[dict, dict]:
    """(summary with ``ci``, curves for plots: cmc)."""
    split = gallery_probe_split(subject, session, n_enrol=n_enrol)
    if split.probes.size == 0:
        return {"note": "no probes: every identity has at most n_enrol sessions"}, {}
    searches, mean_ap, n_ids = _closed_set(embeddings, quality, subject, split)
    ranks = searches.ranks
    curve = cmc(ranks, max_rank=min(n_ids, 50))
    dir_value = _open_set(searches)
    summary: dict = {
        "rank1": float(np.mean(ranks == 1)),
        "rank5": float(np.mean(ranks <= 5)),
        "map": mean_ap,
        "cmc": [float(x) for x in curve],
        "dir_at_fpir": {far_key(FPIR): None if math.isnan(dir_value) else dir_value},
        "n_probes": int(split.probes.size),
        "n_gallery_identities": n_ids,
        "n_enrol_sessions": n_enrol,
    }
    if math.isnan(dir_value):
        summary["dir_at_fpir_note"] = (
            f"not measured: {ranks.size} probes, at least {min_impostors(FPIR)} needed "
            f"for FPIR {far_key(FPIR)}"
        )
    if bootstrap:
        summary["ci"] = _identification_intervals(searches, bootstrap=bootstrap, seed=seed)
    return summary, {"cmc": curve}


def evaluate(
    embeddings: np.ndarray,
    quality: np.ndarray,
    subject: np.ndarray,
    session: np.ndarray,
    *,
    n_enrol: int = 1,
    bootstrap: int = 200,
    seed: int = 0,
) -> tuple[dict, dict]:
    """Both halves: ``({"verification": ..., "identification": ...}, curves)``."""
    subject, session = np.asarray(subject, dtype=str), np.asarray(session, dtype=str)
    ver, ver_curves = verification(embeddings, subject, bootstrap=bootstrap, seed=seed)
    ident, id_curves = identification(
        embeddings, quality, subject, session, n_enrol=n_enrol, bootstrap=bootstrap, seed=seed
    )
    return {"verification": ver, "identification": ident}, {**ver_curves, **id_curves}


def presentation_attack(
    scores: np.ndarray,
    attacks: np.ndarray,
    *,
    bpcer_target: float,
    calibrated: float | None,
) -> tuple[dict, dict]:
    """(PAD summary at the operating threshold, curves for the DET plot).

    ``scores`` are liveness scores (NaN: not measured, left out) and ``attacks`` each
    row's attack type ("" bona fide). The operating threshold is ``calibrated`` (the
    preprocessing calibration's for ``bpcer_target``) where there is one; otherwise the
    largest threshold keeping the rows' own bona fide BPCER at most ``bpcer_target``
    (:func:`gallery.pad_metrics.threshold_at_bpcer`), which is optimistic: fitted to the
    scores it is then measured on. ``threshold_source`` says which ("calibration",
    "bona fide scores", or "none" when there is neither).

    The summary is :func:`gallery.pad_metrics.pad_summary`'s with ``threshold_source``
    and ``bpcer_target`` added; the curves are ``{"det": {type: {"bpcer", "apcer"}},
    "operating": {"threshold", "bpcer", "apcer": {type: ...}}}`` (no DET curve without
    measured bona fide rows).
    """
    bona_fide, _ = split_presentations(scores, attacks)
    threshold: float | None
    if calibrated is not None:
        threshold, source = float(calibrated), "calibration"
    elif bona_fide.size:
        threshold, source = threshold_at_bpcer(bona_fide, bpcer_target), "bona fide scores"
    else:
        threshold, source = None, "none"
    figures = pad_summary(scores, attacks, threshold)
    summary = {
        "threshold": figures.pop("threshold"),
        "threshold_source": source,
        "bpcer_target": bpcer_target,
        **figures,
    }
    det = (
        {kind: {"bpcer": b, "apcer": a} for kind, (b, a, _) in det_curves(scores, attacks).items()}
        if bona_fide.size
        else {}
    )
    operating = {"threshold": threshold, "bpcer": summary["bpcer"], "apcer": summary["apcer"]}
    return summary, {"det": det, "operating": operating}
