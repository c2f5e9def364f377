"""Multi-task disentanglement: identity features that attributes cannot move.

The seed study's second approach, rebuilt. After a backbone's last stage the feature
map x is split by the attention cascade (:class:`~recognition.backbones.attention.AttentionCascade`)
into an identity part x_id and one part per attribute (spectacles, facial hair,
expression, pose, gender: :data:`recognition.attributes.TASKS`). Only x_id becomes the
embedding used for matching; each attribute part feeds a binary head trained with focal
loss (Lin et al. 2017), and an adversarial head on the embedding, behind a gradient
reversal (Ganin and Lempitsky 2015), learns to predict each attribute while the reversal
pushes that information out of the embedding. Missing labels are masked out.

The loss of a batch::

    L = L_id(e, y) + sum_t w_t FL_t(attribute head_t)
                   + a sum_t w_t FL_t(adversarial head_t(GRL_lambda(e)))

with ``w_t`` the config's ``task_weights``, ``a`` its ``adversarial_weight`` and the
reversal coefficient ``lambda`` warmed up from 0 over training
(:func:`~recognition.losses.reversal.reversal_coefficient`): a coefficient of 1 from
the first step destabilises training. Without ``attention_split`` the attribute heads
read the identity's own feature map (the ablation of the split).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from gallery.attributes import detector_auc
from recognition.attributes import TASKS
from recognition.backbones.attention import AttentionCascade, AttributeHead
from recognition.config import TrainConfig
from recognition.losses.focal import binary_focal_loss
from recognition.losses.reversal import ReverseGradient

if TYPE_CHECKING:
    from recognition.fusion import EmbeddingModel


class AttributeBranch(nn.Module):
    """One backbone's multi-task parts: the cascade (or none) and a head per attribute."""

    def __init__(self, channels: int, *, split: bool) -> None:
        super().__init__()
        self.cascade = AttentionCascade(channels, TASKS) if split else None
        self.heads = nn.ModuleDict({task: AttributeHead(channels) for task in TASKS})

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_id (n, C, h, w), attribute logits (n, T))."""
        if self.cascade is None:
            identity, parts = features, dict.fromkeys(TASKS, features)
        else:
            identity, parts = self.cascade(features)
        logits = torch.stack([self.heads[task](parts[task]) for task in TASKS], dim=1)
        return identity, logits


class MultiTaskLoss(nn.Module):
    """The identity loss plus the attribute and adversarial focal losses (module docstring).

    ``identity`` is the margin classifier (or triplet loss) of a single-task run; its
    state keeps its own keys under ``identity.``.
    """

    weights: torch.Tensor  # a buffer: the per-task loss weights

    def __init__(self, identity: nn.Module, config: TrainConfig) -> None:
        super().__init__()
        self.identity = identity
        self.register_buffer("weights", torch.tensor(config.task_weights, dtype=torch.float32))
        self.gamma = config.focal_gamma
        self.adversarial_weight = config.adversarial_weight if config.adversarial else 0.0
        self.reverse = ReverseGradient(0.0)
        self.adversary = nn.Linear(config.embedding_dim, len(TASKS))

    def forward(
        self,
        embedding: torch.Tensor,
        labels: torch.Tensor,
        attribute_logits: torch.Tensor,
        attributes: torch.Tensor,
        known: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(total loss, its parts) for embeddings (n, D) of people ``labels``, attribute
        logits (n, T), attribute labels (n, T) in {0, 1} and ``known`` (n, T) bool."""
        identity = self.identity(embedding, labels)
        attribute = self._weighted(attribute_logits, attributes, known)
        parts = {"identity": identity.detach(), "attributes": attribute.detach()}
        total = identity + attribute
        if self.adversarial_weight > 0:
            guessed = self.adversary(self.reverse(embedding))
            adversarial = self._weighted(guessed, attributes, known)
            parts["adversarial"] = adversarial.detach()
            total = total + self.adversarial_weight * adversarial
        return total, parts

    def _weighted(
        self, logits: torch.Tensor, targets: torch.Tensor, known: torch.Tensor
    ) -> torch.Tensor:
        """sum_t w_t FL_t, each task's focal loss the mean over its known labels."""
        per_entry = binary_focal_loss(
            logits.float(), targets, known, gamma=self.gamma, reduction="none"
        )
        counts = known.sum(dim=0).clamp(min=1)
        return (self.weights * per_entry.sum(dim=0) / counts).sum()


@torch.no_grad()
def attribute_logits(
    model: EmbeddingModel, maps: np.ndarray, *, device: torch.device, batch_size: int = 256
) -> np.ndarray:
    """(n, T) attribute logits of a multi-task model for maps (n, C, S, S), in eval mode."""
    was_training = model.training
    model.eval()
    parts = []
    try:
        for start in range(0, len(maps), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(maps[start : start + batch_size]))
            x = model.scale_inputs(x.to(device, torch.float32))
            logits = model.forward_tasks(x)[1]
            if logits is None:
                raise ValueError("attribute_logits needs a multi-task model")
            parts.append(logits.float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(parts).numpy() if parts else np.zeros((0, len(TASKS)), np.float32)


def attribute_aucs(logits: np.ndarray, labels: np.ndarray, known: np.ndarray) -> dict[str, float]:
    """ROC AUC of each attribute head over the samples whose label is known
    (:func:`gallery.attributes.detector_auc`; NaN where a class is absent). The seed
    study scored the probability of the true class against correctness, which is 1.0
    for any head; this is the AUC of the head's score as a detector of the attribute."""
    return {
        task: detector_auc(logits[:, t], labels[:, t], known[:, t]) for t, task in enumerate(TASKS)
    }
