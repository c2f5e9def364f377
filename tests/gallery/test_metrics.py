"""Metric functions against hand-computed cases and against scikit-learn, unweighted and
weighted (a weight counts a score or a probe that many times, as a resample does)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from gallery.metrics import (
    cmc,
    dir_at_fpir,
    equal_error_rate,
    far_key,
    genuine_ranks,
    mean_average_precision,
    open_set_dir,
    pair_scores,
    roc_auc,
    roc_curve,
    tar_at_far,
    threshold_at_far,
    verification_summary,
)

GENUINE = np.array([0.9, 0.8, 0.4])
IMPOSTOR = np.array([0.1, 0.5, 0.3, 0.2])


def test_auc_hand_case():
    # 0.9 and 0.8 beat all four impostors, 0.4 beats three of them: 11 of 12 pairs.
    assert roc_auc(GENUINE, IMPOSTOR) == pytest.approx(11 / 12)


def test_auc_ties_count_half():
    assert roc_auc([0.5], [0.5]) == 0.5
    assert roc_auc([0.5, 0.7], [0.5, 0.1]) == pytest.approx((0.5 + 1 + 1 + 1) / 4)


@pytest.mark.parametrize("seed", range(5))
def test_auc_equals_sklearn_on_random_scores(seed):
    rng = np.random.default_rng(seed)
    genuine = rng.normal(1.0, 1.0, 400).round(1)  # rounding makes ties
    impostor = rng.normal(0.0, 1.0, 3000).round(1)
    labels = np.r_[np.ones(genuine.size), np.zeros(impostor.size)]
    expected = roc_auc_score(labels, np.r_[genuine, impostor])
    assert roc_auc(genuine, impostor) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_roc_curve_equals_sklearn(seed):
    rng = np.random.default_rng(seed)
    genuine = rng.normal(1.0, 1.0, 200).round(2)
    impostor = rng.normal(0.0, 1.0, 500).round(2)
    labels = np.r_[np.ones(genuine.size), np.zeros(impostor.size)]
    fpr, tpr, thr = sk_roc_curve(labels, np.r_[genuine, impostor], drop_intermediate=False)
    far, tar, thresholds = roc_curve(genuine, impostor)
    np.testing.assert_allclose(far, fpr)
    np.testing.assert_allclose(tar, tpr)
    np.testing.assert_allclose(thresholds[1:], thr[1:])
    assert np.all(np.diff(far) >= 0) and np.all(np.diff(tar) >= 0)


def test_roc_curve_hand_case():
    far, tar, thresholds = roc_curve(GENUINE, IMPOSTOR)
    assert thresholds[0] == np.inf and far[0] == 0 and tar[0] == 0
    np.testing.assert_allclose(thresholds[1:], [0.9, 0.8, 0.5, 0.4, 0.3, 0.2, 0.1])
    np.testing.assert_allclose(tar[1:], [1 / 3, 2 / 3, 2 / 3, 1, 1, 1, 1])
    np.testing.assert_allclose(far[1:], [0, 0, 1 / 4, 1 / 4, 2 / 4, 3 / 4, 1])


def test_eer_hand_case():
    # ROC points (FAR, FRR): t=0.5 gives (1/4, 1/3), t=0.4 gives (1/4, 0); FAR - FRR goes
    # from -1/12 to +1/4, so the crossing is a quarter of the way: FAR = FRR = 1/4.
    assert equal_error_rate(GENUINE, IMPOSTOR) == pytest.approx(0.25)


def test_eer_extremes():
    assert equal_error_rate([0.9, 0.8], [0.1, 0.2]) == 0.0
    assert equal_error_rate([0.1, 0.2], [0.8, 0.9]) == 1.0
    rng = np.random.default_rng(0)
    same = rng.normal(size=20000)
    assert equal_error_rate(same[:10000], same[10000:]) == pytest.approx(0.5, abs=0.02)


def test_eer_matches_gaussian_theory():
    # Two unit Gaussians d apart: EER = Phi(-d / 2).
    rng = np.random.default_rng(1)
    genuine = rng.normal(2.0, 1.0, 200_000)
    impostor = rng.normal(0.0, 1.0, 200_000)
    expected = 0.5 * math.erfc(1.0 / math.sqrt(2))  # Phi(-1)
    assert equal_error_rate(genuine, impostor) == pytest.approx(expected, abs=3e-3)


def test_tar_at_far_hand_case():
    impostor = np.arange(100) / 100  # 0.00 .. 0.99
    genuine = np.array([0.995, 0.985, 0.98, 0.5])
    # FAR 1e-2 lets 1 of 100 impostors through: accept above the 2nd highest (0.98).
    assert tar_at_far(genuine, impostor, 1e-2) == pytest.approx(0.5)
    # FAR 5e-2 lets 5 through: accept above 0.94.
    assert tar_at_far(genuine, impostor, 5e-2) == pytest.approx(0.75)
    assert tar_at_far(genuine, impostor, 1.0) == 1.0


def test_tar_at_far_respects_the_far_bound_with_ties():
    impostor = np.array([0.9, 0.9, 0.1, 0.1] * 25)  # 100 scores, 50 tied at 0.9
    genuine = np.array([0.95, 0.9, 0.5])
    # One impostor allowed, but accepting 0.9 would let 50 through: only 0.95 is accepted.
    assert tar_at_far(genuine, impostor, 1e-2) == pytest.approx(1 / 3)


def test_tar_at_far_refuses_too_few_impostors():
    impostor = np.linspace(0, 1, 999)
    assert math.isnan(tar_at_far([0.5], impostor, 1e-3))
    assert not math.isnan(tar_at_far([0.5], np.linspace(0, 1, 1000), 1e-3))


def test_threshold_at_far_agrees_with_tar_at_far():
    rng = np.random.default_rng(2)
    genuine, impostor = rng.normal(2, 1, 1000), rng.normal(0, 1, 5000)
    for far in (1e-1, 1e-2, 1e-3):
        t = threshold_at_far(impostor, far)
        assert np.mean(impostor >= t) <= far
        assert np.mean(genuine >= t) == pytest.approx(tar_at_far(genuine, impostor, far))


@pytest.mark.parametrize("seed", range(5))
def test_weighted_threshold_at_far_gives_sklearns_best_tar(seed):
    """The weighted threshold accepts what the best weighted ROC point within the FAR does."""
    rng = np.random.default_rng(seed)
    genuine = rng.normal(1.5, 1.0, 300).round(1)  # rounding makes ties
    impostor = rng.normal(0.0, 1.0, 2000).round(1)
    w_genuine = rng.integers(0, 4, genuine.size).astype(float)
    w_impostor = rng.integers(0, 4, impostor.size).astype(float)
    labels = np.r_[np.ones(genuine.size), np.zeros(impostor.size)]
    fpr, tpr, _ = sk_roc_curve(
        labels, np.r_[genuine, impostor], sample_weight=np.r_[w_genuine, w_impostor]
    )
    for far in (1e-2, 5e-2, 0.2, 1.0):
        t = threshold_at_far(impostor, far, weights=w_impostor)
        assert np.sum(w_impostor[impostor >= t]) <= far * w_impostor.sum() + 1e-9
        tar = np.sum(w_genuine[genuine >= t]) / w_genuine.sum()
        assert tar == pytest.approx(tpr[fpr <= far + 1e-12].max(), abs=1e-12)


def test_unit_weights_give_the_unweighted_threshold():
    rng = np.random.default_rng(6)
    impostor = rng.normal(size=3000).astype(np.float32).round(2)
    for far in (1e-3, 1e-2, 0.1, 1.0):
        plain = threshold_at_far(impostor, far)
        assert threshold_at_far(impostor, far, weights=np.ones(impostor.size)) == plain
        # float32 scores get a float32 threshold: the next float32 above a score
        assert np.float32(plain) == plain


def test_verification_summary_keys_and_notes():
    rng = np.random.default_rng(3)
    summary = verification_summary(rng.normal(1, 1, 50), rng.normal(0, 1, 2000))
    assert set(summary["tar_at_far"]) == {"1e-2", "1e-3", "1e-4"}
    assert summary["tar_at_far"]["1e-4"] is None
    assert "2000 impostor pairs" in summary["tar_at_far_note"]["1e-4"]
    assert summary["tar_at_far"]["1e-3"] is not None
    assert summary["n_genuine"] == 50 and summary["n_impostor"] == 2000


def test_far_key():
    assert [far_key(f) for f in (1e-2, 1e-3, 1e-4, 0.05)] == ["1e-2", "1e-3", "1e-4", "5e-2"]


def test_pair_scores_hand_case():
    e = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], np.float32)
    genuine, impostor = pair_scores(e, np.array(["a", "a", "b"]))
    np.testing.assert_allclose(genuine, [1.0])
    np.testing.assert_allclose(impostor, [0.0, 0.0])


def test_pair_scores_blocked_equals_full_matrix():
    rng = np.random.default_rng(4)
    e = rng.normal(size=(83, 16)).astype(np.float32)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    labels = rng.integers(0, 9, 83)
    full = e @ e.T
    i, j = np.triu_indices(83, 1)
    same = labels[i] == labels[j]
    for block in (1, 7, 83, 1000):
        genuine, impostor = pair_scores(e, labels, block=block)
        np.testing.assert_allclose(genuine, full[i, j][same], atol=1e-6)
        np.testing.assert_allclose(impostor, full[i, j][~same], atol=1e-6)


def test_genuine_ranks_and_cmc_hand_case():
    scores = np.array([[0.9, 0.2, 0.1], [0.8, 0.7, 0.6], [0.1, 0.2, 0.3], [0.5, 0.4, 0.3]])
    gallery = np.array(["a", "b", "c"])
    probes = np.array(["a", "c", "b", "z"])
    ranks = genuine_ranks(scores, gallery, probes)
    np.testing.assert_array_equal(ranks, [1, 3, 2, 0])
    np.testing.assert_allclose(cmc(ranks), [1 / 3, 2 / 3, 1.0])
    np.testing.assert_allclose(cmc(ranks, max_rank=5), [1 / 3, 2 / 3, 1, 1, 1])


def test_map_hand_case():
    # Relevant at positions 1 and 3: AP = (1/1 + 2/3) / 2.
    scores = np.array([[0.9, 0.8, 0.1]])
    assert mean_average_precision(scores, np.array(["a", "b", "a"]), np.array(["a"])) == (
        pytest.approx(5 / 6)
    )


def test_map_equals_sklearn_average_precision():
    rng = np.random.default_rng(5)
    gallery = rng.integers(0, 10, 60)
    probes = rng.integers(0, 10, 25)
    scores = rng.random((25, 60))
    expected = np.mean(
        [average_precision_score(gallery == p, s) for p, s in zip(probes, scores, strict=True)]
    )
    assert mean_average_precision(scores, gallery, probes) == pytest.approx(expected)


def test_dir_at_fpir_hand_case():
    gallery = np.array(["a", "b"])
    # 100 non-mated probes with best scores 0.00 .. 0.99; FPIR 1e-2 -> threshold above 0.98.
    non_mated = np.stack([np.arange(100) / 100, np.zeros(100)], axis=1)
    mated = np.array([[0.99, 0.1], [0.97, 0.1], [0.995, 0.999]])
    scores = np.vstack([mated, non_mated])
    labels = np.array(["a", "a", "a", *["z"] * 100])
    rate, threshold = dir_at_fpir(scores, gallery, labels, 1e-2)
    assert 0.98 < threshold <= 0.99
    # First: rank 1 and above the threshold; second: below it; third: rank 2.
    assert rate == pytest.approx(1 / 3)
    assert dir_at_fpir(scores, gallery, labels, 1e-3) == (pytest.approx(math.nan, nan_ok=True),) * 2


def test_open_set_dir_weights_equal_repeated_probes():
    rng = np.random.default_rng(7)
    gallery = np.array(["a", "b", "c"])
    mated_labels = rng.choice(gallery, 40)
    scores = np.vstack([rng.random((40, 3)), 0.9 * rng.random((200, 3))]).round(2)
    labels = np.r_[mated_labels, ["z"] * 200]
    weights = rng.integers(0, 4, labels.size)
    expected = dir_at_fpir(
        np.repeat(scores, weights, axis=0), gallery, labels.repeat(weights), 5e-2
    )
    ranks = genuine_ranks(scores, gallery, labels)
    mated = ranks > 0
    true_score = scores[mated][mated_labels[:, None] == gallery[None, :]]
    got = open_set_dir(
        ranks[mated],
        true_score,
        scores[~mated].max(axis=1),
        5e-2,
        mated_weights=weights[mated],
        non_mated_weights=weights[~mated],
    )
    assert got == pytest.approx(expected)


def test_ranks_count_ties_against_the_probe():
    # probe "a" ties with "b" at 0.5: it is not first; probe "c" ties with both others
    scores = np.array([[0.5, 0.5, 0.1], [0.3, 0.3, 0.3]])
    ranks = genuine_ranks(scores, np.array(["a", "b", "c"]), np.array(["a", "c"]))
    np.testing.assert_array_equal(ranks, [2, 3])


def test_a_collapsed_embedder_scores_no_better_than_chance():
    """An embedder mapping everyone to one point: every score equal. Before ties counted
    against the probe, it scored rank-1 = rank-5 = 100% at AUC 0.5."""
    people = np.arange(20)
    probes = np.repeat(people, 3)
    scores = np.full((probes.size, people.size), 0.7)
    ranks = genuine_ranks(scores, people, probes)
    chance = 1 / people.size
    assert cmc(ranks)[0] <= chance and cmc(ranks, max_rank=5)[4] <= 5 * chance
    templates = np.repeat(people, 2)  # two templates per person, 40 in all
    tied = np.full((probes.size, templates.size), 0.7)
    # each probe's two templates come last among the 40 equal scores
    expected = (1 / 39 + 2 / 40) / 2
    assert mean_average_precision(tied, templates, probes) == pytest.approx(expected)


def test_map_counts_ties_against_the_probe():
    # the relevant template ties with an irrelevant one at the top: it ranks second
    scores = np.array([[0.9, 0.9, 0.1]])
    assert mean_average_precision(scores, np.array(["a", "b", "c"]), np.array(["a"])) == (
        pytest.approx(1 / 2)
    )
    swapped = mean_average_precision(scores, np.array(["b", "a", "c"]), np.array(["a"]))
    assert swapped == pytest.approx(1 / 2)  # gallery order does not matter


# --- Added against surviving mutants (mutmut, issue 17): error messages, edge rules and
# --- the EER interpolation, each checked against an independent reference.


def _reference_eer(genuine, impostor):
    """EER by brute force: FAR and FRR at every threshold, crossing found by a scan."""
    far, tar, _ = sk_roc_curve(
        np.r_[np.ones(len(genuine)), np.zeros(len(impostor))],
        np.r_[genuine, impostor],
        drop_intermediate=False,
    )
    far, frr = np.r_[0.0, far], 1.0 - np.r_[0.0, tar]
    for k in range(1, far.size):
        d0, d1 = far[k - 1] - frr[k - 1], far[k] - frr[k]
        if d1 >= 0:
            if d1 == 0:
                return far[k]
            t = d0 / (d0 - d1)
            return far[k - 1] + t * (far[k] - far[k - 1])
    raise AssertionError


@pytest.mark.parametrize("seed", range(4))
def test_eer_equals_a_brute_force_crossing(seed):
    rng = np.random.default_rng(seed)
    genuine = rng.normal(1.0, 1.0, int(rng.integers(5, 40)))
    impostor = rng.normal(0.0, 1.0, int(rng.integers(5, 40)))
    assert equal_error_rate(genuine, impostor) == pytest.approx(
        _reference_eer(genuine, impostor), abs=1e-12
    )


def test_eer_interpolates_where_far_moves():
    # (FAR, FRR): t=0.6 -> (0, 1/2), t=0.5 -> (1/2, 1/2)... a crossing inside a FAR step
    genuine, impostor = np.array([0.7, 0.3]), np.array([0.6, 0.2])
    # t=0.7: (0, 1/2); t=0.6: (1/2, 1/2) -> diff 0 exactly: EER 1/2
    assert equal_error_rate(genuine, impostor) == pytest.approx(0.5)
    genuine, impostor = np.array([0.9, 0.8, 0.7, 0.1]), np.array([0.75, 0.2])
    # t=0.8: (0, 1/2) diff -1/2; t=0.75: (1/2, 1/2) diff 0 -> 1/2
    assert equal_error_rate(genuine, impostor) == pytest.approx(_reference_eer(genuine, impostor))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: pair_scores(np.ones(3), np.arange(3)), "embeddings must be"),
        (lambda: pair_scores(np.ones((3, 2)), np.arange(2)), "embeddings must be"),
        (lambda: roc_auc([], [0.1]), "need at least one genuine and one impostor score"),
        (lambda: roc_auc([0.1], []), "need at least one genuine and one impostor score"),
        (lambda: roc_auc([0.1], [np.nan]), "scores must be finite"),
        (lambda: roc_auc([np.inf], [0.1]), "scores must be finite"),
        (lambda: tar_at_far([0.5], [0.1], 0.0), "far must be in"),
        (lambda: tar_at_far([0.5], [0.1], 1.5), "far must be in"),
        (lambda: threshold_at_far([], 0.1), "need at least one impostor score"),
        (lambda: threshold_at_far([0.1], 0.0), "far must be in"),
        (lambda: threshold_at_far([0.1], 1.5), "far must be in"),
        (lambda: threshold_at_far([0.1, 0.2], 0.5, weights=[1.0]), "one entry per impostor"),
        (
            lambda: genuine_ranks(np.ones((2, 2)), np.array(["a", "b"]), np.array(["a"])),
            r"scores must be \(n_probes, n_gallery_identities\)",
        ),
        (
            lambda: genuine_ranks(np.ones((1, 2)), np.array(["a", "a"]), np.array(["a"])),
            "gallery labels must be distinct",
        ),
        (lambda: cmc(np.array([0, 0])), "no mated probes"),
        (
            lambda: mean_average_precision(np.ones((1, 2)), np.array(["a", "b"]), np.array(["z"])),
            "no mated probes",
        ),
    ],
)
def test_bad_input_is_refused_with_its_reason(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_far_at_its_bounds():
    assert tar_at_far([0.5], [0.1], 1.0) == 1.0
    assert threshold_at_far(np.array([0.1, 0.2]), 1.0) == pytest.approx(0.1)
    assert threshold_at_far(np.array([0.3]), 2e-2) == np.nextafter(0.3, 1.0)


def test_verification_summary_values_are_the_metrics():
    rng = np.random.default_rng(8)
    genuine, impostor = rng.normal(1, 1, 40), rng.normal(0, 1, 150)
    summary = verification_summary(genuine, impostor)
    assert summary["auc"] == roc_auc(genuine, impostor)
    assert summary["eer"] == equal_error_rate(genuine, impostor)
    assert summary["tar_at_far"]["1e-2"] == tar_at_far(genuine, impostor, 1e-2)
    assert summary["tar_at_far_note"] == {
        "1e-3": "not measured: 150 impostor pairs, at least 1000 needed for FAR 1e-3",
        "1e-4": "not measured: 150 impostor pairs, at least 10000 needed for FAR 1e-4",
    }


def test_threshold_of_integer_and_float32_scores():
    # integer scores are read as float64; float32 stay float32 (next float32 up)
    t = threshold_at_far(np.arange(10), 0.1)
    assert t == np.nextafter(8.0, np.inf)
    scores = np.array([0.1, 0.2, 0.3], np.float32)
    t32 = threshold_at_far(scores, 0.4)
    assert t32 == float(np.nextafter(np.float32(0.2), np.float32(np.inf)))
    assert t32 != np.nextafter(float(np.float32(0.2)), np.inf)


def test_tar_at_far_picks_the_right_order_statistic():
    rng = np.random.default_rng(9)
    for _ in range(20):
        impostor = rng.permutation(200).astype(float)
        genuine = rng.permutation(200).astype(float) + 0.5
        for far in (1e-2, 3e-2, 0.1):
            allowed = math.floor(far * 200 + 1e-9)
            v = np.sort(impostor)[::-1][allowed]
            assert tar_at_far(genuine, impostor, far) == np.mean(genuine > v)


def test_pair_scores_of_no_rows_and_of_float64():
    genuine, impostor = pair_scores(np.empty((0, 3)), np.empty(0))
    assert genuine.shape == (0,) and impostor.shape == (0,)
    e = np.eye(3)[:2]
    genuine, impostor = pair_scores(e, np.array([0, 1]))
    assert genuine.dtype == np.float64 and genuine.size == 0 and impostor.tolist() == [0.0]
    g16, _ = pair_scores(np.ones((2, 2), np.float16), np.array([0, 0]))
    assert g16.dtype == np.float32
    e = np.ones((2, 2), np.float32)
    pair_scores(e, np.array([0, 0]))
    assert e.dtype == np.float32  # the caller's array is not changed


def _brute_force_map(scores, gallery, probes):
    aps = []
    for s, p in zip(scores, probes, strict=True):
        relevant = gallery == p
        if not relevant.any():
            continue
        order = sorted(range(s.size), key=lambda j: (-s[j], bool(relevant[j])))
        hits, total = 0, 0.0
        for position, j in enumerate(order, start=1):
            if relevant[j]:
                hits += 1
                total += hits / position
        aps.append(total / relevant.sum())
    return float(np.mean(aps))


@pytest.mark.parametrize("seed", range(3))
def test_map_with_many_ties_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    gallery = rng.integers(0, 6, 90)
    probes = rng.integers(0, 8, 30)  # some unmated
    scores = rng.integers(0, 4, (30, 90)) / 4  # heavy ties
    assert mean_average_precision(scores, gallery, probes) == pytest.approx(
        _brute_force_map(scores, gallery, probes)
    )


def test_cmc_clips_ranks_beyond_max_rank():
    ranks = np.array([1, 2, 5, 7, 0])
    np.testing.assert_allclose(cmc(ranks, max_rank=3), [1 / 4, 2 / 4, 2 / 4])
    np.testing.assert_allclose(cmc(np.array([1])), [1.0])
    np.testing.assert_allclose(cmc(np.array([3, 3])), [0, 0, 1.0])


def test_open_set_dir_rank_and_threshold_rules():
    gallery = np.array(["a", "b"])
    non_mated = np.stack([np.arange(100) / 100, np.zeros(100)], axis=1)
    # mated probe at rank 2 with a score above the threshold; another exactly at it
    mated = np.array([[0.995, 0.999], [0.9, 0.1]])
    scores = np.vstack([mated, non_mated])
    labels = np.array(["a", "a", *["z"] * 100])
    rate1, t = dir_at_fpir(scores, gallery, labels, 1e-2)
    assert rate1 == 0.0
    rate2, _ = dir_at_fpir(scores, gallery, labels, 1e-2, rank=2)
    assert rate2 == 0.5
    got = open_set_dir(np.array([1]), np.array([t]), np.arange(100) / 100, 1e-2)
    assert got == (1.0, t)  # a score equal to the threshold is accepted
    weights = np.r_[np.ones(50), np.zeros(50)]  # only the lower half counts
    _, t_w = open_set_dir(
        np.array([1]), np.array([0.5]), np.arange(100) / 100, 0.1, non_mated_weights=weights
    )
    assert t_w == pytest.approx(np.nextafter(0.44, 1.0))
    assert math.isnan(open_set_dir(np.array([], int), np.array([]), np.arange(10.0), 0.1)[0])
