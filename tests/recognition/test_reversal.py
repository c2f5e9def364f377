"""Gradient reversal and Ganin and Lempitsky's coefficient schedule."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from psbase.errors import ConfigError
from recognition.losses.reversal import (
    GradientReversal,
    ReverseGradient,
    reversal_coefficient,
    reverse_gradient,
)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_forward_is_the_identity(dtype):
    x = torch.linspace(-3, 3, 24).reshape(4, 6).to(dtype).requires_grad_(True)
    for y in (GradientReversal.apply(x, 0.7), ReverseGradient(0.7)(x)):
        assert y.dtype == dtype and y.shape == x.shape
        assert torch.equal(y, x)
    # A copy: editing it in place downstream is allowed and leaves x alone.
    y = ReverseGradient()(x)
    y.relu_()
    assert torch.any(x < 0) and torch.all(y >= 0)


@pytest.mark.parametrize("coefficient", [0.0, 0.3, 1.0, 2.5])
def test_gradient_is_minus_coefficient_times_the_upstream_gradient(coefficient):
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(5, 3, dtype=torch.float64)
    (grad,) = torch.autograd.grad(reverse_gradient(x, coefficient), x, upstream)
    assert torch.equal(grad, upstream * -coefficient)
    # The whole Jacobian autograd sees is -coefficient·I (the forward's own is I).
    jacobian = torch.autograd.functional.jacobian(lambda z: reverse_gradient(z, coefficient), x)
    assert torch.equal(jacobian.reshape(15, 15), -coefficient * torch.eye(15, dtype=x.dtype))


def test_gradcheck_against_the_reversed_jacobian():
    # gradcheck compares the analytic gradient with finite differences of the forward,
    # which is the identity, so one reversal fails it by design; two, of c and 1/c, undo
    # each other (two sign flips, c·1/c = 1) and must pass, to second order too.
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda z: reverse_gradient(reverse_gradient(z, 0.4), 1 / 0.4), (x,)
    )
    assert torch.autograd.gradgradcheck(
        lambda z: reverse_gradient(reverse_gradient(z, 0.4), 1 / 0.4) ** 2, (x,)
    )
    assert not torch.autograd.gradcheck(
        lambda z: reverse_gradient(z, 0.4), (x,), raise_exception=False
    )


def test_zero_coefficient_gives_zero_gradient():
    x = torch.randn(3, 2, requires_grad=True)
    reverse_gradient(x, 0.0).pow(2).sum().backward()
    assert x.grad is not None and torch.all(x.grad == 0)


def test_an_adversarial_head_learns_while_the_encoder_is_pushed_the_other_way():
    # z = e·x → reversal → head h·z; loss = h·z. By hand: dL/dh = z, dL/de = -c·h·x.
    e = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    h = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    x = torch.tensor(0.5, dtype=torch.float64)
    layer = ReverseGradient(coefficient=1.0)
    layer.coefficient = 0.25  # set per step from the schedule
    loss = h * layer(e * x)
    grad_e, grad_h = torch.autograd.grad(loss, (e, h))
    assert float(grad_h) == 1.0  # the head's own gradient is untouched: z = 2·0.5
    assert float(grad_e) == -0.25 * 3.0 * 0.5
    assert "coefficient=0.25" in repr(layer)


def test_schedule_is_ganins_without_warmup():
    for p in (0.0, 0.1, 0.37, 0.5, 1.0):
        expected = 2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0
        assert reversal_coefficient(p, warmup=0.0) == pytest.approx(expected, rel=1e-15)
    assert reversal_coefficient(0.5, warmup=0.0, steepness=4.0) == pytest.approx(math.tanh(1.0))


@pytest.mark.parametrize("warmup", [0.0, 0.1, 0.3])
def test_schedule_starts_at_zero_rises_monotonically_and_approaches_one(warmup):
    grid = [i / 1000 for i in range(1001)]
    values = [reversal_coefficient(p, warmup=warmup) for p in grid]
    assert values[0] == 0.0
    assert all(v == 0.0 for p, v in zip(grid, values, strict=True) if p <= warmup)
    assert all(b >= a for a, b in itertools.pairwise(values))
    assert all(b > a for p, a, b in zip(grid, values, values[1:], strict=False) if p >= warmup)
    assert all(0.0 <= v <= 1.0 for v in values)
    assert 0.999 < values[-1] < 1.0
    # Continuous at the end of the warm-up: no jump from 0.
    assert reversal_coefficient(warmup + 1e-6, warmup=warmup) < 1e-4


def test_schedule_refuses_nonsense():
    with pytest.raises(ConfigError, match="warm-up must be in"):
        reversal_coefficient(0.5, warmup=1.0)
    with pytest.raises(ConfigError, match="steepness must be positive"):
        reversal_coefficient(0.5, steepness=0.0)
    for progress in (-0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match="fraction of training"):
            reversal_coefficient(progress)


def test_the_layer_reverses_at_full_strength_unless_told_otherwise():
    """Ganin and Lempitsky's layer: with no coefficient the gradient is exactly negated."""
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(4, 3, dtype=torch.float64)
    (grad,) = torch.autograd.grad(ReverseGradient()(x), x, upstream)
    assert torch.equal(grad, -upstream)
