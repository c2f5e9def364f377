"""Margin heads and the triplet loss: their defining properties."""

from __future__ import annotations

import math

import pytest
import torch

from psbase.errors import ConfigError
from recognition.config import TrainConfig
from recognition.losses import ArcFace, CosFace, MagFace, MarginClassifier, TripletLoss
from recognition.losses.margins import build_margin, inverse_frequency


def _cosines(n: int = 6, k: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    cos = torch.rand(n, k, generator=g, dtype=torch.float64) * 1.6 - 0.8
    return cos, torch.randint(0, k, (n,), generator=g)


@pytest.mark.parametrize(
    "head", [ArcFace(s=64, m=0.0), CosFace(s=64, m=0.0), MagFace(s=64, l_m=0.0, u_m=0.0)]
)
def test_zero_margin_gives_the_scaled_cosine(head):
    cos, labels = _cosines()
    logits = head(cos, labels, torch.full((len(labels),), 50.0, dtype=torch.float64))
    torch.testing.assert_close(logits, 64 * cos)


@pytest.mark.parametrize("m", [0.2, 0.5])
def test_arcface_target_logit_is_s_cos_theta_plus_m_and_others_unchanged(m):
    cos, labels = _cosines()
    logits = ArcFace(s=64, m=m)(cos, labels)
    rows = torch.arange(len(labels))
    theta = torch.acos(cos[rows, labels])
    torch.testing.assert_close(logits[rows, labels], 64 * torch.cos(theta + m))
    other = torch.ones_like(cos, dtype=torch.bool)
    other[rows, labels] = False
    torch.testing.assert_close(logits[other], 64 * cos[other])


def test_arcface_target_stays_monotonic_past_pi():
    cos = torch.linspace(-1, 1, 201, dtype=torch.float64)[:, None]
    logits = ArcFace(m=0.5)(cos, torch.zeros(201, dtype=torch.long))[:, 0]
    assert torch.all(logits.diff() > 0)


def test_cosface_target_logit_is_s_cos_minus_m():
    cos, labels = _cosines()
    logits = CosFace(s=30, m=0.35)(cos, labels)
    rows = torch.arange(len(labels))
    torch.testing.assert_close(logits[rows, labels], 30 * (cos[rows, labels] - 0.35))


def test_magface_margin_grows_with_magnitude_and_is_clamped():
    head = MagFace()
    a = torch.linspace(1, 200, 400, dtype=torch.float64)
    m = head.margin(a)
    assert torch.all(m.diff() >= 0)
    inside = (a > head.l_a) & (a < head.u_a)
    assert torch.all(m.diff()[inside[1:]] > 0)
    assert m[0] == pytest.approx(0.45) and m[-1] == pytest.approx(0.8)
    # The target logit is s·cos(θ + m(a)).
    cos = torch.tensor([[0.6, 0.1]], dtype=torch.float64)
    for value in (10.0, 60.0, 110.0):
        logits = head(cos, torch.tensor([0]), torch.tensor([value], dtype=torch.float64))
        expected = 64 * math.cos(math.acos(0.6) + float(head.margin(torch.tensor(value))))
        assert float(logits[0, 0]) == pytest.approx(expected)
        assert float(logits[0, 1]) == pytest.approx(6.4)


def test_magface_g_decreases_on_its_range_and_the_regulariser_pulls_magnitudes_into_it():
    head = MagFace()
    a = torch.linspace(head.l_a, head.u_a, 500, dtype=torch.float64)
    assert torch.all(head.g(a).diff() < 0)
    # Descent on the regulariser moves a magnitude below l_a up, one above u_a down.
    outside = torch.tensor([1.0, 5.0, 9.0, 120.0, 300.0, 1000.0], dtype=torch.float64)
    outside.requires_grad_(True)
    (grad,) = torch.autograd.grad(head.regulariser(outside), outside)
    step = -grad
    assert torch.all(step[:3] > 0) and torch.all(step[3:] < 0)
    # And its minimum over all magnitudes lies inside the range, at u_a.
    grid = torch.linspace(0.5, 1000, 20000, dtype=torch.float64)
    assert float(grid[head.g(grid).argmin()]) == pytest.approx(head.u_a, abs=0.1)


@pytest.mark.parametrize("head", [ArcFace(m=0.5), CosFace(m=0.35), MagFace()])
def test_gradients_flow_through_the_margin(head):
    cos, labels = _cosines(n=4, k=3)
    cos.requires_grad_(True)
    magnitude = torch.tensor([20.0, 40.0, 70.0, 100.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda c, a: head(c, labels, a), (cos, magnitude))
    logits = head(cos, labels, magnitude)
    rows = torch.arange(len(labels))
    (grad,) = torch.autograd.grad(logits[rows, labels].sum(), cos)
    if isinstance(head, CosFace):
        expected = torch.full((4,), 64.0, dtype=torch.float64)
    else:
        m = head.margin(magnitude) if isinstance(head, MagFace) else torch.tensor(0.5)
        c = cos[rows, labels].detach()
        expected = 64 * (torch.cos(m) + c * torch.sin(m) / torch.sqrt(1 - c**2))
    torch.testing.assert_close(grad[rows, labels], expected.detach())
    if isinstance(head, MagFace):  # the margin depends on the magnitude: its gradient too
        (grad_a,) = torch.autograd.grad(head(cos, labels, magnitude)[rows, labels].sum(), magnitude)
        assert torch.all(grad_a < 0)


def test_classifier_loss_trains_features_and_centres():
    torch.manual_seed(0)
    centres = torch.nn.functional.normalize(torch.randn(4, 16))
    labels = torch.arange(4).repeat(8)
    features = (centres[labels] * 30 + torch.randn(32, 16)).requires_grad_(True)
    classifier = MarginClassifier(16, 4, build_margin("arcface"))
    optimiser = torch.optim.SGD([*classifier.parameters(), features], lr=0.5)
    first = None
    for _ in range(60):
        optimiser.zero_grad()
        loss = classifier(features, labels)
        loss.backward()
        first = first if first is not None else loss.item()
        optimiser.step()
    assert classifier.weight.grad is not None and features.grad is not None
    assert loss.item() < 0.2 * first


def test_inverse_frequency_weights_balance_the_classes():
    labels = torch.tensor([0, 0, 0, 1, 2, 2])
    weight = inverse_frequency(labels, 4)
    counts = torch.bincount(labels, minlength=4).float()
    assert weight[3] == 0
    torch.testing.assert_close((weight * counts)[:3], torch.full((3,), float((weight * counts)[0])))
    assert float(weight[:3].mean()) == pytest.approx(1.0)


def test_unknown_margin_lists_the_known_ones():
    with pytest.raises(ConfigError, match="magface, arcface, cosface"):
        build_margin("sphereface")


@pytest.mark.parametrize(
    "bounds", [{"l_a": 0.0}, {"l_a": 120.0}, {"l_m": -0.1}, {"l_m": 0.9, "u_m": 0.8}]
)
def test_magface_bounds_are_a_config_error_from_the_head_and_the_config(bounds):
    with pytest.raises(ConfigError, match="MagFace needs 0 < l_a < u_a"):
        MagFace(**bounds)
    with pytest.raises(ConfigError, match="MagFace needs 0 < l_a < u_a"):
        TrainConfig(**{f"magface_{k}": v for k, v in bounds.items()})


def _two_people(gap: float) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.tensor([[1.0, 0.0], [1.0, 0.05], [1.0, -0.05]])
    b = torch.stack([torch.tensor([math.cos(gap), math.sin(gap)])] * 3)
    return torch.cat([a, b]), torch.tensor([0, 0, 0, 1, 1, 1])


@pytest.mark.parametrize("mining", ["hard", "semihard"])
def test_triplet_loss_is_zero_for_separated_people_and_positive_for_mixed(mining):
    loss = TripletLoss(margin=0.2, mining=mining)
    far, labels = _two_people(math.pi / 2)
    assert float(loss(far, labels)) == 0.0
    near, labels = _two_people(0.05)
    assert float(loss(near, labels)) > 0.0


def test_batch_hard_takes_the_farthest_positive_and_nearest_negative():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [-1.0, 0.0]])
    labels = torch.tensor([0, 0, 1, 1])
    loss = TripletLoss(margin=0.0, mining="hard")(z, labels)
    n = torch.nn.functional.normalize(z)
    d = ((n[:, None] - n[None]) ** 2).sum(-1)
    hardest = torch.stack(
        [d[0, 1] - d[0, 2], d[1, 0] - d[1, 2], d[2, 3] - d[2, 0], d[3, 2] - d[3, 1]]
    )
    torch.testing.assert_close(loss, hardest.clamp_min(0).mean())


def _pair_and_negatives(d_ap: float, d_an: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchor and positive (person 0) at squared distance ``d_ap``, and one negative per
    entry of ``d_an`` (people 1, 2, ...), each at that squared distance from both of them.

    In 3-D: a = (cos t, sin t, 0), p = (cos t, -sin t, 0), n = (c, 0, s), so
    d(a, n) = d(p, n) = 2 - 2 c cos t. Each negative is alone in its identity, so it is
    never an anchor: the loss is the mean over the pairs (a, p) and (p, a) only.
    """
    t = math.acos(1 - d_ap / 2) / 2
    rows = [[math.cos(t), math.sin(t), 0.0], [math.cos(t), -math.sin(t), 0.0]]
    for d in d_an:
        c = (1 - d / 2) / math.cos(t)
        rows.append([c, 0.0, math.sqrt(1 - c * c)])
    return torch.tensor(rows), torch.tensor([0, 0, *range(1, len(d_an) + 1)])


# d(a, p) = 0.3 and margin 0.3. Negatives: 0.1 (hard: nearer than the positive), 0.35 and
# 0.45 (semi-hard: beyond the positive, within the margin), 1.0 (beyond the margin).
# Each pick gives its own loss: 0.1 -> 0.5, 0.35 -> 0.25, 0.45 -> 0.15, 1.0 -> 0.
NEGATIVES = [1.0, 0.45, 0.1, 0.35]  # shuffled: the pick must not follow batch order
# The losses below match to 6e-8 (float32); atol=1e-6 is far below the 0.1 between picks.


def test_semihard_takes_the_nearest_negative_beyond_the_positive():
    z, labels = _pair_and_negatives(0.3, NEGATIVES)
    loss = TripletLoss(margin=0.3, mining="semihard")(z, labels)
    # FaceNet's semi-hard negative is 0.35: farther than the positive, the hardest such.
    torch.testing.assert_close(loss, torch.tensor(0.3 - 0.35 + 0.3), rtol=0, atol=1e-6)


def test_semihard_falls_back_to_the_nearest_negative_when_none_is_beyond_the_positive():
    z, labels = _pair_and_negatives(0.3, [0.2, 0.1, 0.25])
    loss = TripletLoss(margin=0.3, mining="semihard")(z, labels)
    torch.testing.assert_close(loss, torch.tensor(0.3 - 0.1 + 0.3), rtol=0, atol=1e-6)


def test_hard_takes_the_nearest_negative_even_when_nearer_than_the_positive():
    z, labels = _pair_and_negatives(0.3, NEGATIVES)
    loss = TripletLoss(margin=0.3, mining="hard")(z, labels)
    torch.testing.assert_close(loss, torch.tensor(0.3 - 0.1 + 0.3), rtol=0, atol=1e-6)


def test_heads_built_without_arguments_follow_the_published_recipes():
    """The defaults are the papers' settings: ArcFace s=64, m=0.5 (Deng et al. 2019),
    CosFace s=64, m=0.35 (Wang et al. 2018), MagFace s=64, margin 0.45 to 0.8 over
    magnitudes 10 to 110 and lambda_g=35 (Meng et al. 2021)."""
    cos, labels = _cosines()
    rows = torch.arange(len(labels))
    target = torch.zeros_like(cos, dtype=torch.bool)
    target[rows, labels] = True
    theta = torch.acos(cos)
    arcface = torch.where(target, 64 * torch.cos(theta + 0.5), 64 * cos)
    torch.testing.assert_close(ArcFace()(cos, labels), arcface)
    torch.testing.assert_close(CosFace()(cos, labels), 64 * (cos - 0.35 * target))
    magnitude = torch.tensor([5.0, 10.0, 60.0, 110.0, 200.0, 35.0], dtype=torch.float64)
    margin = torch.tensor([0.45, 0.45, 0.625, 0.8, 0.8, 0.5375], dtype=torch.float64)
    magface = torch.where(target, 64 * torch.cos(theta + margin[:, None]), 64 * cos)
    torch.testing.assert_close(MagFace()(cos, labels, magnitude), magface)
    g = magnitude / 110.0**2 + 1.0 / magnitude
    torch.testing.assert_close(MagFace().regulariser(magnitude), 35.0 * g.mean())
