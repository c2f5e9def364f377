"""Gradient reversal and its warm-up schedule, for adversarial attribute heads.

Ganin and Lempitsky ("Unsupervised domain adaptation by backpropagation", ICML 2015,
PMLR 37:1180-1189, arXiv 1409.7495) put a layer R_λ between a feature extractor and a
head that tries to predict a nuisance (there the domain; here an attribute from the
identity part of the embedding): R_λ(z) = z forward, and ∂R_λ/∂z = -λ I backward. The
head then minimises its loss as usual, while the extractor receives -λ times that
gradient and so learns to make the attribute unpredictable from z, in one backward pass.

Reversing at full strength from the first step, while the head is still random, feeds
the extractor noise of the same size as the identity loss and destabilises training.
Ganin and Lempitsky raise λ from 0 towards 1 as

    λ(p) = 2 / (1 + exp(-γ p)) - 1 = tanh(γ p / 2),   γ = 10,

p the fraction of training done. :func:`reversal_coefficient` optionally holds λ at 0
for a first ``warmup`` fraction, then runs that schedule over the rest, so λ is
continuous and the head has learnt something before its gradient is turned around.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from psbase.errors import ConfigError


class GradientReversal(torch.autograd.Function):
    """Identity forward; backward multiplies the incoming gradient by -coefficient."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, coefficient: float) -> torch.Tensor:
        ctx.coefficient = coefficient
        # A copy, not a view: a view made in a custom Function cannot be edited in place
        # downstream, and the embedding is small.
        return x.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad * -ctx.coefficient, None


def reverse_gradient(x: torch.Tensor, coefficient: float = 1.0) -> torch.Tensor:
    """``x`` unchanged, with its gradient multiplied by -``coefficient`` on the way back."""
    return GradientReversal.apply(x, float(coefficient))


class ReverseGradient(nn.Module):
    """:class:`GradientReversal` as a layer; set ``coefficient`` each step from the schedule."""

    def __init__(self, coefficient: float = 1.0) -> None:
        super().__init__()
        self.coefficient = coefficient

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reverse_gradient(x, self.coefficient)

    def extra_repr(self) -> str:
        return f"coefficient={self.coefficient}"


def reversal_coefficient(progress: float, *, warmup: float = 0.1, steepness: float = 10.0) -> float:
    """λ at ``progress`` (0 to 1 of training): 0 through ``warmup``, then Ganin's ramp.

    λ = 2 / (1 + exp(-steepness·q)) - 1 with q = (progress - warmup) / (1 - warmup), so λ
    rises continuously from 0 at the end of the warm-up to tanh(steepness/2) at the end
    (0.99991 for the default 10). ``warmup=0`` is Ganin and Lempitsky's schedule as
    published.
    """
    if not 0.0 <= warmup < 1.0:
        raise ConfigError(f"the reversal warm-up must be in [0, 1), got {warmup}")
    if not steepness > 0.0:
        raise ConfigError(f"the reversal steepness must be positive, got {steepness}")
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"progress must be the fraction of training done, got {progress}")
    q = max(0.0, (progress - warmup) / (1.0 - warmup))
    return 2.0 / (1.0 + math.exp(-steepness * q)) - 1.0
