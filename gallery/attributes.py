"""Attributes beside identity: the multi-task heads, what the embedding leaks, and
identification of probes whose attributes changed since enrolment.

Pure over arrays; the attribute vocabulary is not known here. ``labels`` and ``known``
are (N, T) arrays whose columns are tasks the caller names (for ``psface evaluate``,
``recognition.attributes.TASKS``, handed in through :class:`gallery.sources.AttributeReader`),
1 for the attribute's presence, 0 for its absence, ``known`` False where a label is
missing (never counted).

* Heads (multi-task runs): the ROC AUC of each head's logit as a detector of its
  attribute (known positives' logits against known negatives') and the balanced
  accuracy, the mean of the true-positive and true-negative rates, deciding "present"
  where the logit is above 0 (probability above 0.5, as scikit-learn's ``predict``).
  NaN where a class is absent.
* Leakage (every run): how well a linear probe reads an attribute off the identity
  embedding, the ROC AUC of an L2-regularised logistic regression on the L2-normalised,
  standardised embeddings (:func:`fit_probe`), scored out of sample by person-disjoint
  cross-validation: the people are dealt into ``folds`` (2) groups, a probe fitted on
  the others' samples scores each group's, and the AUC is taken over the pooled scores
  (:func:`leakage_auc`). 0.5: nothing a linear read-out can find; 1: the attribute is
  written in the embedding. Person-disjoint, so a probe cannot score by recognising the
  person (gender is a person's; spectacles often are) rather than reading the attribute.
* Identification by attribute change: probes split by whether an attribute differs
  from their person's earliest enrolled session (:func:`enrolled_reference`; which
  attributes, and how "differs" treats missing labels, is the caller's ``changed``),
  each group's rank-1 against the enrolled identities' templates, as
  :mod:`gallery.evaluation` ranks them, and its verification AUC: every probe of the
  group scored against every enrolled template, genuine where the template is its own
  person's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from gallery.metrics import genuine_ranks, roc_auc
from gallery.protocol import gallery_probe_split, session_order
from gallery.templates import aggregate, l2_normalise

#: Person-disjoint folds of the leakage probe's cross-validation.
LEAKAGE_FOLDS = 2
#: Ridge weight of the leakage probe on standardised features; the objective is the
#: summed log loss plus ``l2 / 2 * |w|^2``, scikit-learn's ``LogisticRegression(C=1/l2)``.
LEAKAGE_L2 = 1.0


# ---------------------------------------------------------------------------------------
# Heads
# ---------------------------------------------------------------------------------------


def _known_column(
    scores: np.ndarray, labels: np.ndarray, known: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, truth as bool) of the rows whose label is known, one task's 1-D arrays."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels)
    known = np.asarray(known, bool)
    if not scores.shape == labels.shape == known.shape or scores.ndim != 1:
        raise ValueError(
            f"scores {scores.shape}, labels {labels.shape} and known {known.shape} "
            "must be one (n,) column each"
        )
    return scores[known], labels[known] > 0.5


def detector_auc(scores: np.ndarray, labels: np.ndarray, known: np.ndarray) -> float:
    """ROC AUC of ``scores`` (n,) as a detector of label 1, over known labels; NaN where
    either class is absent."""
    scores, truth = _known_column(scores, labels, known)
    if truth.all() or not truth.any():
        return math.nan
    return roc_auc(scores[truth], scores[~truth])


def balanced_accuracy(logits: np.ndarray, labels: np.ndarray, known: np.ndarray) -> float:
    """(TPR + TNR) / 2 deciding label 1 where the logit is above 0, over known labels;
    NaN where either class is absent."""
    logits, truth = _known_column(logits, labels, known)
    if truth.all() or not truth.any():
        return math.nan
    said = logits > 0
    return float(0.5 * (said[truth].mean() + (~said[~truth]).mean()))


# ---------------------------------------------------------------------------------------
# The linear probe and leakage
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogisticProbe:
    """A fitted logistic regression on standardised features: ``decision(x)`` is the
    logit ``((x - mean) / scale) @ weights + bias``."""

    mean: np.ndarray  # (D,)
    scale: np.ndarray  # (D,)
    weights: np.ndarray  # (D,)
    bias: float
    iterations: int

    def decision(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, np.float64) - self.mean) / self.scale
        return z @ self.weights + self.bias

    def probability(self, x: np.ndarray) -> np.ndarray:
        return expit(self.decision(x))


def _loss(design: np.ndarray, y: np.ndarray, beta: np.ndarray, ridge: np.ndarray) -> float:
    z = design @ beta
    return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * beta @ (ridge * beta))


def fit_probe(
    x: np.ndarray,
    y: np.ndarray,
    *,
    l2: float = LEAKAGE_L2,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> LogisticProbe:
    """L2-regularised logistic regression by Newton's method (IRLS) with backtracking.

    Features are standardised with the training rows' mean and standard deviation (a
    constant feature is only centred); the intercept is not penalised. The objective,
    ``sum_i log(1 + exp(z_i)) - y_i z_i + l2 / 2 |w|^2``, is strictly convex for
    ``l2 > 0``, so even separable classes have a finite optimum; Newton steps reach it
    in a handful of iterations (stopping when half the squared Newton decrement falls
    below ``tol``).

    Parameters
    ----------
    x : (n, D) features
    y : (n,) labels, bool or 0/1; both classes must be present
    l2 : ridge weight, > 0
    """
    x, y = np.asarray(x, np.float64), np.asarray(y).astype(np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"x must be (n, D) and y (n,), got {x.shape} and {y.shape}")
    if not 0 < y.mean() < 1 or not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y must hold 0/1 labels of both classes")
    if not l2 > 0:
        raise ValueError(f"the ridge weight must be positive, got {l2}")
    n, d = x.shape
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    design = np.hstack([(x - mean) / scale, np.ones((n, 1))])
    ridge = np.append(np.full(d, float(l2)), 0.0)
    beta = np.zeros(d + 1)
    beta[-1] = math.log(y.mean() / (1 - y.mean()))  # the intercept-only optimum
    loss = _loss(design, y, beta, ridge)
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        p = expit(design @ beta)
        gradient = design.T @ (p - y) + ridge * beta
        hessian = (design * (p * (1 - p))[:, None]).T @ design
        hessian[np.diag_indices_from(hessian)] += ridge
        step = np.linalg.solve(hessian, gradient)
        decrement = float(gradient @ step)
        if decrement / 2 <= tol:
            break
        t = 1.0
        while True:  # backtracking (Armijo): a full step is almost always taken
            candidate = beta - t * step
            candidate_loss = _loss(design, y, candidate, ridge)
            if candidate_loss <= loss - 0.25 * t * decrement or t < 1e-10:
                break
            t /= 2
        beta, loss = candidate, candidate_loss
    return LogisticProbe(mean, scale, beta[:-1], float(beta[-1]), iterations)


def person_folds(
    people: np.ndarray, labels: np.ndarray, *, folds: int = LEAKAGE_FOLDS, seed: int = 0
) -> np.ndarray:
    """(n,) the fold of each sample; all of a person's samples share one.

    People are ordered by their share of positive labels and dealt, ``folds`` at a
    time, into the folds in a random order, so each fold holds people of both classes
    where there are enough (a stratified group split).
    """
    names, codes = np.unique(np.asarray(people), return_inverse=True)
    codes = codes.reshape(-1)
    positives = np.bincount(codes, weights=np.asarray(labels, np.float64), minlength=names.size)
    share = positives / np.bincount(codes, minlength=names.size)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.permutation(names.size), share))
    fold_of = np.empty(names.size, np.int64)
    for start in range(0, names.size, folds):
        block = order[start : start + folds]
        fold_of[block] = rng.permutation(folds)[: block.size]
    return fold_of[codes]


def leakage_auc(
    embeddings: np.ndarray,
    labels: np.ndarray,
    known: np.ndarray,
    people: np.ndarray,
    *,
    folds: int = LEAKAGE_FOLDS,
    l2: float = LEAKAGE_L2,
    seed: int = 0,
) -> float:
    """Cross-validated ROC AUC of a linear probe reading one attribute off embeddings.

    Over the samples whose label is known: person-disjoint folds (:func:`person_folds`),
    each scored by a probe (:func:`fit_probe`) fitted on the other folds, the scores
    pooled. NaN where either class is absent, there are fewer people than folds, or a
    training part lacks a class.

    Parameters
    ----------
    embeddings : (n, D), L2-normalised here (again)
    labels, known : (n,) one task's labels and whether each is known
    people : (n,) each sample's person
    """
    embeddings = np.asarray(embeddings)
    labels, known = np.asarray(labels), np.asarray(known, bool)
    if embeddings.ndim != 2 or not labels.shape == known.shape == (embeddings.shape[0],):
        raise ValueError("embeddings must be (n, D) and labels and known (n,)")
    rows = np.flatnonzero(known)
    x = l2_normalise(embeddings[rows]).astype(np.float64)
    y, who = labels[rows] > 0.5, np.asarray(people)[rows]
    if y.all() or not y.any() or np.unique(who).size < folds:
        return math.nan
    fold = person_folds(who, y, folds=folds, seed=seed)
    scores = np.empty(rows.size)
    for k in range(folds):
        train, test = fold != k, fold == k
        if y[train].all() or not y[train].any():
            return math.nan
        scores[test] = fit_probe(x[train], y[train], l2=l2).decision(x[test])
    return roc_auc(scores[y], scores[~y])


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def attribute_figures(
    embeddings: np.ndarray,
    people: np.ndarray,
    labels: np.ndarray,
    known: np.ndarray,
    tasks: Sequence[str],
    *,
    logits: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, dict]:
    """Per task, JSON-ready (None for NaN): ``leakage_auc``, the known ``positives`` and
    ``negatives``, and, given the heads' ``logits`` (n, T), ``auc`` and
    ``balanced_accuracy``."""
    labels, known = np.asarray(labels), np.asarray(known, bool)
    if labels.shape != known.shape or labels.shape != (len(embeddings), len(tasks)):
        raise ValueError(
            f"labels {labels.shape} and known {known.shape} must be ({len(embeddings)}, "
            f"{len(tasks)}), one column per task"
        )
    if logits is not None and np.shape(logits) != labels.shape:
        raise ValueError(f"logits {np.shape(logits)} must be shaped as labels {labels.shape}")
    out: dict[str, dict] = {}
    for t, task in enumerate(tasks):
        positive = known[:, t] & (labels[:, t] > 0.5)
        entry: dict = {}
        if logits is not None:
            entry["auc"] = _number(detector_auc(logits[:, t], labels[:, t], known[:, t]))
            entry["balanced_accuracy"] = _number(
                balanced_accuracy(logits[:, t], labels[:, t], known[:, t])
            )
        entry["leakage_auc"] = _number(
            leakage_auc(embeddings, labels[:, t], known[:, t], people, seed=seed)
        )
        entry["positives"] = int(positive.sum())
        entry["negatives"] = int(known[:, t].sum() - positive.sum())
        out[task] = entry
    return out


# ---------------------------------------------------------------------------------------
# Identification by attribute change
# ---------------------------------------------------------------------------------------


def enrolled_reference(subject: np.ndarray, session: np.ndarray) -> np.ndarray:
    """(N,) the row of each sample's person's earliest session, which
    :func:`gallery.protocol.gallery_probe_split` always enrols."""
    subject = np.asarray(subject)
    order = session_order(subject, np.asarray(session))
    _, first = np.unique(subject[order], return_index=True)
    _, codes = np.unique(subject, return_inverse=True)
    return order[first][codes.reshape(-1)]


def identification_groups(
    embeddings: np.ndarray,
    quality: np.ndarray,
    subject: np.ndarray,
    session: np.ndarray,
    groups: Mapping[str, np.ndarray],
    *,
    n_enrol: int = 1,
) -> dict[str, dict]:
    """Rank-1 and verification AUC of the probes in each group.

    The protocol is :mod:`gallery.evaluation`'s: each person's earliest ``n_enrol``
    sessions enrol (one quality-weighted template per person) and the rest probe.
    ``groups`` maps a name to an (N,) bool mask over the samples; a group's probes are
    the probes it marks (enrolled samples are ignored). Each group gets ``probes``,
    ``people`` (theirs), ``rank1`` and ``auc`` (its probes against every enrolled
    template, genuine where the template is the probe's person's), None where not
    measurable (no probes; one enrolled person).
    """
    subject = np.asarray(subject).astype(str)
    split = gallery_probe_split(subject, np.asarray(session).astype(str), n_enrol=n_enrol)
    ids, templates, _ = aggregate(
        embeddings[split.gallery], quality[split.gallery], subject[split.gallery]
    )
    probe_labels = subject[split.probes]
    scores = np.asarray(embeddings[split.probes], np.float32) @ templates.T
    ranks = genuine_ranks(scores, ids, probe_labels)
    own = probe_labels[:, None] == ids[None, :]
    out: dict[str, dict] = {}
    for name, mask in groups.items():
        mask = np.asarray(mask, bool)
        if mask.shape != subject.shape:
            raise ValueError(f"group {name} is {mask.shape}, not one flag per sample")
        member = mask[split.probes]
        rank1 = auc = None
        if member.any():
            rank1 = float(np.mean(ranks[member] == 1))
            if ids.size > 1:
                s, o = scores[member], own[member]
                auc = roc_auc(s[o], s[~o])
        out[name] = {
            "probes": int(member.sum()),
            "people": int(np.unique(probe_labels[member]).size),
            "rank1": rank1,
            "auc": auc,
        }
    return out


def attribute_change(
    embeddings: np.ndarray,
    quality: np.ndarray,
    subject: np.ndarray,
    session: np.ndarray,
    changed: np.ndarray,
    tasks: Sequence[str],
    *,
    unknown: np.ndarray | None = None,
    n_enrol: int = 1,
) -> dict:
    """Identification of probes whose attributes changed since enrolment, and the rest.

    ``changed`` (N, k) says, per sample and per task of ``tasks`` (k), whether it
    differs from its person's earliest enrolled session (:func:`enrolled_reference`);
    ``unknown`` (N,) marks samples where that is not known for some task (counted in
    the unchanged group's ``unknown``). Returns ``{"changed": ..., "unchanged": ...,
    "by_task": {task: ...}}``, each as :func:`identification_groups` gives them: any
    task changed, none known to have changed, and each task changed.
    """
    changed = np.asarray(changed, bool)
    if changed.shape != (len(subject), len(tasks)):
        raise ValueError(f"changed {changed.shape} must be ({len(subject)}, {len(tasks)})")
    anything = changed.sum(axis=1) > 0  # any task changed
    groups = {"changed": anything, "unchanged": ~anything}
    groups |= {f"task:{task}": changed[:, k] for k, task in enumerate(tasks)}
    if unknown is not None:
        groups["unknown"] = np.asarray(unknown, bool) & ~anything
    figures = identification_groups(embeddings, quality, subject, session, groups, n_enrol=n_enrol)
    result = {
        "changed": figures["changed"],
        "unchanged": figures["unchanged"],
        "by_task": {task: figures[f"task:{task}"] for task in tasks},
    }
    if unknown is not None:
        result["unchanged"]["unknown"] = figures["unknown"]["probes"]
    return result


def attribute_summary(
    embeddings: np.ndarray,
    quality: np.ndarray,
    subject: np.ndarray,
    session: np.ndarray,
    labels: np.ndarray,
    known: np.ndarray,
    changed: np.ndarray,
    *,
    tasks: Sequence[str],
    change_tasks: Sequence[str],
    logits: np.ndarray | None = None,
    n_enrol: int = 1,
    seed: int = 0,
) -> dict:
    """One run's attribute figures for the report: ``{"attributes": {task: ...},
    "attribute_change": ...}`` (:func:`attribute_figures`, :func:`attribute_change`).

    ``changed`` is (N, len(change_tasks)), each sample against its person's
    :func:`enrolled_reference`; a change task whose label is missing on either side is
    reported among the unchanged group's ``unknown``.
    """
    figures = attribute_figures(embeddings, subject, labels, known, tasks, logits=logits, seed=seed)
    known = np.asarray(known, bool)
    reference = enrolled_reference(subject, session)
    columns = [list(tasks).index(task) for task in change_tasks]
    unknown = ~(known[:, columns] & known[reference][:, columns]).all(axis=1)
    change = attribute_change(
        embeddings,
        quality,
        subject,
        session,
        changed,
        change_tasks,
        unknown=unknown,
        n_enrol=n_enrol,
    )
    return {"attributes": figures, "attribute_change": change}
