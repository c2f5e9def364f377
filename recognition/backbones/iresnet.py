"""iResNet in the face-recognition form (insightface arcface_torch), depth as a layer list.

Each residual unit is the improved pre-activation block BN-conv3x3-BN-PReLU-conv3x3-BN;
a stage that halves the resolution does it in the unit's second convolution and in the
shortcut, which is the iResNet projection shortcut (Duta et al. 2020, arXiv 2004.04989):
3x3 max-pool with stride 2, then a 1x1 convolution and BN, so the shortcut sees every
input pixel instead of one in four. The stem keeps full resolution (a 3x3 stride-1
convolution), four stride-2 stages bring S to S/16, and the head BN-dropout-FC-BN gives
the embedding. The head runs in float32 even under autocast, so the embedding's
magnitude (MagFace's quality score) is not rounded to half precision.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from psbase.errors import ConfigError

__all__ = ["IResNet", "iresnet18", "iresnet34", "iresnet50"]

#: Channels of the four stages at width 1.
BASE_WIDTHS = (64, 128, 256, 512)


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class IBasicBlock(nn.Module):
    """BN-conv-BN-PReLU-conv-BN plus the shortcut; no activation after the sum."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(cin, eps=1e-5),
            _conv3x3(cin, cout),
            nn.BatchNorm2d(cout, eps=1e-5),
            nn.PReLU(cout),
            _conv3x3(cout, cout, stride),
            nn.BatchNorm2d(cout, eps=1e-5),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            pool: nn.Module = nn.MaxPool2d(3, stride, padding=1) if stride > 1 else nn.Identity()
            self.shortcut = nn.Sequential(
                pool, nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout, eps=1e-5)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class IResNet(nn.Module):
    """An iResNet mapping (n, C, S, S) maps to (n, embedding_dim) unnormalised features.

    Parameters
    ----------
    layers : units per stage, e.g. (2, 2, 2, 2) for iResNet-18.
    in_channels : 3 for normals, 1 for albedo, depth or image, their sum for early fusion.
    size : input side S, a multiple of 16 (112 as in face recognition, 64 for CPU runs).
    width : multiplier on the stage widths (64, 128, 256, 512).
    """

    def __init__(
        self,
        layers: Sequence[int],
        *,
        in_channels: int = 3,
        size: int = 112,
        width: float = 1.0,
        embedding_dim: int = 512,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if size % 16 or size < 16:
            raise ConfigError(f"input size must be a positive multiple of 16, got {size}")
        if in_channels < 1 or width <= 0 or len(layers) != 4:
            raise ConfigError("need in_channels >= 1, width > 0 and four stages")
        widths = [max(8, round(w * width)) for w in BASE_WIDTHS]
        self.stem = nn.Sequential(
            _conv3x3(in_channels, widths[0]), nn.BatchNorm2d(widths[0]), nn.PReLU(widths[0])
        )
        stages, cin = [], widths[0]
        for units, cout in zip(layers, widths, strict=True):
            blocks = [IBasicBlock(cin, cout, 2)]
            blocks += [IBasicBlock(cout, cout, 1) for _ in range(units - 1)]
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.stages = nn.Sequential(*stages)
        side = size // 16
        self.head = nn.Sequential(
            nn.BatchNorm2d(cin, eps=1e-5),
            nn.Dropout(dropout),
            nn.Flatten(),
            nn.Linear(cin * side * side, embedding_dim),
            nn.BatchNorm1d(embedding_dim, eps=1e-5),
        )
        self.in_channels, self.size, self.embedding_dim = in_channels, size, embedding_dim
        self.feature_channels = cin
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.features(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's feature map (n, C, S/16, S/16): where a multi-task model
        splits attribute features off before the embedding."""
        return self.stages(self.stem(x))

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """The embedding of a feature map, in float32 (BatchNorm1d statistics)."""
        with torch.autocast(features.device.type, enabled=False):
            return self.head(features.float())


def iresnet18(**kwargs) -> IResNet:
    return IResNet((2, 2, 2, 2), **kwargs)


def iresnet34(**kwargs) -> IResNet:
    return IResNet((3, 4, 6, 3), **kwargs)


def iresnet50(**kwargs) -> IResNet:
    return IResNet((3, 4, 14, 3), **kwargs)
