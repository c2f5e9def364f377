"""Identity bootstrap and the evaluation protocol on synthetic embeddings."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from gallery.bootstrap import IdentityBootstrap, pair_identities
from gallery.evaluation import evaluate
from gallery.metrics import eer_from_roc, equal_error_rate, pair_scores, roc_auc, tar_at_far
from gallery.templates import l2_normalise
from psbase.errors import InputError


def population(rng, people=30, per=4, noise=0.6, dim=16):
    centres = l2_normalise(rng.normal(size=(people, dim)))
    labels = np.repeat(np.arange(people), per)
    emb = l2_normalise(centres[labels] + noise * rng.normal(size=(labels.size, dim)) / 4)
    return emb.round(3), labels


def test_unit_weights_give_the_plain_metrics():
    rng = np.random.default_rng(0)
    emb, labels = population(rng)
    g, i = pair_scores(emb, labels)
    boot = IdentityBootstrap(g, i, *pair_identities(labels), 30)
    m = boot.metrics(np.ones(30), (1e-2,))
    assert m["auc"] == pytest.approx(roc_auc(g, i), abs=1e-12)
    assert m["eer"] == pytest.approx(equal_error_rate(g, i), abs=1e-12)
    assert m["tar"]["1e-2"] == pytest.approx(tar_at_far(g, i, 1e-2))


@pytest.mark.parametrize("seed", range(3))
def test_weights_equal_an_explicitly_resampled_population(seed):
    rng = np.random.default_rng(seed)
    emb, labels = population(rng, people=12, per=3)
    g, i = pair_scores(emb, labels)
    boot = IdentityBootstrap(g, i, *pair_identities(labels), 12)
    counts = boot.draw(rng)
    # Build the resampled population: identity a appears counts[a] times as separate
    # copies; pairs between copies of one identity are neither genuine nor impostor.
    rows, person, copy = [], [], []
    for a, c in enumerate(counts):
        for k in range(c):
            idx = np.flatnonzero(labels == a)
            rows += list(idx)
            person += [a] * idx.size
            copy += [k] * idx.size
    rows, person, copy = np.array(rows), np.array(person), np.array(copy)
    s = emb[rows] @ emb[rows].T
    x, y = np.triu_indices(rows.size, 1)
    genuine = s[x, y][(person[x] == person[y]) & (copy[x] == copy[y])]
    impostor = s[x, y][person[x] != person[y]]
    m = boot.metrics(counts, (1e-2,))
    assert m["auc"] == pytest.approx(roc_auc(genuine, impostor), abs=1e-9)
    assert m["eer"] == pytest.approx(equal_error_rate(genuine, impostor), abs=1e-9)
    assert m["tar"]["1e-2"] == pytest.approx(tar_at_far(genuine, impostor, 1e-2))


@pytest.mark.parametrize("seed", range(3))
def test_a_replicate_is_sklearns_weighted_roc(seed):
    """Pair weights c[a] (genuine) and c[a] c[b] (impostor) as sklearn sample weights."""
    rng = np.random.default_rng(seed)
    emb, labels = population(rng, people=15, per=3)
    g, i = pair_scores(emb, labels)
    genuine_id, impostor_ids = pair_identities(labels)
    boot = IdentityBootstrap(g, i, genuine_id, impostor_ids, 15)
    counts = boot.draw(rng)
    weights = np.r_[counts[genuine_id], counts[impostor_ids[:, 0]] * counts[impostor_ids[:, 1]]]
    truth = np.r_[np.ones(g.size), np.zeros(i.size)]
    scores = np.r_[g, i].astype(np.float64)
    fpr, tpr, _ = sk_roc_curve(truth, scores, sample_weight=weights, drop_intermediate=False)
    m = boot.metrics(counts, ())
    assert m["auc"] == pytest.approx(roc_auc_score(truth, scores, sample_weight=weights))
    assert m["eer"] == pytest.approx(eer_from_roc(fpr, tpr), abs=1e-12)


def test_evaluate_separable_population_is_perfect():
    rng = np.random.default_rng(1)
    emb, labels = population(rng, people=20, per=3, noise=0.01, dim=64)
    subject = np.array([f"p{x:02d}" for x in labels])
    session = np.tile(["v0", "v1", "v2"], 20)
    result, curves = evaluate(emb, np.ones(60), subject, session, bootstrap=20)
    v, i = result["verification"], result["identification"]
    assert v["auc"] == 1.0 and v["eer"] == 0.0
    assert v["tar_at_far"]["1e-2"] == 1.0 and v["tar_at_far"]["1e-4"] is None
    assert "impostor pairs" in v["tar_at_far_note"]["1e-4"]
    assert i["rank1"] == 1.0 and i["map"] == 1.0 and i["n_probes"] == 40
    assert i["n_gallery_identities"] == 20
    assert v["ci"]["auc"] == [1.0, 1.0]
    assert curves["cmc"][0] == 1.0


def test_evaluate_random_embeddings_is_chance():
    rng = np.random.default_rng(2)
    emb = l2_normalise(rng.normal(size=(400, 32)))
    subject = np.repeat([f"p{x:03d}" for x in range(100)], 4)
    session = np.tile(["a", "b", "c", "d"], 100)
    result, _ = evaluate(emb, np.ones(400), subject, session, bootstrap=50)
    v, i = result["verification"], result["identification"]
    assert v["auc"] == pytest.approx(0.5, abs=0.05)
    assert v["ci"]["auc"][0] < 0.5 + 0.05 and v["ci"]["auc"][1] > 0.5 - 0.05
    assert i["rank1"] < 0.06
    assert i["dir_at_fpir"]["1e-2"] is not None and i["dir_at_fpir"]["1e-2"] < 0.05


def test_calibrated_threshold_keeps_the_far():
    from gallery.calibration import calibrate

    rng = np.random.default_rng(4)
    emb, labels = population(rng, people=40, per=3)
    threshold = calibrate(emb, labels, 1e-2, source="cal.h5")
    _, impostor = pair_scores(emb, labels)
    assert np.mean(impostor >= threshold.value) <= 1e-2
    # Minimal: the highest impostor score it rejects would, accepted, break the FAR.
    rejected = impostor[impostor < threshold.value].max()
    assert np.mean(impostor >= rejected) > 1e-2
    assert "FAR 0.01" in threshold.describe()
    with pytest.raises(InputError, match=r"^cal\.h5: .* needs at least 1000000"):
        calibrate(emb, labels, 1e-6, source="cal.h5")


def test_sessions_are_ordered_naturally_so_v10_comes_after_v2():
    from gallery.protocol import session_order

    subject = np.array(["p", "p", "p", "q", "q"])
    session = np.array(["v10", "v2", "v1", "s11", "s3"])
    np.testing.assert_array_equal(session_order(subject, session), [2, 1, 0, 4, 3])
