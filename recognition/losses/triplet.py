"""Triplet loss with in-batch mining (FaceNet, Schroff et al. 2015, arXiv 1503.03832).

On L2-normalised embeddings, for each anchor: ``max(0, d(a, p) - d(a, n) + margin)``
with squared Euclidean distances. ``mining="hard"`` takes the farthest positive and the
nearest negative in the batch (Hermans et al. 2017's batch-hard); ``"semihard"`` takes,
per positive pair, the nearest negative still farther than the positive (FaceNet's rule),
falling back to the hardest negative when there is none. Batches need several samples
per identity: use :func:`recognition.sampler.pk_batches`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from psbase.errors import ConfigError


class TripletLoss(nn.Module):
    def __init__(self, margin: float = 0.2, mining: str = "hard") -> None:
        super().__init__()
        if mining not in ("hard", "semihard"):
            raise ConfigError(f"mining must be 'hard' or 'semihard', got {mining!r}")
        self.margin, self.mining = margin, mining

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        z = F.normalize(features.float())
        dist = (2.0 - 2.0 * z @ z.T).clamp_min(0.0)
        same = labels[:, None] == labels[None, :]
        eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        positive, negative = same & ~eye, ~same
        big = dist.new_tensor(1e4)
        hardest_neg = torch.where(negative, dist, big).min(dim=1).values
        if self.mining == "hard":
            hardest_pos = torch.where(positive, dist, -big).max(dim=1).values
            valid = positive.any(1) & negative.any(1)
            losses = F.relu(hardest_pos - hardest_neg + self.margin)[valid]
        else:
            # For every (anchor, positive): the closest negative beyond d(a, p).
            d_ap = dist[:, :, None]
            beyond = negative[:, None, :] & (dist[:, None, :] > d_ap)
            semi = torch.where(beyond, dist[:, None, :], big).min(dim=2).values
            d_an = torch.where(semi < big, semi, hardest_neg[:, None])
            losses = F.relu(dist - d_an + self.margin)[positive & negative.any(1)[:, None]]
        return losses.mean() if losses.numel() else features.sum() * 0.0
