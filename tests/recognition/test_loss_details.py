"""Details of the training losses that the first tests left open (mutation testing, issue
17): defaults, dtypes and devices, messages, edge rules, and the classifier's own state.

Expected values come from the papers' formulas computed by hand (float64 or exact
rationals), from PyTorch's documented weighted cross-entropy, or from insightface's
recipes, never from the modules' own output.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from psbase.errors import ConfigError
from recognition.losses import ArcFace, CosFace, MagFace, MarginClassifier, TripletLoss
from recognition.losses.focal import binary_focal_loss, class_balanced_alpha
from recognition.losses.margins import build_margin
from recognition.losses.reversal import reversal_coefficient, reverse_gradient
from tests.recognition.test_focal import _batch, _focal

# --------------------------------------------------------------------------------------
# Binary focal loss
# --------------------------------------------------------------------------------------


def _by_hand(logits, targets, mask, alpha: float, gamma: float) -> torch.Tensor:
    """The (n, T) focal losses by hand in float64, 0 where unlabelled."""
    rows = [
        [
            _focal(float(x), int(y), alpha, gamma) if m else 0.0
            for x, y, m in zip(xs, ys, ms, strict=True)
        ]
        for xs, ys, ms in zip(logits.double(), targets.double(), mask, strict=True)
    ]
    return torch.tensor(rows, dtype=torch.float64)


def test_focal_defaults_are_unweighted_with_gamma_two():
    """Without α and γ the loss is Lin et al.'s FL with α = 1 (no class weighting) and
    their recommended γ = 2."""
    logits, targets, mask = _batch(seed=3)
    expected = _by_hand(logits, targets, mask, 1.0, 2.0)
    torch.testing.assert_close(
        binary_focal_loss(logits, targets, mask, reduction="none"), expected, rtol=1e-12, atol=0
    )
    torch.testing.assert_close(
        binary_focal_loss(logits, targets, mask), expected.sum() / mask.sum(), rtol=1e-12, atol=0
    )


def test_float_alpha_and_gamma_are_taken_at_the_logits_precision():
    """α = 0.3 and γ = 0.7 are not float32 numbers: with float64 logits the loss must use
    them at float64 precision, matching the hand computation to 1e-12."""
    logits, targets, mask = _batch(seed=4)
    losses = binary_focal_loss(logits, targets, mask, 0.3, 0.7, reduction="none")
    torch.testing.assert_close(
        losses, _by_hand(logits, targets, mask, 0.3, 0.7), rtol=1e-12, atol=0
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_float_alpha_and_gamma_follow_the_logits_device(reduction):
    """Float α and γ are made on the logits' device (a GPU in training; the meta device
    here), so the loss runs there without a device mismatch."""
    logits = torch.zeros(4, 3, device="meta")
    mask = torch.ones(4, 3, dtype=torch.bool, device="meta")
    loss = binary_focal_loss(logits, logits, mask, 0.25, 2.0, reduction=reduction)
    assert loss.device.type == "meta"
    assert loss.shape == ((4, 3) if reduction == "none" else ())


def test_half_logits_are_computed_in_float32():
    """The docstring's promise: float16 logits give float32 losses, accurate to float32
    (a float16 computation would be off by about 1e-3)."""
    logits = torch.tensor([[0.5, -1.25], [3.0, -0.125], [-2.5, 0.75]], dtype=torch.float16)
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float16)
    mask = torch.ones(3, 2, dtype=torch.bool)
    expected = _by_hand(logits, targets, mask, 0.25, 2.0)
    losses = binary_focal_loss(logits, targets, mask, 0.25, 2.0, reduction="none")
    assert losses.dtype == torch.float32
    torch.testing.assert_close(losses.double(), expected, rtol=1e-6, atol=0)
    mean = binary_focal_loss(logits, targets, mask, 0.25, 2.0)
    assert mean.dtype == torch.float32
    assert float(mean) == pytest.approx(float(expected.mean()), rel=1e-6)


def test_float64_targets_do_not_change_the_losses_dtype():
    """The loss takes the logits' precision: float64 targets with float32 logits give
    float32 losses, not a silent float64 graph."""
    logits, targets, mask = _batch(seed=5)
    losses = binary_focal_loss(logits.float(), targets.double(), mask, 0.5, 1.0, reduction="none")
    assert losses.dtype == torch.float32
    expected = _by_hand(logits.float(), targets, mask, 0.5, 1.0)
    torch.testing.assert_close(losses.double(), expected, rtol=1e-5, atol=1e-7)


def test_a_float_or_integer_mask_means_the_same_as_a_boolean_one():
    """Masks often arrive as 0/1 numbers from a data loader: they select the same
    entries as the boolean mask."""
    logits, targets, mask = _batch(seed=6)
    reference = binary_focal_loss(logits, targets, mask, 0.4, 1.5, reduction="none")
    for numbers in (mask.double(), mask.long()):
        losses = binary_focal_loss(logits, targets, numbers, 0.4, 1.5, reduction="none")
        torch.testing.assert_close(losses, reference, rtol=0, atol=0)
        assert float(binary_focal_loss(logits, targets, numbers, 0.4, 1.5)) == pytest.approx(
            float(reference.sum() / mask.sum()), rel=1e-12
        )


def test_focal_bad_arguments_are_refused_with_the_whole_reason():
    logits, targets, mask = _batch(n=8, tasks=3)
    with pytest.raises(ValueError, match=r"^reduction must be one of mean, sum, none, got 'max'$"):
        binary_focal_loss(logits, targets, mask, reduction="max")
    with pytest.raises(
        ValueError,
        match=r"^logits, targets and mask must all be \(n, T\), got \(8, 3\), \(8, 2\) and "
        r"\(8, 3\)$",
    ):
        binary_focal_loss(logits, targets[:, :2], mask)
    with pytest.raises(ValueError, match=r"^gamma must be a float or \(3, 2\), got \(3,\)$"):
        binary_focal_loss(logits, targets, mask, 1.0, torch.ones(3))


def test_class_balanced_alpha_refuses_bad_shapes_and_floors_with_the_reason():
    targets = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    with pytest.raises(
        ValueError, match=r"^targets and mask must both be \(n, T\), got \(4, 2\) and \(4, 1\)$"
    ):
        class_balanced_alpha(targets, torch.ones(4, 1, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"^min_count must be positive, got 0$"):
        class_balanced_alpha(targets, torch.ones(4, 2, dtype=torch.bool), min_count=0)


def test_class_balanced_alpha_counts_exactly_from_half_precision_targets():
    """Counts are kept in float32 at least: 4097 ones and 3 zeros stored as float16
    (which cannot hold 4097) still give α = (n_1, n_0) / n = (4097, 3) / 4100."""
    targets = torch.cat([torch.ones(4097, 1), torch.zeros(3, 1)]).half()
    alpha = class_balanced_alpha(targets, torch.ones(4100, 1, dtype=torch.bool))
    assert alpha.dtype == torch.float32
    torch.testing.assert_close(alpha, torch.tensor([[4097 / 4100, 3 / 4100]]), rtol=1e-6, atol=0)


def test_class_balanced_alpha_takes_a_numeric_mask():
    """A 0/1 numeric mask selects the same entries as a boolean one. Task 0 has rows
    0, 1, 2, 4 labelled (one 1, three 0s): α = (1, 3) / 4; task 1 rows 0, 2, 3, 4 (three
    1s, one 0): α = (3, 1) / 4. Counting every row would give (2, 3) / 5 for task 0."""
    targets = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 1.0]])
    mask = torch.tensor([[1, 1], [1, 0], [1, 1], [0, 1], [1, 1]])
    expected = torch.tensor([[0.25, 0.75], [0.75, 0.25]])
    for numbers in (mask, mask.float()):
        torch.testing.assert_close(class_balanced_alpha(targets, numbers), expected)


def test_a_floor_near_the_float_limit_gives_the_unseen_label_all_the_weight():
    """As the floor goes to 0 an unseen label's α tends to 1: with a floor of 1e-308 (its
    inverse still a float64) the weights are (1, 0) to rounding, finite, not inf/inf."""
    targets = torch.tensor([[1.0], [1.0], [1.0]], dtype=torch.float64)
    alpha = class_balanced_alpha(targets, torch.ones(3, 1, dtype=torch.bool), min_count=1e-308)
    assert torch.all(torch.isfinite(alpha))
    assert float(alpha[0, 0]) == 1.0 and 0.0 <= float(alpha[0, 1]) < 1e-300


# --------------------------------------------------------------------------------------
# Margin heads and the classifier
# --------------------------------------------------------------------------------------


def test_arcface_past_pi_uses_insightfaces_continuation():
    """Where θ + m > π the target logit is s·(cos θ - m·sin m) (insightface's `cosine -
    mm`, mm = sin(π - m)·m), here for θ up to π with m = 0.5."""
    cos = torch.tensor([[-0.9], [-0.95], [-0.99], [-1.0]], dtype=torch.float64)
    labels = torch.zeros(4, dtype=torch.long)
    logits = ArcFace(s=64, m=0.5)(cos, labels)
    assert torch.all(torch.acos(cos) + 0.5 > math.pi)
    expected = 64 * (cos - 0.5 * math.sin(0.5))
    torch.testing.assert_close(logits, expected, rtol=1e-12, atol=0)


def test_magface_without_magnitudes_says_so():
    cos = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=r"^MagFace needs the features' magnitudes$"):
        MagFace()(cos, torch.tensor([0, 1]))


@pytest.mark.parametrize(
    "bounds",
    [
        {"l_a": 0.5, "u_a": 2.0},  # magnitudes below 1 are a valid range
        {"l_m": 0.0, "u_m": 0.3},  # a margin growing from zero
        {"l_m": 0.3, "u_m": 0.3},  # a constant margin
    ],
)
def test_magface_accepts_every_range_its_rule_allows(bounds):
    """0 < l_a < u_a and 0 <= l_m <= u_m: the edges of the rule are allowed, and m(a)
    is still the straight line between (l_a, l_m) and (u_a, u_m)."""
    head = MagFace(**bounds)
    l_a, u_a = bounds.get("l_a", 10.0), bounds.get("u_a", 110.0)
    l_m, u_m = bounds.get("l_m", 0.45), bounds.get("u_m", 0.8)
    a = torch.tensor([l_a, (l_a + u_a) / 2, u_a], dtype=torch.float64)
    torch.testing.assert_close(
        head.margin(a), torch.tensor([l_m, (l_m + u_m) / 2, u_m], dtype=torch.float64)
    )


def test_magface_with_equal_margins_is_arcface():
    cos, labels = torch.tensor([[0.3, -0.2], [0.9, 0.1]], dtype=torch.float64), torch.tensor([0, 1])
    magnitude = torch.tensor([5.0, 70.0], dtype=torch.float64)
    torch.testing.assert_close(
        MagFace(s=30, l_m=0.4, u_m=0.4)(cos, labels, magnitude), ArcFace(s=30, m=0.4)(cos, labels)
    )


def test_magface_with_an_empty_magnitude_range_is_refused():
    """l_a = u_a leaves m(a) as 0/0: the constructor refuses it."""
    with pytest.raises(ConfigError, match="MagFace needs 0 < l_a < u_a"):
        MagFace(l_a=50.0, u_a=50.0)


@pytest.mark.parametrize("magnitude_dtype", [torch.float64, torch.float16])
def test_magface_logits_keep_the_cosines_dtype_and_precision(magnitude_dtype):
    """Magnitudes in another dtype are converted to the cosines': float64 magnitudes do
    not turn float32 logits into float64, and float16 ones do not coarsen the margin."""
    cos = torch.tensor([[0.6, 0.1], [0.2, -0.3]])
    labels = torch.tensor([0, 1])
    magnitude = torch.tensor([22.0, 87.0], dtype=magnitude_dtype)  # exact in float16
    logits = MagFace()(cos, labels, magnitude)
    assert logits.dtype == torch.float32
    # m(a) = 0.45 + 0.35 (a - 10) / 100: 0.492 and 0.7195.
    expected = [
        64 * math.cos(math.acos(float(cos[0, 0])) + 0.492),
        64 * math.cos(math.acos(float(cos[1, 1])) + 0.7195),
    ]
    assert float(logits[0, 0]) == pytest.approx(expected[0], rel=1e-5)
    assert float(logits[1, 1]) == pytest.approx(expected[1], rel=1e-5)


def test_build_margin_makes_each_head_with_its_settings():
    cosface = build_margin("cosface", s=30.0, m=0.2)
    assert isinstance(cosface, CosFace) and (cosface.s, cosface.m) == (30.0, 0.2)
    arcface = build_margin("arcface", s=32.0, m=0.4)
    assert isinstance(arcface, ArcFace) and (arcface.s, arcface.m) == (32.0, 0.4)
    assert isinstance(build_margin("magface"), MagFace)


def test_class_centres_start_as_insightfaces_small_gaussian():
    """Centres start as N(0, 0.01²) entries (insightface's PartialFC): centred, so their
    directions are random, and small, which sets the centres' effective learning rate
    (the gradient of W/|W| scales as 1/|W|)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        weight = MarginClassifier(64, 500, ArcFace()).weight.detach()
    assert abs(float(weight.mean())) < 1e-3
    assert 0.0097 < float(weight.std()) < 0.0103


def _features(n: int, k: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Centres (k, d), and n features near their labels' centres at various magnitudes."""
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(k, d, generator=g, dtype=torch.float64))
    labels = torch.arange(n) % k
    direction = F.normalize(centres[labels] + 0.3 * torch.randn(n, d, generator=g).double())
    return centres, labels, direction


def _weighted_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor):
    """PyTorch's documented weighted mean: Σ w_{y_i} nll_i / Σ w_{y_i}."""
    nll = torch.logsumexp(logits, 1) - logits[torch.arange(len(labels)), labels]
    return (weight[labels] * nll).sum() / weight[labels].sum()


def test_classifier_with_magface_uses_each_samples_magnitude_and_adds_the_regulariser():
    """Loss = CE(s·cos(θ_y + m(a_i)), s·cos θ_j) + λ_g·mean g(a_i), a_i = |f_i| per sample."""
    centres, labels, direction = _features(n=6, k=3, d=8, seed=1)
    magnitude = torch.tensor([5.0, 30.0, 60.0, 90.0, 150.0, 45.0], dtype=torch.float64)
    features = (direction * magnitude[:, None]).float()
    head = MagFace()
    classifier = MarginClassifier(8, 3, head)
    with torch.no_grad():
        classifier.weight.copy_(centres.float() * 0.05)
    cos = direction @ centres.T
    rows = torch.arange(6)
    margin = 0.45 + 0.35 * (magnitude.clamp(10, 110) - 10) / 100
    logits = 64 * cos
    logits[rows, labels] = 64 * torch.cos(torch.acos(cos[rows, labels]) + margin)
    g = magnitude / 110.0**2 + 1.0 / magnitude
    expected = _weighted_cross_entropy(logits, labels, torch.ones(3, dtype=torch.float64))
    expected = expected + 35.0 * g.mean()
    assert float(classifier(features, labels).detach()) == pytest.approx(float(expected), rel=1e-5)


def test_classifier_class_weights_weight_the_cross_entropy():
    centres, labels, direction = _features(n=7, k=3, d=5, seed=2)
    weight = torch.tensor([0.5, 2.0, 1.25])
    classifier = MarginClassifier(5, 3, CosFace(s=30.0, m=0.2), class_weight=weight)
    with torch.no_grad():
        classifier.weight.copy_(centres.float())
    cos = direction @ centres.T
    logits = 30 * (cos - 0.2 * F.one_hot(labels, 3))
    expected = _weighted_cross_entropy(logits, labels, weight.double())
    loss = classifier((direction * 20).float(), labels)
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-5)
    # CosFace adds no regulariser, and equal weights are the plain mean.
    plain = MarginClassifier(5, 3, CosFace(s=30.0, m=0.2))
    with torch.no_grad():
        plain.weight.copy_(centres.float())
    assert float(plain((direction * 20).float(), labels).detach()) == pytest.approx(
        float(F.cross_entropy(logits, labels)), rel=1e-5
    )


def test_unweighted_classifier_keeps_a_ones_buffer_that_checkpoints_can_fill():
    """Without class weights the buffer holds ones, and it is part of the state dict: a
    checkpoint of a weighted classifier loads into a default-built one, weights and all."""
    default = MarginClassifier(4, 3, CosFace())
    assert torch.equal(default.class_weight, torch.ones(3))
    weighted = MarginClassifier(4, 3, CosFace(), class_weight=torch.tensor([1.0, 3.0, 0.5]))
    assert set(default.state_dict()) == {"weight", "class_weight"}
    default.load_state_dict(weighted.state_dict())
    assert torch.equal(default.class_weight, torch.tensor([1.0, 3.0, 0.5]))


def _unit_with_cosine_above_one() -> torch.Tensor:
    """(121, 289, 4084)/4096: the squares and all partial sums are exact in float32 and
    add up to 1 + 2^-23, so its float32 self-dot product is exactly 1 + 2^-23, while its
    float32 norm rounds to 1 (F.normalize leaves it as it is)."""
    assert 121**2 + 289**2 + 4084**2 == 2**24 + 2
    return torch.tensor([121.0, 289.0, 4084.0]) / 4096


def test_cosines_are_clamped_to_minus_one_and_one():
    """A feature along a centre has cos θ = 1 exactly, against it -1, even where float32
    rounding of the dot product says 1 + 2^-23 (acos of that is NaN)."""
    u = _unit_with_cosine_above_one()
    assert float(u @ u) > 1.0  # what the clamp is for
    classifier = MarginClassifier(3, 2, ArcFace())
    with torch.no_grad():
        classifier.weight.copy_(torch.stack([u, -u]))
    cos = classifier.cosine(torch.stack([u, -u]))
    assert torch.equal(cos, torch.tensor([[1.0, -1.0], [-1.0, 1.0]]))


# --------------------------------------------------------------------------------------
# Triplet loss
# --------------------------------------------------------------------------------------

E1, E2, E3 = torch.eye(3)


def test_triplet_defaults_are_batch_hard_with_facenets_margin():
    """TripletLoss() is batch-hard mining with FaceNet's margin 0.2. Anchor e1 and
    positive e2 are at squared distance 2, negative e3 at 2 from both and -e1 at 4 from
    e1: batch-hard gives max(0, 2 - 2 + 0.2) for both anchors; semi-hard would give 0.1."""
    z = torch.stack([E1, E2, E3, -E1])
    labels = torch.tensor([0, 0, 1, 2])
    assert float(TripletLoss()(z, labels)) == pytest.approx(0.2, abs=1e-7)
    assert float(TripletLoss(mining="semihard")(z, labels)) == pytest.approx(0.1, abs=1e-7)


def test_triplet_unknown_mining_is_named():
    with pytest.raises(ConfigError, match=r"^mining must be 'hard' or 'semihard', got 'easy'$"):
        TripletLoss(mining="easy")


def test_semihard_negatives_must_be_strictly_farther_than_the_positive():
    """FaceNet's semi-hard negatives satisfy d(a, p) < d(a, n): a negative exactly as far
    as the positive is not one. e1, e2 (person 0) at distance 2; e3 at 2 from both; -e1
    at 4 from e1 and 2 from e2. Margin 3: the pair (e1, e2) takes -e1 (3 + 2 - 4 = 1),
    the pair (e2, e1) has no negative beyond 2 and falls back to the hardest (3)."""
    z = torch.stack([E1, E2, E3, -E1])
    loss = TripletLoss(margin=3.0, mining="semihard")(z, torch.tensor([0, 0, 1, 2]))
    assert float(loss) == 2.0


@pytest.mark.parametrize("mining", ["hard", "semihard"])
def test_identical_embeddings_are_at_distance_exactly_zero(mining):
    """Squared distances are 2 - 2 cos, floored at 0: two copies of u (whose float32
    cosine with itself is 1 + 2^-23) are at distance 0, not -2^-22. With e1 at distance
    2 - 2·121/4096 from u and margin 2, every anchor's loss is exactly 242/4096."""
    u = _unit_with_cosine_above_one()
    z = torch.stack([u, u, E1, E1])
    loss = TripletLoss(margin=2.0, mining=mining)(z, torch.tensor([0, 0, 1, 1]))
    assert float(loss) == 242 / 4096


@pytest.mark.parametrize("mining", ["hard", "semihard"])
def test_a_batch_without_positive_pairs_gives_zero_with_a_graph(mining):
    """No identity twice: no triplet, so the loss is 0 (not the NaN mean of nothing), and
    backward still runs, giving zero gradients."""
    features = torch.randn(4, 5, requires_grad=True)
    loss = TripletLoss(mining=mining)(features, torch.arange(4))
    assert float(loss.detach()) == 0.0 and loss.requires_grad
    (grad,) = torch.autograd.grad(loss, features)
    assert torch.equal(grad, torch.zeros(4, 5))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("mining", ["hard", "semihard"])
def test_triplet_loss_runs_on_the_gpu(mining):
    z = torch.stack([E1, E2, E3, -E1])
    labels = torch.tensor([0, 0, 1, 2])
    on_cpu = TripletLoss(mining=mining)(z, labels)
    on_gpu = TripletLoss(mining=mining)(z.cuda(), labels.cuda())
    assert on_gpu.device.type == "cuda"
    assert float(on_gpu) == pytest.approx(float(on_cpu), abs=1e-6)


# --------------------------------------------------------------------------------------
# Gradient reversal
# --------------------------------------------------------------------------------------


def test_reverse_gradient_negates_at_full_strength_by_default():
    x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(3, 2, dtype=torch.float64)
    (grad,) = torch.autograd.grad(reverse_gradient(x), x, upstream)
    assert torch.equal(grad, -upstream)


@pytest.mark.parametrize("steepness", [0.5, 1.0])
def test_a_gentle_steepness_is_allowed(steepness):
    """Any positive γ is a valid ramp, below 1 included: λ(1) = tanh(γ/2) (no warm-up)."""
    value = reversal_coefficient(1.0, warmup=0.0, steepness=steepness)
    assert value == pytest.approx(math.tanh(steepness / 2), rel=1e-12)
