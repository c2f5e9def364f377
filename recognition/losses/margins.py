"""Margin heads (ArcFace, CosFace, MagFace) on cosine logits, and the classifier.

A margin head only transforms cosines ``cos θ_j`` (n, K) given labels (n,) and the
features' magnitudes (n,): the target logit becomes ``s·ψ(θ_y)``, every other logit
``s·cos θ_j``. :class:`MarginClassifier` owns the class centres, normalises features and
centres, clamps the cosines to [-1, 1], calls its margin head and applies cross-entropy
(insightface's split between ``CombinedMarginLoss`` and ``PartialFC``).

* ArcFace (Deng et al. 2019, arXiv 1801.07698): ψ = cos(θ + m).
* CosFace (Wang et al. 2018, arXiv 1801.09414): ψ = cos θ - m.
* MagFace (Meng et al. 2021, arXiv 2103.06627): ψ = cos(θ + m(a)), with the margin
  growing linearly with the magnitude a from l_m at l_a to u_m at u_a, and the
  regulariser g(a) = a/u_a² + 1/a added with weight λ_g. g is convex with its minimum at
  u_a, so it pulls magnitudes up into [l_a, u_a] while the growing margin pushes
  high-magnitude (easy) samples to earn their magnitude; the magnitude of the trained
  embedding is then a quality score.

The margin enters the logits by arithmetic on the one-hot target mask, never by in-place
edits under ``no_grad``, so its gradient (MagFace's with respect to a included) flows.
Where θ + m would pass π, cos(θ + m) stops decreasing; as in insightface, the target
logit there is cos θ - m·sin m instead, which keeps it monotonic in θ.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from psbase.errors import ConfigError

MARGINS = ("magface", "arcface", "cosface")


def _with_target(cosine: torch.Tensor, labels: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``cosine`` with each row's label column replaced by ``target`` (n,), differentiably."""
    onehot = F.one_hot(labels, cosine.shape[1]).to(cosine.dtype)
    return cosine + onehot * (target - cosine.gather(1, labels[:, None]).squeeze(1))[:, None]


def _additive_angular(cos_t: torch.Tensor, margin: torch.Tensor) -> torch.Tensor:
    """cos(θ + m) where θ + m ≤ π, else the monotonic continuation cos θ - m·sin m."""
    sin_t = torch.sqrt((1.0 - cos_t * cos_t).clamp_min(1e-12))
    shifted = cos_t * torch.cos(margin) - sin_t * torch.sin(margin)
    return torch.where(
        cos_t > torch.cos(math.pi - margin), shifted, cos_t - margin * torch.sin(margin)
    )


class ArcFace(nn.Module):
    """Additive angular margin: target logit s·cos(θ + m)."""

    def __init__(self, s: float = 64.0, m: float = 0.5) -> None:
        super().__init__()
        self.s, self.m = s, m

    def forward(
        self, cosine: torch.Tensor, labels: torch.Tensor, magnitude: torch.Tensor | None = None
    ) -> torch.Tensor:
        target = cosine.gather(1, labels[:, None]).squeeze(1)
        margin = torch.full_like(target, self.m)
        return self.s * _with_target(cosine, labels, _additive_angular(target, margin))

    def regulariser(self, magnitude: torch.Tensor) -> torch.Tensor:
        return magnitude.new_zeros(())


class CosFace(nn.Module):
    """Additive cosine margin: target logit s·(cos θ - m)."""

    def __init__(self, s: float = 64.0, m: float = 0.35) -> None:
        super().__init__()
        self.s, self.m = s, m

    def forward(
        self, cosine: torch.Tensor, labels: torch.Tensor, magnitude: torch.Tensor | None = None
    ) -> torch.Tensor:
        target = cosine.gather(1, labels[:, None]).squeeze(1)
        return self.s * _with_target(cosine, labels, target - self.m)

    def regulariser(self, magnitude: torch.Tensor) -> torch.Tensor:
        return magnitude.new_zeros(())


class MagFace(nn.Module):
    """Magnitude-aware angular margin: target logit s·cos(θ + m(a)), plus λ_g·g(a)."""

    def __init__(
        self,
        s: float = 64.0,
        l_a: float = 10.0,
        u_a: float = 110.0,
        l_m: float = 0.45,
        u_m: float = 0.8,
        lambda_g: float = 35.0,
    ) -> None:
        super().__init__()
        if not (0 < l_a < u_a and 0 <= l_m <= u_m):
            raise ConfigError(
                f"MagFace needs 0 < l_a < u_a and 0 <= l_m <= u_m, "
                f"got l_a={l_a}, u_a={u_a}, l_m={l_m}, u_m={u_m}"
            )
        self.s, self.lambda_g = s, lambda_g
        self.l_a, self.u_a, self.l_m, self.u_m = l_a, u_a, l_m, u_m

    def margin(self, magnitude: torch.Tensor) -> torch.Tensor:
        """m(a): linear from l_m at l_a to u_m at u_a, constant outside."""
        a = magnitude.clamp(self.l_a, self.u_a)
        return self.l_m + (self.u_m - self.l_m) * (a - self.l_a) / (self.u_a - self.l_a)

    def g(self, magnitude: torch.Tensor) -> torch.Tensor:
        """g(a) = a/u_a² + 1/a per sample; convex, minimal at a = u_a."""
        return magnitude / self.u_a**2 + 1.0 / magnitude

    def forward(
        self, cosine: torch.Tensor, labels: torch.Tensor, magnitude: torch.Tensor | None = None
    ) -> torch.Tensor:
        if magnitude is None:
            raise ValueError("MagFace needs the features' magnitudes")
        target = cosine.gather(1, labels[:, None]).squeeze(1)
        margin = self.margin(magnitude.to(cosine.dtype))
        return self.s * _with_target(cosine, labels, _additive_angular(target, margin))

    def regulariser(self, magnitude: torch.Tensor) -> torch.Tensor:
        """λ_g · mean g(a). Unclamped, so magnitudes outside [l_a, u_a] are pulled back."""
        return self.lambda_g * self.g(magnitude.clamp_min(1e-3)).mean()


def build_margin(name: str, **kwargs) -> ArcFace | CosFace | MagFace:
    """The margin head ``name`` (magface, arcface, cosface) with its settings."""
    heads = {"magface": MagFace, "arcface": ArcFace, "cosface": CosFace}
    if name not in heads:
        raise ConfigError(f"unknown margin loss {name!r}; known: {', '.join(MARGINS)}")
    return heads[name](**kwargs)


class MarginClassifier(nn.Module):
    """Class centres W (K, D), cosine logits through a margin head, cross-entropy.

    ``class_weight`` (K,) weights the cross-entropy per class, e.g. inverse frequency
    (:func:`inverse_frequency`) so that people with many sessions do not dominate.
    """

    class_weight: torch.Tensor  # a buffer: saved with the weights, moved with the module

    def __init__(
        self,
        embedding_dim: int,
        n_classes: int,
        margin: ArcFace | CosFace | MagFace,
        class_weight: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_classes, embedding_dim).normal_(0, 0.01))
        self.margin = margin
        self.register_buffer(
            "class_weight", class_weight if class_weight is not None else torch.ones(n_classes)
        )

    def cosine(self, features: torch.Tensor) -> torch.Tensor:
        """cos θ (n, K) between features and class centres, clamped to [-1, 1]."""
        logits = F.linear(F.normalize(features.float()), F.normalize(self.weight))
        return logits.clamp(-1.0, 1.0)

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        magnitude = features.float().norm(dim=1)
        logits = self.margin(self.cosine(features), labels, magnitude)
        loss = F.cross_entropy(logits, labels, weight=self.class_weight)
        return loss + self.margin.regulariser(magnitude)


def inverse_frequency(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Class weights ∝ 1/count, normalised to mean 1 over the classes present."""
    counts = torch.bincount(labels, minlength=n_classes).float()
    weight = torch.where(counts > 0, 1.0 / counts.clamp_min(1), torch.zeros_like(counts))
    return weight * (counts > 0).sum() / weight.sum()
