"""Batch augmentation on the device, one random draw per sample shared by its modalities.

A sample's channels (normals, albedo, depth stacked) and its mask are warped by the same
shift and rotation, so the maps stay registered. Rotating a normal map in the image
plane also turns the normals themselves: their (nx, ny) components are rotated by the
same angle, so a rotated face still has the normals of that rotated face. Noise is added
to every channel; depth channels also get a random offset on the face (the depth's zero
is arbitrary).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentSettings:
    """shift: max translation as a fraction of the side; rotate: max degrees; noise: std
    of Gaussian noise in normalised units; depth_offset: max offset in normalised units."""

    shift: float = 0.06
    rotate: float = 8.0
    noise: float = 0.02
    depth_offset: float = 0.5


def rotate_normals(normals: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Turn (n, 3, H, W) normals' in-plane components counter-clockwise (y up) by
    ``angle`` (n,) radians."""
    c, s = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
    nx, ny = normals[:, 0], normals[:, 1]
    return torch.stack((c * nx - s * ny, s * nx + c * ny, normals[:, 2]), dim=1)


def warp(
    x: torch.Tensor, angle: torch.Tensor, shift: torch.Tensor, *, mode: str = "bilinear"
) -> torch.Tensor:
    """Rotate (n, C, H, W) images counter-clockwise as seen (y up) by ``angle`` (n,)
    radians about the centre, then move them by ``shift`` (n, 2) as (right, up)
    fractions of the side. Outside the frame is zero."""
    c, s = torch.cos(angle), torch.sin(angle)
    # affine_grid maps output (x right, y down) coordinates in [-1, 1] to input ones.
    # A counter-clockwise turn in the y-up frame is clockwise in the row-down frame, so
    # the input sampled for an output point is the output turned back by -angle.
    tx, ty = 2 * shift[:, 0], -2 * shift[:, 1]
    theta = torch.stack(
        (
            torch.stack((c, -s, -(c * tx - s * ty)), dim=1),
            torch.stack((s, c, -(s * tx + c * ty)), dim=1),
        ),
        dim=1,
    )
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


def augment_batch(
    x: torch.Tensor,
    mask: torch.Tensor,
    *,
    normal_channels: list[int],
    depth_channels: list[int],
    settings: AugmentSettings,
    generator: torch.Generator,
) -> torch.Tensor:
    """Augmented copy of a normalised batch ``x`` (n, C, S, S) with masks (n, 1, S, S).

    ``normal_channels`` lists the start channel of each normal map (three channels each),
    ``depth_channels`` the depth channels. ``generator`` lives on the CPU; the draws are
    moved to ``x``'s device, so a run is reproducible on any device.
    """
    n = x.shape[0]

    def draw(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator).mul(2).sub(1).to(x.device)

    angle = draw(n) * math.radians(settings.rotate)
    shift = draw(n, 2) * settings.shift
    noise = torch.randn(x.shape, generator=generator).to(x.device) * settings.noise
    offset = draw(n) * settings.depth_offset
    both = warp(torch.cat((x, mask.to(x.dtype)), dim=1), angle, shift)
    out, warped_mask = both[:, :-1], both[:, -1:]
    if normal_channels:
        out = out.clone()
        for start in normal_channels:
            out[:, start : start + 3] = rotate_normals(out[:, start : start + 3], angle)
    out = out + noise
    if depth_channels:
        onset = torch.zeros_like(out)
        onset[:, depth_channels] = offset[:, None, None, None] * warped_mask
        out = out + onset
    return out
