"""Binary focal loss and class-balanced α: closed forms, masking, stability."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from recognition.losses.focal import binary_focal_loss, class_balanced_alpha


def _focal(x: float, y: int, alpha: float, gamma: float) -> float:
    """-α (1 - p_y)^γ log p_y by hand, p_1 = 1/(1 + e^-x)."""
    p = 1.0 / (1.0 + math.exp(-x)) if y == 1 else 1.0 / (1.0 + math.exp(x))
    return -alpha * (1.0 - p) ** gamma * math.log(p)


def _batch(n: int = 8, tasks: int = 3, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, tasks, generator=g, dtype=torch.float64) * 3
    targets = torch.randint(0, 2, (n, tasks), generator=g).double()
    mask = torch.rand(n, tasks, generator=g) < 0.7
    return logits, targets, mask


@pytest.mark.parametrize(
    ("x", "y", "alpha", "gamma"),
    [(2.0, 1, 0.25, 2.0), (2.0, 0, 0.75, 2.0), (-1.3, 1, 1.0, 0.5), (0.0, 0, 0.4, 5.0)],
)
def test_single_entry_matches_the_closed_form(x, y, alpha, gamma):
    # α and γ given for the entry's own label; the other label's values must not matter.
    a = torch.tensor([[alpha, 9.0]] if y == 0 else [[9.0, alpha]], dtype=torch.float64)
    g = torch.tensor([[gamma, 7.0]] if y == 0 else [[7.0, gamma]], dtype=torch.float64)
    loss = binary_focal_loss(
        torch.tensor([[x]], dtype=torch.float64),
        torch.tensor([[float(y)]], dtype=torch.float64),
        torch.tensor([[True]]),
        a,
        g,
    )
    assert float(loss) == pytest.approx(_focal(x, y, alpha, gamma), rel=1e-12)


def test_gradient_matches_lins_closed_form():
    # For label 1, dFL/dx = α (1-p)^γ (γ p log p + p - 1) (Lin et al., appendix).
    x = torch.tensor([[-3.0], [-0.5], [0.7], [4.0]], dtype=torch.float64, requires_grad=True)
    alpha, gamma = 0.3, 2.0
    ones, every = torch.ones_like(x), torch.ones_like(x, dtype=torch.bool)
    loss = binary_focal_loss(x, ones, every, alpha, gamma, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    p = torch.sigmoid(x.detach())
    expected = alpha * (1 - p) ** gamma * (gamma * p * torch.log(p) + p - 1)
    torch.testing.assert_close(grad, expected)
    targets = torch.tensor([[1.0], [0.0], [1.0], [0.0]], dtype=torch.float64)
    a = torch.tensor([[0.6, 0.3]], dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda logits: binary_focal_loss(logits, targets, every, a, 1.5), (x,)
    )


def test_gamma_zero_is_torchs_weighted_binary_cross_entropy():
    logits, targets, mask = _batch()
    alpha = torch.tensor([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]], dtype=torch.float64)
    loss = binary_focal_loss(logits, targets, mask, alpha, 0.0)
    # BCE-with-logits: -w [P y log σ(x) + (1 - y) log σ(-x)]; w = α_0·mask, P = α_1/α_0.
    bce = F.binary_cross_entropy_with_logits(
        logits,
        targets,
        weight=alpha[:, 0] * mask,
        pos_weight=alpha[:, 1] / alpha[:, 0],
        reduction="sum",
    )
    torch.testing.assert_close(loss, bce / mask.sum())
    unweighted = F.binary_cross_entropy_with_logits(logits[mask], targets[mask])
    torch.testing.assert_close(binary_focal_loss(logits, targets, mask, 1.0, 0.0), unweighted)


def test_focusing_shrinks_easy_entries_more_than_hard_ones():
    x = torch.tensor([[4.0], [-4.0]], dtype=torch.float64)  # label 1: easy, then hard
    ones, every = torch.ones_like(x), torch.ones_like(x, dtype=torch.bool)
    plain = binary_focal_loss(x, ones, every, 1.0, 0.0, reduction="none")
    focal = binary_focal_loss(x, ones, every, 1.0, 2.0, reduction="none")
    ratio = (focal / plain).squeeze(1)
    assert ratio[0] < 1e-3 < 0.9 < ratio[1] < 1.0


def test_per_task_alpha_and_gamma_apply_to_their_own_task_and_label():
    logits, targets, mask = _batch(n=10, tasks=3, seed=1)
    alpha = torch.tensor([[0.1, 0.9], [0.6, 0.4], [1.0, 2.0]], dtype=torch.float64)
    gamma = torch.tensor([[0.0, 1.0], [2.0, 0.5], [3.0, 0.0]], dtype=torch.float64)
    losses = binary_focal_loss(logits, targets, mask, alpha, gamma, reduction="none")
    for i in range(10):
        for t in range(3):
            y = int(targets[i, t])
            expected = (
                _focal(float(logits[i, t]), y, float(alpha[t, y]), float(gamma[t, y]))
                if mask[i, t]
                else 0.0
            )
            assert float(losses[i, t]) == pytest.approx(expected, rel=1e-12, abs=0)
    total = binary_focal_loss(logits, targets, mask, alpha, gamma, reduction="sum")
    torch.testing.assert_close(total, losses.sum())
    mean = binary_focal_loss(logits, targets, mask, alpha, gamma)
    torch.testing.assert_close(mean, losses.sum() / mask.sum())
    # A float is the same as that value for every task and label.
    full = torch.full((3, 2), 0.7, dtype=torch.float64)
    torch.testing.assert_close(
        binary_focal_loss(logits, targets, mask, 0.7, 1.5),
        binary_focal_loss(logits, targets, mask, full, full * 1.5 / 0.7),
    )


def test_alpha_of_the_wrong_shape_is_refused():
    logits, targets, mask = _batch(tasks=3)
    with pytest.raises(ValueError, match=r"alpha must be a float or \(3, 2\)"):
        binary_focal_loss(logits, targets, mask, torch.ones(2, 3))
    with pytest.raises(ValueError, match="reduction must be one of"):
        binary_focal_loss(logits, targets, mask, reduction="max")
    with pytest.raises(ValueError, match=r"must all be \(n, T\)"):
        binary_focal_loss(logits, targets[:, :2], mask)


def test_masked_entries_neither_change_the_loss_nor_receive_gradient():
    logits, targets, mask = _batch(seed=2)
    logits.requires_grad_(True)
    reference = binary_focal_loss(logits, targets, mask, 0.4, 2.0)
    (grad,) = torch.autograd.grad(reference, logits)
    # Anything under the mask, missing labels as NaN and absurd logits included.
    junk_targets = torch.where(mask, targets, torch.full_like(targets, math.nan))
    junk_logits = torch.where(mask, logits.detach(), torch.full_like(targets, math.nan))
    junk_logits.requires_grad_(True)
    loss = binary_focal_loss(junk_logits, junk_targets, mask, 0.4, 2.0)
    (junk_grad,) = torch.autograd.grad(loss, junk_logits)
    torch.testing.assert_close(loss, reference)
    torch.testing.assert_close(junk_grad, grad)
    assert torch.all(grad[~mask] == 0) and torch.all(grad[mask] != 0)
    # And the mean is over the labelled entries only: n labelled equal losses average to one.
    same = torch.zeros(4, 2, dtype=torch.float64)
    labelled = torch.tensor([[True, False], [True, False], [False, False], [True, True]])
    mean = binary_focal_loss(same, torch.ones_like(same), labelled, 1.0, 0.0)
    assert float(mean) == pytest.approx(math.log(2.0))


def test_all_masked_gives_zero_with_a_graph_and_no_nan():
    logits = torch.randn(5, 3, requires_grad=True)
    targets = torch.full((5, 3), math.nan)
    mask = torch.zeros(5, 3, dtype=torch.bool)
    for reduction in ("mean", "sum"):
        loss = binary_focal_loss(logits, targets, mask, 0.25, 2.0, reduction=reduction)
        assert float(loss.detach()) == 0.0 and loss.requires_grad
        (grad,) = torch.autograd.grad(loss, logits)
        assert torch.all(grad == 0)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_extreme_logits_stay_finite_and_right(gamma, dtype):
    logits = torch.tensor([[100.0, -100.0], [-100.0, 100.0]], dtype=dtype, requires_grad=True)
    targets = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=dtype)  # right, right; wrong, wrong
    every = torch.ones_like(targets, dtype=torch.bool)
    losses = binary_focal_loss(logits, targets, every, 0.5, gamma, reduction="none")
    (grad,) = torch.autograd.grad(losses.sum(), logits)
    assert torch.all(torch.isfinite(losses)) and torch.all(torch.isfinite(grad))
    # Confidently right: (almost) nothing; confidently wrong: α·100 and a gradient of ∓α.
    assert torch.all(losses[0] < 1e-30)
    torch.testing.assert_close(losses[1], torch.full((2,), 50.0), rtol=1e-6, atol=0)
    torch.testing.assert_close(grad[1].float(), torch.tensor([-0.5, 0.5]), rtol=1e-6, atol=1e-6)


def test_class_balanced_alpha_on_a_hand_example():
    targets = torch.tensor(
        [
            [1.0, 1.0, 0.0, 1.0],
            [0.0, 1.0, 1.0, 1.0],
            [0.0, math.nan, 0.0, 1.0],
            [0.0, 0.0, 1.0, 0.0],
        ]
    )
    mask = torch.tensor(
        [
            [True, True, False, True],
            [True, True, False, True],
            [True, False, False, True],
            [True, True, False, False],
        ]
    )
    alpha = class_balanced_alpha(targets, mask)
    expected = torch.tensor(
        [
            [0.25, 0.75],  # 3 zeros, 1 one: α ∝ (1/3, 1/1)
            [2 / 3, 1 / 3],  # 1 zero, 2 ones (the NaN is unlabelled)
            [0.5, 0.5],  # nothing labelled
            [0.75, 0.25],  # 0 zeros (floored to 1), 3 ones
        ]
    )
    torch.testing.assert_close(alpha, expected)
    assert torch.all(torch.isfinite(alpha))
    torch.testing.assert_close(alpha.sum(1), torch.ones(4))
    # It plugs straight into the loss.
    loss = binary_focal_loss(torch.zeros(4, 4), targets, mask, alpha, 2.0)
    assert torch.isfinite(loss)
