"""Attribute splitting by attention: a cascade that peels attribute features off the map.

After the backbone's last stage, the feature map x (n, C, h, w) mixes identity with
nuisance attributes. An :class:`AttributeSplit` weighs x with a channel attention
a_c (n, C, 1, 1) and a spatial attention a_s (n, 1, h, w), both in (0, 1), in the style
of CBAM (Woo et al., "CBAM: Convolutional block attention module", ECCV 2018,
doi:10.1007/978-3-030-01234-2_1), and splits x additively::

    x_attr = ½ (x·a_c + x·a_s)          x_id = x − x_attr

so x = x_id + x_attr holds exactly, and element-wise x_attr lies between 0 and x (a_c
and a_s are in (0, 1), so ½(a_c + a_s) is too). The two attentions are applied side by
side to x, not one after the other as in CBAM, so that neither gate can silence the
other.

* Channel attention: a_c = σ(MLP(P_avg(x)) + MLP(P_max(x))), where P_avg and P_max
  average- and max-pool x into a spatial pyramid of 1×1, 2×2 and 3×3 bins (He et al.
  2015, "Spatial pyramid pooling", arXiv 1406.4729) and concatenate the bins into one
  C·(1 + 4 + 9) vector. The MLP C·Σb² → max(1, C/r) → C (ReLU between, r the reduction)
  is shared by the average and the max descriptor, as in CBAM. With the pyramid (1,)
  this is CBAM's channel gate; the finer bins let a channel's weight depend on where on
  the face it fires (spectacles about the eyes, a beard on the lower face).
* Spatial attention: a_s = σ(conv_{7×7}([mean_c(x); max_c(x)])), CBAM's spatial gate
  (without its batch norm), padded to keep h × w.

Maps smaller than the pyramid bins are fine: adaptive pooling lets the bins overlap
(a 4×4 map into 3×3 bins takes 2×2 windows at stride 1) or repeat pixels (a 2×2 or 1×1
map into 3×3 bins), so the descriptor keeps its length C·Σb² at any h, w ≥ 1. The 7×7
kernel then covers the whole of a 4×4 or 7×7 map (the 64 px and 112 px inputs' last
stage).

:class:`AttentionCascade` chains one split per attribute — spectacles, facial hair,
expression, pose, gender — each on the previous split's x_id, so

    x = x_id_final + Σ_k x_attr_k.

Every split owns its parameters: the seed study's emotion module reused the facial-hair
module's weights, which made the two splits identical functions of their inputs.

The splits and :class:`AttributeHead` run in float32 even under autocast, as the
backbone's head does: x_id = x − x_attr cancels most of x where the attention is near 1,
and five such subtractions in bfloat16 (8 significant bits) would leave x_id mostly
rounding error; bfloat16 also rounds σ above ≈ 0.998 to exactly 1. On a map of S/16
pixels per side the float32 cost is negligible.

At initialisation each attention is about ½, so each split keeps about half of its input
for x_id and the cascade of five leaves about 1/32 of x's scale; the backbone's head
starts with a batch norm, which takes that scale out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from psbase.errors import ConfigError

__all__ = ["ATTRIBUTES", "AttentionCascade", "AttributeHead", "AttributeSplit"]

#: The cascade's order: each split works on what the previous ones left of the map.
ATTRIBUTES = ("spectacles", "facial_hair", "expression", "pose", "gender")


class AttributeSplit(nn.Module):
    """Splits x (n, C, h, w) into (x_id, x_attr) with x_attr = ½(x·a_c + x·a_s).

    Parameters
    ----------
    channels : C, the feature map's channels.
    reduction : r, the channel MLP's hidden width is max(1, C // r) (at least one unit,
        so that C < r still gives an MLP).
    pyramid : bins per side of the channel attention's pooling pyramid, (1, 2, 3).
    kernel : the spatial attention's odd kernel size, 7 as in CBAM.
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        pyramid: tuple[int, ...] = (1, 2, 3),
        kernel: int = 7,
    ) -> None:
        super().__init__()
        if channels < 1 or reduction < 1:
            raise ConfigError(f"need channels >= 1 and reduction >= 1, got {channels}, {reduction}")
        if not pyramid or any(b < 1 for b in pyramid):
            raise ConfigError(f"the pyramid needs one or more positive bin counts, got {pyramid}")
        if kernel < 1 or kernel % 2 == 0:
            raise ConfigError(f"the spatial kernel must be odd and positive, got {kernel}")
        self.pyramid = tuple(pyramid)
        hidden = max(1, channels // reduction)
        cells = sum(b * b for b in self.pyramid)
        self.mlp = nn.Sequential(
            nn.Linear(channels * cells, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels)
        )
        self.spatial = nn.Conv2d(2, 1, kernel, padding=kernel // 2)

    def _pool(
        self, x: torch.Tensor, pool: Callable[[torch.Tensor, int], torch.Tensor]
    ) -> torch.Tensor:
        """The pyramid's bins of x concatenated: (n, C·Σb²), channel-major per level.
        While exporting to ONNX, whose adaptive pooling needs bins that divide the map,
        the same bins are cut out one by one (:func:`adaptive_bins`)."""
        if torch.onnx.is_in_onnx_export():
            reduce = torch.amax if pool is F.adaptive_max_pool2d else torch.mean
            return torch.cat([adaptive_bins(x, b, reduce).flatten(1) for b in self.pyramid], 1)
        return torch.cat([pool(x, b).flatten(1) for b in self.pyramid], dim=1)

    def attention(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """a_c (n, C, 1, 1) and a_s (n, 1, h, w), both in (0, 1), in float32."""
        with torch.autocast(x.device.type, enabled=False):
            # channels-last: the CPU pooling and channel reductions are ~10x faster
            x = x.float().contiguous(memory_format=torch.channels_last)
            logits = self.mlp(self._pool(x, F.adaptive_avg_pool2d))
            logits = logits + self.mlp(self._pool(x, F.adaptive_max_pool2d))
            maps = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
            return torch.sigmoid(logits)[:, :, None, None], torch.sigmoid(self.spatial(maps))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_id, x_attr), both float32 and shaped like x, with x_id + x_attr = x."""
        a_channel, a_spatial = self.attention(x)
        with torch.autocast(x.device.type, enabled=False):
            x = x.float()
            x_attr = 0.5 * (x * a_channel + x * a_spatial)
            return x - x_attr, x_attr


def adaptive_bins(x: torch.Tensor, bins: int, reduce: Callable[..., torch.Tensor]) -> torch.Tensor:
    """(n, C, bins, bins): ``reduce`` (torch.mean or torch.amax) over the windows of
    adaptive pooling, rows floor(i h / bins) to ceil((i + 1) h / bins) and the same
    across, each sliced out at its fixed size: what ``F.adaptive_avg_pool2d`` and
    ``F.adaptive_max_pool2d`` compute, in operators any ONNX runtime has."""
    h, w = x.shape[-2:]

    def edges(size: int, i: int) -> slice:
        return slice(i * size // bins, -(-(i + 1) * size // bins))

    rows = [
        torch.stack(
            [reduce(x[:, :, edges(h, i), edges(w, j)], dim=(2, 3)) for j in range(bins)], -1
        )
        for i in range(bins)
    ]
    return torch.stack(rows, dim=-2)


class AttentionCascade(nn.Module):
    """One :class:`AttributeSplit` per attribute, in order, each on the last one's x_id.

    ``split_kwargs`` (reduction, pyramid, kernel) go to every split. Each split is built
    anew, so no two share a parameter.
    """

    def __init__(
        self, channels: int, attributes: Sequence[str] = ATTRIBUTES, **split_kwargs
    ) -> None:
        super().__init__()
        names = list(attributes)
        if not names or len(set(names)) != len(names):
            raise ConfigError(f"need one or more distinct attribute names, got {names}")
        self.splits = nn.ModuleDict(
            {name: AttributeSplit(channels, **split_kwargs) for name in names}
        )

    @property
    def attributes(self) -> tuple[str, ...]:
        return tuple(self.splits.keys())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(x_id_final, {attribute: x_attr}) with x = x_id_final + Σ x_attr."""
        parts: dict[str, torch.Tensor] = {}
        for name, split in self.splits.items():
            x, parts[name] = split(x)
        return x, parts


class AttributeHead(nn.Module):
    """An attribute feature map (n, C, h, w) to one logit (n,): GAP, flatten, linear.

    One linear layer C → 1 on the globally averaged map is a linear probe: with so weak
    a head, predicting the attribute is the split's work, which is what should push the
    attribute's features into x_attr and out of x_id. Global average pooling makes it
    indifferent to the map's size. It runs in float32, so the logit and its
    cross-entropy are not rounded under autocast.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels < 1:
            raise ConfigError(f"need channels >= 1, got {channels}")
        self.classifier = nn.Linear(channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            pooled = F.adaptive_avg_pool2d(x.float(), 1).flatten(1)
            return self.classifier(pooled).squeeze(1)
