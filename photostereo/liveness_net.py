"""The learned part of the liveness score: a small network on a session's maps.

Relief cues (:mod:`photostereo.liveness_cues`) cannot tell a live face from a mask
with a face's shape. What can is the texture: a mask wears a photograph, whose
shading, shadows and highlights are baked into the albedo photometric stereo recovers,
and whose features need not sit where the mask's shape has them. The network sees
what carries that: the albedo over its median on the face region (lighting-free on a
live face) and the three normal components, at :data:`INPUT_SIZE` pixels, and returns
the probability that the session is live.

Each member network has three convolution blocks (16, 32, 64 channels, each 3 x 3,
ReLU, 2 x 2 max pooling), global average pooling and one linear unit (about 24,000
weights). The score averages the logits of :data:`MEMBERS` members trained from
different seeds: one small network's tail of low live scores overlapped the masks' (on
synthetic live faces, the lowest 1% scored 0.51 to 0.84 between trainings, the masks up
to 0.49 to 0.91), and averaging narrowed it (0.80, masks 0.48). About 2 ms a session on
one core.
Trained on synthetic live faces and attacks and on real Yale B faces by
``scripts/train_liveness.py`` and shipped as :data:`WEIGHTS_FILE` (safetensors; nothing
is unpickled or downloaded).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

from photostereo.liveness_cues import face_region

#: Side of the network's input, pixels.
INPUT_SIZE = 48
#: Input channels: albedo over its median, then n_x, n_y, n_z.
CHANNELS = 4
#: Networks averaged.
MEMBERS = 3
WEIGHTS_FILE = Path(__file__).resolve().parent / "data" / "liveness_net.safetensors"


class LivenessNet(nn.Module):
    """(B, 4, 48, 48) maps to (B,) logits of being live."""

    def __init__(self) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        channels = CHANNELS
        for width in (16, 32, 64):
            blocks += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels = width
        self.features = nn.Sequential(*blocks)
        self.head = nn.Linear(channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))[:, 0]


class LivenessEnsemble(nn.Module):
    """(B, 4, 48, 48) maps to (B,) logits: the mean over the members."""

    def __init__(self) -> None:
        super().__init__()
        self.members = nn.ModuleList(LivenessNet() for _ in range(MEMBERS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(x) for member in self.members]).mean(dim=0)


def mirror(x: torch.Tensor) -> torch.Tensor:
    """The maps of the face seen in a mirror, columns reversed and n_x negated: what
    training shows half the time (a face's left and right are alike)."""
    flipped = torch.flip(x, dims=[3])
    return torch.cat([flipped[:, :1], -flipped[:, 1:2], flipped[:, 2:]], dim=1)


def net_input(normals: np.ndarray, albedo: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(4, 48, 48) float32 input of one session's maps: ``normals`` (S, S, 3),
    ``albedo`` (S, S), ``mask`` (S, S) bool (the solved region); zero off the mask."""
    region = mask & face_region(mask.shape[0])
    level = float(np.median(albedo[region])) if region.any() else 0.0
    scaled = albedo / level if level > 0 else np.zeros_like(albedo)
    stack = np.dstack([scaled, normals]).astype(np.float32) * mask[..., None]
    small = cv2.resize(stack, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(np.moveaxis(small, -1, 0))


@cache
def shipped_net() -> LivenessEnsemble | None:
    """The shipped networks, in evaluation mode, on the CPU; None while
    ``scripts/train_liveness.py`` has yet to write them (it preprocesses its training
    sets before there are any)."""
    if not WEIGHTS_FILE.is_file():
        return None
    net = LivenessEnsemble()
    net.load_state_dict(load_file(str(WEIGHTS_FILE)))
    return net.eval()


def learned_score(inputs: np.ndarray, net: nn.Module) -> np.ndarray:
    """(B,) probability of being live for (B, 4, 48, 48) :func:`net_input` arrays."""
    with torch.inference_mode():
        logits = net(torch.from_numpy(np.ascontiguousarray(inputs, np.float32)))
    return torch.sigmoid(logits).numpy().astype(np.float64)
