"""Details of gallery.metrics that the first tests left open (mutation testing, issue 17):
messages, dtypes, the EER and threshold rules at their edges, and defaults.

Expected values come from hand computation, exact rationals (fractions.Fraction) or the
definitions in the module's docstrings, never from the functions' own output.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from gallery.metrics import (
    cmc,
    dir_at_fpir,
    eer_from_roc,
    equal_error_rate,
    genuine_ranks,
    mean_average_precision,
    open_set_dir,
    pair_scores,
    roc_auc,
    tar_at_far,
    threshold_at_far,
    verification_summary,
)

NO_MATES = r"^no mated probes: every probe's identity is missing from the gallery\.$"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: pair_scores(np.ones(3), np.arange(3)),
            r"^embeddings must be \(n, d\) and labels \(n,\) with the same n\.$",
        ),
        (lambda: roc_auc([], [0.1]), r"^need at least one genuine and one impostor score\.$"),
        (lambda: roc_auc([0.1], [np.nan]), r"^scores must be finite\.$"),
        (lambda: threshold_at_far([], 0.1), r"^need at least one impostor score\.$"),
        (
            lambda: threshold_at_far([0.1, 0.2], 0.5, weights=[1.0]),
            r"^weights must have one entry per impostor score\.$",
        ),
        (
            lambda: genuine_ranks(np.ones((2, 2)), np.array(["a", "b"]), np.array(["a"])),
            r"^scores must be \(n_probes, n_gallery_identities\)\.$",
        ),
        (
            lambda: genuine_ranks(np.ones((1, 2)), np.array(["a", "a"]), np.array(["a"])),
            r"^gallery labels must be distinct \(one column per identity\)\.$",
        ),
        (lambda: cmc(np.array([0, 0])), NO_MATES),
        (
            lambda: mean_average_precision(np.ones((1, 2)), np.array(["a", "b"]), np.array(["z"])),
            NO_MATES,
        ),
    ],
)
def test_refusals_say_exactly_why(call, message):
    """The whole message, as the user reads it (the first tests matched a fragment)."""
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("missing", ["genuine", "impostor"])
def test_a_missing_score_is_refused_as_not_finite(missing):
    """A score left empty (None, as JSON null reads) is read as NaN and refused with the
    finiteness message, not a TypeError from deep inside NumPy."""
    scores = {"genuine": [0.9, 0.8], "impostor": [0.1, 0.2]}
    scores[missing] = [*scores[missing], None]
    with pytest.raises(ValueError, match=r"^scores must be finite\.$"):
        verification_summary(scores["genuine"], scores["impostor"])


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_pair_scores_of_no_rows_keep_the_embeddings_dtype(dtype):
    """The documented dtype (the embeddings', at least float32) holds for no rows too."""
    genuine, impostor = pair_scores(np.empty((0, 4), dtype), np.empty(0))
    assert genuine.dtype == np.float32 and impostor.dtype == np.float32
    assert genuine.size == 0 and impostor.size == 0


def _exact_eer(far, tar) -> Fraction:
    """EER of ROC points in exact rationals: the first segment where FAR - FRR reaches 0,
    FAR and FRR linear along it, solved for FAR = FRR."""
    f = [Fraction(float(x)) for x in far]
    r = [1 - Fraction(float(x)) for x in tar]
    for k in range(1, len(f)):
        if f[k] - r[k] >= 0:
            d0, d1 = f[k - 1] - r[k - 1], f[k] - r[k]
            return f[k - 1] + d0 / (d0 - d1) * (f[k] - f[k - 1])
    raise AssertionError("the ROC never crosses FAR = FRR")


@pytest.mark.parametrize("which", ["far", "tar", "both"])
def test_eer_of_float32_roc_points_is_computed_in_float64(which):
    """ROC points stored as float32 (a weighted ROC saved compactly) are interpolated in
    float64: the EER of their values matches the exact rational one to 1e-15."""
    far = np.array([0.0, 0.001, 0.9, 1.0])
    tar = np.array([0.0, 0.01, 0.95, 1.0])
    if which in ("far", "both"):
        far = far.astype(np.float32)
    if which in ("tar", "both"):
        tar = tar.astype(np.float32)
    expected = float(_exact_eer(far, tar))
    assert eer_from_roc(far, tar) == pytest.approx(expected, rel=1e-15)


def test_all_tied_scores_give_the_chance_eer():
    """Every score equal: the ROC goes straight from (0, 0) to (1, 1), and FAR = FRR
    half way, at 0.5."""
    assert equal_error_rate([0.5, 0.5], [0.5, 0.5, 0.5]) == 0.5
    assert eer_from_roc([0.0, 1.0], [0.0, 1.0]) == 0.5


@pytest.mark.parametrize("n", [257, 300, 500])
def test_tar_at_every_far_uses_exactly_the_next_highest_impostor(n):
    """For k = 1 .. n/2 allowed impostors (FAR = k/n), TAR is the share of genuine scores
    above the (k+1)-th highest impostor, whatever order the impostors come in."""
    impostor = np.arange(n) / n
    genuine = (np.arange(n) + 0.5) / n
    shuffled = np.random.default_rng(n).permutation(impostor)
    for order in (impostor, impostor[::-1].copy(), shuffled):
        for allowed in range(1, n // 2):
            v = (n - 1 - allowed) / n  # the (allowed + 1)-th highest of 0, 1/n, ...
            expected = np.count_nonzero(genuine > v) / n
            assert tar_at_far(genuine, order, allowed / n) == expected, (allowed, order[:3])


def test_weights_in_half_precision_still_count_exactly():
    """3000 unit weights given as float16 (which stops counting at 2048) are summed in
    float64: FAR 0.5 lets 1500 of the scores 0, 1/3000, ... through, so the threshold is
    just above the 1501st highest, 1499/3000."""
    impostor = np.arange(3000) / 3000
    t = threshold_at_far(impostor, 0.5, weights=np.ones(3000, np.float16))
    assert t == np.nextafter(1499 / 3000, np.inf)
    assert np.mean(impostor >= t) == 0.5


@pytest.mark.parametrize("scale", [1.0, 2.0**25, 2.0**40])
def test_scaling_every_weight_leaves_the_threshold_unchanged(scale):
    """FAR is a share of the total weight, so only the weights' ratios matter. Two equal
    weights and FAR 0.5: accepting the higher score is a FAR of exactly 0.5, allowed, so
    the threshold is just above the lower one, at any scale."""
    impostor = np.array([0.9, 0.3])
    t = threshold_at_far(impostor, 0.5, weights=np.array([scale, scale]))
    assert t == np.nextafter(0.3, 1.0)


def test_scores_are_compared_at_float64_precision():
    """The module reads scores as float64: two scores equal in float64 are a tie (counted
    against the probe) even if a longer float tells them apart."""
    if np.finfo(np.longdouble).nmant <= np.finfo(np.float64).nmant:
        pytest.skip("long double is float64 here")
    scores = np.array([[1.0, 1.0], [0.25, 0.5]], dtype=np.longdouble)
    scores[0, 0] += np.longdouble(2.0) ** -60  # exact in long double, lost in float64
    assert scores[0, 0] > scores[0, 1] and float(scores[0, 0]) == float(scores[0, 1])
    labels = np.array(["a", "b"])
    np.testing.assert_array_equal(genuine_ranks(scores, labels, labels), [2, 1])
    # probe "a": its template ties with "b"'s at the top, so it is second: AP 1/2
    assert mean_average_precision(scores, labels, labels) == pytest.approx((1 / 2 + 1) / 2)


def test_quantised_unsigned_scores_rank_like_their_values():
    """uint8 scores (a quantised similarity) order like the numbers they are: relevant
    templates at 200 and 50 come first and third: AP = (1/1 + 2/3) / 2."""
    scores = np.array([[200, 100, 50, 0]], dtype=np.uint8)
    ap = mean_average_precision(scores, np.array(["a", "b", "a", "c"]), np.array(["a"]))
    assert ap == pytest.approx(5 / 6)


def test_open_set_threshold_does_not_depend_on_the_scores_storage_dtype():
    """float32 scores are read as float64, so DIR and the threshold are those of the same
    values in float64: just above the highest non-mated score that must be rejected."""
    rng = np.random.default_rng(1)
    gallery = np.array(["a", "b", "c"])
    scores = rng.random((60, 3)).astype(np.float32)
    labels = np.r_[rng.choice(gallery, 20), ["z"] * 40]
    rate, threshold = dir_at_fpir(scores, gallery, labels, 0.1)
    # 40 non-mated probes, FPIR 0.1: 4 may pass, the 5th highest best score is rejected
    best = np.sort(scores[20:].astype(np.float64).max(axis=1))[::-1]
    assert threshold == np.nextafter(best[4], np.inf)
    assert (rate, threshold) == dir_at_fpir(scores.astype(np.float64), gallery, labels, 0.1)


def test_open_set_dir_counts_rank_one_by_default():
    """A mated probe above the threshold but at rank 2 is not identified unless asked."""
    non_mated = np.arange(100) / 100
    ranks, true_scores = np.array([1, 2]), np.array([0.995, 0.995])
    rate, _ = open_set_dir(ranks, true_scores, non_mated, 1e-2)
    assert rate == 0.5
    assert open_set_dir(ranks, true_scores, non_mated, 1e-2, rank=2)[0] == 1.0
    assert math.isnan(open_set_dir(ranks, true_scores, non_mated[:50], 1e-2)[0])
