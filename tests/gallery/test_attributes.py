"""The attribute figures of gallery.attributes: the logistic probe against scikit-learn,
leakage at its two ends, balanced accuracy by hand, and identification split by
attribute change on a gallery whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from gallery.attributes import (
    attribute_change,
    attribute_figures,
    attribute_summary,
    balanced_accuracy,
    detector_auc,
    enrolled_reference,
    fit_probe,
    identification_groups,
    leakage_auc,
    person_folds,
)
from gallery.templates import l2_normalise


def sklearn_probe(x, y, l2):
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=1 / l2, tol=1e-12, max_iter=100_000).fit(scaler.transform(x), y)
    return scaler, model


@pytest.mark.parametrize(
    ("case", "l2"), [("separable", 1.0), ("separable", 0.1), ("noisy", 1.0), ("noisy", 10.0)]
)
def test_the_probe_is_scikit_learns_logistic_regression(case, l2):
    rng = np.random.default_rng(0)
    n, d = 300, 12
    x = rng.normal(size=(n, d)) * rng.uniform(0.1, 3.0, d) + rng.normal(size=d)
    direction = rng.normal(size=d)
    margin = (x - x.mean(0)) / x.std(0) @ direction
    if case == "separable":
        y = margin > 0.3  # a hyperplane with room
        keep = np.abs(margin - 0.3) > 0.5
        x, y = x[keep], y[keep]
    else:
        y = margin + 3.0 * rng.normal(size=n) > 0
    probe = fit_probe(x, y, l2=l2)
    scaler, model = sklearn_probe(x, y, l2)
    np.testing.assert_allclose(probe.weights, model.coef_[0], rtol=1e-4, atol=1e-5)
    assert probe.bias == pytest.approx(model.intercept_[0], rel=1e-4, abs=1e-5)
    test = rng.normal(size=(200, d)) * x.std(0) + x.mean(0)
    np.testing.assert_allclose(
        probe.decision(test), model.decision_function(scaler.transform(test)), atol=1e-4
    )
    np.testing.assert_allclose(
        probe.probability(test), model.predict_proba(scaler.transform(test))[:, 1], atol=1e-5
    )
    ours = roc_auc_score(y, probe.decision(x))
    theirs = roc_auc_score(y, model.decision_function(scaler.transform(x)))
    assert ours == pytest.approx(theirs, abs=1e-6)
    assert (ours == 1.0) if case == "separable" else 0.6 < ours < 0.95
    assert probe.iterations < 30


def test_the_probe_refuses_one_class_and_survives_constant_features():
    x = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="both classes"):
        fit_probe(x, np.ones(20))
    x[:, 1] = 7.0  # constant: centred, not divided by zero
    y = x[:, 0] > 0
    probe = fit_probe(x, y)
    assert np.isfinite(probe.weights).all() and probe.weights[1] == 0.0


def people_embeddings(rng, people=40, per=5, dim=16):
    """Unit embeddings clustered by person (identity only), and each sample's person."""
    centres = rng.normal(size=(people, dim))
    who = np.repeat(np.arange(people), per)
    return l2_normalise(centres[who] + 0.3 * rng.normal(size=(who.size, dim))), who


def test_leakage_is_chance_for_independent_labels_and_one_where_a_coordinate_is_the_label():
    rng = np.random.default_rng(1)
    emb, who = people_embeddings(rng)
    known = np.ones(who.size, bool)
    independent = rng.random(who.size) < 0.4
    chance = [leakage_auc(emb, independent, known, who, seed=s) for s in range(5)]
    assert abs(np.mean(chance) - 0.5) < 0.06, chance
    per_person = rng.random(40)[who] < 0.5  # a person's attribute (gender): still chance
    assert abs(leakage_auc(emb, per_person, known, who) - 0.5) < 0.2
    written = emb.copy()
    written[:, 0] = independent  # a coordinate is the label
    assert leakage_auc(written, independent, known, who) > 0.99
    weak = emb.copy()
    weak[:, 0] += 0.4 * independent  # partly written: in between
    assert 0.7 < leakage_auc(weak, independent, known, who) < 0.99


def test_leakage_reads_known_labels_only_and_is_nan_where_it_cannot_be_measured():
    rng = np.random.default_rng(2)
    emb, who = people_embeddings(rng, people=30)
    labels = rng.random(who.size) < 0.5
    written = emb.copy()
    written[:, 0] = labels
    known = rng.random(who.size) < 0.7
    garbage = np.where(known, labels, ~labels)  # the unknown labels are wrong: unread
    measured = leakage_auc(written, labels, known, who)
    assert measured > 0.99
    assert leakage_auc(written, garbage, known, who) == measured
    assert math.isnan(leakage_auc(emb, np.zeros(who.size), known, who))  # one class
    assert math.isnan(leakage_auc(emb, labels, who < 1, who))  # one person
    # a person's attribute held by one person only: a training half lacks it
    assert math.isnan(leakage_auc(emb, who == 0, np.ones(who.size, bool), who))


def test_person_folds_keep_people_whole_and_spread_each_class():
    who = np.repeat(np.arange(20), 4)
    labels = who < 6  # six people with the attribute
    fold = person_folds(who, labels, seed=4)
    for p in range(20):
        assert np.unique(fold[who == p]).size == 1
    assert np.bincount(fold[::4]).tolist() == [10, 10]
    assert np.bincount(fold[::4][:6]).tolist() == [3, 3]
    assert any(not np.array_equal(fold, person_folds(who, labels, seed=s)) for s in range(5, 9))


def test_balanced_accuracy_and_head_auc_by_hand():
    logits = np.array([2.0, 1.0, -1.0, 0.5, -2.0, -0.5, 3.0, 0.0, 9.0])
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 0, 1])
    known = np.array([True] * 8 + [False])
    # positives 2, 1, -1: 2 of 3 above 0; negatives 0.5, -2, -0.5, 3, 0: 3 of 5 not above 0
    assert balanced_accuracy(logits, labels, known) == pytest.approx((2 / 3 + 3 / 5) / 2)
    # pairs won: 2 beats 4 of 5 negatives, 1 beats 4 (0.5 < 1), -1 beats 1 (-2): 9 of 15
    assert detector_auc(logits, labels, known) == pytest.approx(9 / 15)
    assert detector_auc(logits, labels, known) == pytest.approx(
        roc_auc_score(labels[known], logits[known])
    )
    assert math.isnan(balanced_accuracy(logits, labels, known & (labels == 1)))
    assert math.isnan(detector_auc(logits, labels, known & (labels == 0)))


def test_attribute_figures_report_heads_only_given_logits():
    rng = np.random.default_rng(6)
    emb, who = people_embeddings(rng, people=12, per=4)
    labels = (rng.random((who.size, 2)) < 0.5).astype(np.float32)
    known = np.ones_like(labels, bool)
    known[:, 1] = False
    single = attribute_figures(emb, who, labels, known, ("a", "b"), seed=1)
    assert set(single["a"]) == {"leakage_auc", "positives", "negatives"}
    assert single["b"] == {"leakage_auc": None, "positives": 0, "negatives": 0}
    assert single["a"]["positives"] + single["a"]["negatives"] == who.size
    multi = attribute_figures(emb, who, labels, known, ("a", "b"), logits=4 * labels - 2)
    assert multi["a"]["auc"] == 1.0 and multi["a"]["balanced_accuracy"] == 1.0
    assert multi["b"]["auc"] is None and multi["b"]["balanced_accuracy"] is None


def axis(k, dim=8):
    v = np.zeros(dim, np.float32)
    v[k] = 1.0
    return v


def hand_made_gallery():
    """Three people, each enrolled at s1 on its own axis. Probes at s2 and s3: person A's
    are on A's axis (found); person B's s2 is on C's axis (lost); C's s2 is between C
    and A, closer to C (found). s3 of A changed spectacles, s2 of B changed expression;
    nothing else changed."""
    subject = np.array(["A", "A", "A", "B", "B", "C", "C"])
    session = np.array(["s1", "s3", "s2", "s1", "s2", "s2", "s1"])  # not in row order
    towards = l2_normalise(np.stack([0.8 * axis(2) + 0.6 * axis(0)]))[0]
    emb = np.stack([axis(0), axis(0), axis(0), axis(1), axis(2), towards, axis(2)])
    changed = np.zeros((7, 2), bool)  # spectacles, expression
    changed[1, 0] = True  # A at s3
    changed[4, 1] = True  # B at s2
    return emb, np.ones(7, np.float32), subject, session, changed


def test_enrolled_reference_is_the_earliest_session_of_the_person():
    _, _, subject, session, _ = hand_made_gallery()
    assert enrolled_reference(subject, session).tolist() == [0, 0, 0, 3, 3, 6, 6]
    session = np.array(["v10", "v2", "v9", "b", "a", "x", "y"])  # natural order: v2 first
    assert enrolled_reference(subject, session).tolist() == [1, 1, 1, 4, 4, 5, 5]


def test_identification_split_by_attribute_change_on_a_known_gallery():
    emb, quality, subject, session, changed = hand_made_gallery()
    unknown = np.array([False, False, True, False, False, False, False])
    result = attribute_change(
        emb, quality, subject, session, changed, ("spectacles", "expression"), unknown=unknown
    )
    # changed: A/s3 found at rank 1 (A 1; B, C 0), B/s2 lost (B 0; A 0, C 1): genuine
    # scores 1 and 0 against impostors 0, 0, 0, 1 win 3 + 4 ties of the 8 pairs
    assert result["changed"] == {"probes": 2, "people": 2, "rank1": 0.5, "auc": 5 / 8}
    # unchanged: A/s2 (1 vs 0, 0) and C/s2 (C 0.8, A 0.6, B 0): both found, all
    # genuine scores (1, 0.8) above all impostors (0, 0, 0.6, 0)
    unchanged = result["unchanged"]
    assert unchanged == {"probes": 2, "people": 2, "rank1": 1.0, "auc": 1.0, "unknown": 1}
    spectacles, expression = result["by_task"]["spectacles"], result["by_task"]["expression"]
    assert (spectacles["probes"], spectacles["rank1"], spectacles["auc"]) == (1, 1.0, 1.0)
    assert (expression["probes"], expression["rank1"], expression["auc"]) == (1, 0.0, 0.25)


def test_empty_groups_and_a_one_person_gallery_are_not_measured():
    emb, quality, subject, session, _ = hand_made_gallery()
    nobody = np.zeros(7, bool)
    assert identification_groups(emb, quality, subject, session, {"x": nobody})["x"] == {
        "probes": 0,
        "people": 0,
        "rank1": None,
        "auc": None,
    }
    alone = identification_groups(
        emb[:3], quality[:3], subject[:3], session[:3], {"all": ~nobody[:3]}
    )
    assert alone["all"] == {"probes": 2, "people": 1, "rank1": 1.0, "auc": None}


def test_attribute_summary_counts_unknown_change_labels_and_joins_both_parts():
    emb, quality, subject, session, changed = hand_made_gallery()
    # tasks: spectacles, gender, expression; A's s1 (the reference) lacks expression
    labels = np.zeros((7, 3), np.float32)
    labels[[1, 3, 4], 0] = 1
    known = np.ones((7, 3), bool)
    known[0, 2] = False
    summary = attribute_summary(
        emb,
        quality,
        subject,
        session,
        labels,
        known,
        changed,
        tasks=("spectacles", "gender", "expression"),
        change_tasks=("spectacles", "expression"),
    )
    assert set(summary) == {"attributes", "attribute_change"}
    assert list(summary["attributes"]) == ["spectacles", "gender", "expression"]
    # A's probes (s2, s3) compare with an unknown expression; s3 changed anyway
    assert summary["attribute_change"]["unchanged"]["unknown"] == 1


def test_maps_without_attribute_labels_give_nothing_measured_and_no_change():
    emb, quality, subject, session, _ = hand_made_gallery()
    summary = attribute_summary(
        emb,
        quality,
        subject,
        session,
        np.zeros((7, 2), np.float32),
        np.zeros((7, 2), bool),
        np.zeros((7, 1), bool),
        tasks=("spectacles", "gender"),
        change_tasks=("spectacles",),
        logits=np.zeros((7, 2), np.float32),
    )
    assert all(v is None for f in summary["attributes"].values() for v in list(f.values())[:3])
    change = summary["attribute_change"]
    assert change["changed"]["probes"] == 0 and change["unchanged"]["unknown"] == 4
