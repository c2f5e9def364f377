"""PAD metrics (ISO/IEC 30107-3) against hand-computed values and scikit-learn's ROC."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_curve as sk_roc_curve

from gallery.evaluation import presentation_attack
from gallery.pad_metrics import (
    apcer,
    apcer_at_bpcer,
    apcer_max,
    apcer_per_type,
    bpcer,
    det_curve,
    det_curves,
    pad_summary,
    split_presentations,
    threshold_at_bpcer,
)

NAN = math.nan
#: Bona fide [0.9, 0.8, 0.5, 0.5, 0.3] (and one unmeasured); print [0.5, 0.2, 0.1] (and
#: one unmeasured); screen [0.6, 0.4]. Ties sit at 0.5.
SCORES = np.array([0.9, 0.5, 0.2, 0.8, 0.6, 0.5, NAN, 0.1, 0.5, 0.4, 0.3, NAN])
ATTACKS = np.array(["", "print", "print", "", "screen", "", "", "print", "", "screen", "", "print"])


def test_split_leaves_out_unmeasured_rows():
    bona_fide, by_type = split_presentations(SCORES, ATTACKS)
    np.testing.assert_array_equal(bona_fide, [0.9, 0.8, 0.5, 0.5, 0.3])
    assert list(by_type) == ["print", "screen"]
    np.testing.assert_array_equal(by_type["print"], [0.5, 0.2, 0.1])
    np.testing.assert_array_equal(by_type["screen"], [0.6, 0.4])


def test_rates_at_a_threshold_count_ties_as_bona_fide():
    # At 0.5: bona fide 0.3 rejected (1 of 5); print 0.5 accepted (1 of 3); screen 0.6.
    assert bpcer([0.9, 0.8, 0.5, 0.5, 0.3], 0.5) == pytest.approx(1 / 5)
    assert apcer([0.5, 0.2, 0.1], 0.5) == pytest.approx(1 / 3)
    per_type = apcer_per_type(SCORES, ATTACKS, 0.5)
    assert per_type == pytest.approx({"print": 1 / 3, "screen": 1 / 2})
    assert list(per_type) == ["print", "screen"]
    assert apcer_max(per_type) == pytest.approx(1 / 2)
    # Just above the tie: both bona fide 0.5 rejected, the print at 0.5 no longer accepted.
    above = math.nextafter(0.5, 1.0)
    assert bpcer([0.9, 0.8, 0.5, 0.5, 0.3], above) == pytest.approx(3 / 5)
    assert apcer_per_type(SCORES, ATTACKS, above) == pytest.approx({"print": 0.0, "screen": 0.5})


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (0.1, 0.3),  # k = 0: nothing may be rejected; the lowest score
        (0.2, 0.5),  # k = 1: 0.3 rejected
        (0.39, 0.5),  # k = 1
        (0.4, 0.5),  # k = 2, but the two 0.5s tie: rejecting one rejects both (BPCER 0.6)
        (0.6, 0.8),  # k = 3: 0.3, 0.5, 0.5 rejected
        (0.99, 0.9),
        (1.0, math.inf),  # every face may be rejected
    ],
)
def test_threshold_at_bpcer_is_the_largest_keeping_the_target(target, expected):
    bona_fide = np.array([0.9, 0.8, 0.5, 0.5, 0.3])
    threshold = threshold_at_bpcer(bona_fide, target)
    assert threshold == expected
    assert bpcer(bona_fide, threshold) <= target


def test_threshold_at_bpcer_is_not_fooled_by_rounding():
    # 0.29 * 100 is 28.999999999999996 in floating point: 29 faces may still be rejected.
    bona_fide = np.arange(100, dtype=np.float64)
    assert threshold_at_bpcer(bona_fide, 0.29) == 29.0
    assert bpcer(bona_fide, 29.0) == pytest.approx(0.29)


@pytest.mark.parametrize("seed", range(5))
def test_threshold_at_bpcer_against_every_candidate(seed):
    rng = np.random.default_rng(seed)
    bona_fide = rng.integers(0, 12, size=rng.integers(1, 40)) / 10.0  # many ties
    target = float(rng.uniform(0.01, 0.9))
    candidates = np.r_[np.unique(bona_fide), np.inf]
    admissible = [t for t in candidates if np.mean(bona_fide < t) <= target]
    assert threshold_at_bpcer(bona_fide, target) == max(admissible)


def test_apcer_at_bpcer_uses_the_bona_fide_threshold():
    # BPCER 0.2 of the bona fide [0.9, 0.8, 0.5, 0.5, 0.3] gives threshold 0.5.
    result = apcer_at_bpcer(SCORES, ATTACKS, 0.2)
    assert result == pytest.approx({"print": 1 / 3, "screen": 1 / 2, "max": 1 / 2})
    # BPCER 0.1: threshold 0.3, so print 0.5 and screen 0.6, 0.4 get through.
    result = apcer_at_bpcer(SCORES, ATTACKS, 0.1)
    assert result == pytest.approx({"print": 1 / 3, "screen": 1.0, "max": 1.0})


def test_det_curve_by_hand():
    bpcers, apcers, thresholds = det_curve([0.9, 0.5, 0.3], [0.5, 0.1])
    np.testing.assert_array_equal(thresholds, [np.inf, 0.9, 0.5, 0.3, 0.1])
    np.testing.assert_allclose(bpcers, [1, 2 / 3, 1 / 3, 0, 0])
    np.testing.assert_allclose(apcers, [0, 0, 1 / 2, 1 / 2, 1])


@pytest.mark.parametrize("seed", range(5))
def test_det_curve_is_sklearns_roc_with_bona_fide_positive(seed):
    """APCER is the false positive rate, BPCER one minus the true positive rate."""
    rng = np.random.default_rng(seed)
    bona_fide = np.round(rng.normal(0.7, 0.15, rng.integers(5, 200)), 2)
    attack = np.round(rng.normal(0.4, 0.2, rng.integers(5, 80)), 2)
    bpcers, apcers, thresholds = det_curve(bona_fide, attack)
    truth = np.r_[np.ones(bona_fide.size), np.zeros(attack.size)]
    fpr, tpr, sk_thresholds = sk_roc_curve(truth, np.r_[bona_fide, attack], drop_intermediate=False)
    np.testing.assert_allclose(apcers, fpr, rtol=0, atol=1e-12)
    np.testing.assert_allclose(bpcers, 1 - tpr, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(thresholds[1:], sk_thresholds[1:])
    # Each point is the rates at its threshold.
    for k in rng.integers(0, thresholds.size, 5):
        assert bpcers[k] == pytest.approx(np.mean(bona_fide < thresholds[k]))
        assert apcers[k] == pytest.approx(np.mean(attack >= thresholds[k]))


def test_det_curves_one_per_type_against_all_bona_fide():
    curves = det_curves(SCORES, ATTACKS)
    assert list(curves) == ["print", "screen"]
    bona_fide = [0.9, 0.8, 0.5, 0.5, 0.3]
    for kind, attack in (("print", [0.5, 0.2, 0.1]), ("screen", [0.6, 0.4])):
        for got, want in zip(curves[kind], det_curve(bona_fide, attack), strict=True):
            np.testing.assert_array_equal(got, want)


def test_nan_is_refused_where_one_class_is_given():
    with pytest.raises(ValueError, match="NaN"):
        bpcer([0.5, NAN], 0.4)
    with pytest.raises(ValueError, match="NaN"):
        det_curve([0.5], [NAN])
    with pytest.raises(ValueError, match="at least one"):
        apcer([], 0.5)
    with pytest.raises(ValueError, match="one entry per presentation"):
        apcer_per_type([0.5], ["print", ""], 0.5)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        threshold_at_bpcer([0.5], 0.0)


def hundred_bona_fide() -> tuple[np.ndarray, np.ndarray]:
    """Bona fide 0.00, 0.01, ..., 0.99; print [0.005, 0.01, 0.5, unmeasured]; screen [0, 0.995]."""
    scores = np.r_[np.arange(100) / 100, [0.005, 0.01, 0.5, NAN], [0.0, 0.995]]
    attacks = np.r_[[""] * 100, ["print"] * 4, ["screen"] * 2]
    return scores, attacks


def test_pad_summary_by_hand():
    scores, attacks = hundred_bona_fide()
    summary = pad_summary(scores, attacks, 0.02)
    assert summary["threshold"] == 0.02
    assert summary["bpcer"] == pytest.approx(0.02)  # 0.00 and 0.01 rejected
    assert summary["apcer"] == pytest.approx({"print": 1 / 3, "screen": 1 / 2})
    assert summary["apcer_max"] == pytest.approx(1 / 2)
    # BPCER 1e-2: one face may be rejected, so the threshold is 0.01 and the tied print passes.
    assert summary["apcer_at_bpcer"]["1e-2"] == pytest.approx(
        {"print": 2 / 3, "screen": 1 / 2, "max": 2 / 3}
    )
    # BPCER 1e-3 needs 1000 bona fide presentations.
    assert summary["apcer_at_bpcer"]["1e-3"] is None
    assert "100 bona fide presentations, at least 1000" in summary["apcer_at_bpcer_note"]["1e-3"]
    assert "1e-2" not in summary["apcer_at_bpcer_note"]
    assert summary["bona_fide"] == 100
    assert summary["attacks"] == {"print": 3, "screen": 2}
    assert summary["not_measured"] == 1


def test_pad_summary_without_a_threshold_or_bona_fide():
    summary = pad_summary(np.array([0.5, 0.2]), np.array(["print", "mask"]), None)
    assert summary["threshold"] is None and summary["bpcer"] is None
    assert summary["apcer"] == {"mask": None, "print": None}
    assert summary["apcer_max"] is None
    assert summary["apcer_at_bpcer"] == {"1e-2": None, "1e-3": None}
    assert summary["bona_fide"] == 0
    # With a threshold, the attacks are measured even without bona fide scores.
    summary = pad_summary(np.array([0.5, 0.2]), np.array(["print", "mask"]), 0.3)
    assert summary["apcer"] == {"mask": 0.0, "print": 1.0} and summary["bpcer"] is None


def test_presentation_attack_threshold_from_calibration_or_own_scores():
    scores, attacks = hundred_bona_fide()
    own, curves = presentation_attack(scores, attacks, bpcer_target=0.01, calibrated=None)
    assert own["threshold"] == 0.01 and own["threshold_source"] == "bona fide scores"
    assert own["bpcer_target"] == 0.01 and own["bpcer"] == pytest.approx(0.01)
    assert own["apcer"] == pytest.approx({"print": 2 / 3, "screen": 1 / 2})
    assert list(curves["det"]) == ["print", "screen"]
    assert curves["operating"]["threshold"] == 0.01
    calibrated, _ = presentation_attack(scores, attacks, bpcer_target=0.01, calibrated=0.02)
    assert calibrated["threshold"] == 0.02 and calibrated["threshold_source"] == "calibration"
    assert calibrated["apcer_max"] == pytest.approx(1 / 2)
    neither, curves = presentation_attack(
        scores[100:], attacks[100:], bpcer_target=0.01, calibrated=None
    )
    assert neither["threshold"] is None and neither["threshold_source"] == "none"
    assert curves["det"] == {}
