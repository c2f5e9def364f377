"""The embedding model: input scaling, one or several backbones, and their fusion.

* a single modality, or ``early`` fusion: the (stacked) channels go through one backbone;
* ``late`` fusion: one backbone per modality, their embeddings concatenated and projected
  (Linear, BN) to the embedding size, as the seed study's concatenation networks.

The per-channel input scale (1/RMS over face pixels of the training maps; 1 for normals,
which are unit vectors already) is a buffer, so it travels with the weights and the
embedder applies exactly what training applied. Scaling without shifting keeps the
background at zero.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import torch
from torch import nn

from photostereo.maps_file import CHANNELS
from recognition.backbones import build_backbone
from recognition.backbones.iresnet import IResNet
from recognition.config import TrainConfig
from recognition.multitask import AttributeBranch


def channel_slices(modalities: tuple[str, ...]) -> list[slice]:
    """Where each modality's channels sit in the stacked input."""
    slices, start = [], 0
    for name in modalities:
        slices.append(slice(start, start + CHANNELS[name]))
        start += CHANNELS[name]
    return slices


def fit_scale(maps: np.ndarray, mask: np.ndarray, modalities: tuple[str, ...]) -> np.ndarray:
    """Per-channel 1/RMS over face pixels (n, C, S, S) → (C,); 1 for normal channels."""
    scale = np.ones(maps.shape[1], np.float32)
    face = mask[:, 0].astype(bool)
    for name, where in zip(modalities, channel_slices(modalities), strict=True):
        if name == "normal":
            continue
        for c in range(where.start, where.stop):
            values = maps[:, c][face]
            rms = float(np.sqrt(np.mean(values.astype(np.float64) ** 2))) if values.size else 0.0
            scale[c] = 1.0 / rms if rms > 1e-8 else 1.0
    return scale


class EmbeddingModel(nn.Module):
    """Maps (n, C, S, S) stacked as ``MapsFile.read(modality)`` → features (n, D).

    The features are not normalised; their L2 norm is MagFace's quality score.
    """

    input_scale: torch.Tensor  # a buffer: saved with the weights, moved with the module

    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        modalities = config.modalities
        self.slices = channel_slices(modalities)
        self.embedding_dim = config.embedding_dim
        channels = self.slices[-1].stop
        self.register_buffer("input_scale", torch.ones(channels))
        kwargs = {
            "size": config.size,
            "width": config.width,
            "embedding_dim": config.embedding_dim,
            "dropout": config.dropout,
        }
        self.late = len(modalities) > 1 and config.fusion == "late"
        if self.late:
            self.branches = nn.ModuleList(
                build_backbone(config.backbone, in_channels=s.stop - s.start, **kwargs)
                for s in self.slices
            )
            self.project = nn.Sequential(
                nn.Linear(config.embedding_dim * len(modalities), config.embedding_dim),
                nn.BatchNorm1d(config.embedding_dim),
            )
        else:
            self.backbone = build_backbone(config.backbone, in_channels=channels, **kwargs)
        self.attribute_branches: nn.ModuleList | None = None
        if config.multitask:
            self.attribute_branches = nn.ModuleList(
                AttributeBranch(b.feature_channels, split=config.attention_split)
                for b in self._backbones()
            )

    def _backbones(self) -> list[IResNet]:
        """The backbone, or one per modality with late fusion."""
        return [cast(IResNet, b) for b in self.branches] if self.late else [self.backbone]

    def scale_inputs(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.input_scale.to(x.dtype)[None, :, None, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` already scaled by :meth:`scale_inputs` (training scales before it augments);
        a multi-task model's embedding is its identity part alone."""
        return self.forward_tasks(x)[0]

    def forward_tasks(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(embedding, attribute logits (n, T) or None for a single-task model); with late
        fusion each branch's attribute logits are averaged."""
        backbones = self._backbones()
        inputs = [x[:, s] for s in self.slices] if self.late else [x]
        embeddings, logits = [], []
        for k, (backbone, part) in enumerate(zip(backbones, inputs, strict=True)):
            if self.attribute_branches is None:
                embeddings.append(backbone(part))
                continue
            branch = cast(AttributeBranch, self.attribute_branches[k])
            identity, branch_logits = branch(backbone.features(part))
            embeddings.append(backbone.embed(identity))
            logits.append(branch_logits)
        attributes = torch.stack(logits).mean(dim=0) if logits else None
        if not self.late:
            return embeddings[0], attributes
        with torch.autocast(x.device.type, enabled=False):
            return self.project(torch.cat([e.float() for e in embeddings], dim=1)), attributes
