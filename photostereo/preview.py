"""Pictures of the maps for people to look at: pure functions from maps to RGB uint8."""

from __future__ import annotations

import numpy as np

#: Light for the shaded-depth picture: from the upper left, toward the camera.
SHADING_LIGHT = np.array([-0.4, 0.5, 0.77], np.float32) / np.linalg.norm([-0.4, 0.5, 0.77])


def normal_to_rgb(normals: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The usual normal-map encoding: (R, G, B) = (n + 1) / 2, black outside ``mask``."""
    rgb = np.clip((normals + 1.0) * 127.5, 0, 255).astype(np.uint8)
    rgb[~mask] = 0
    return rgb


def albedo_to_rgb(albedo: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Albedo as grey, scaled so its 99th percentile inside ``mask`` is white."""
    inside = albedo[mask]
    top = float(np.percentile(inside, 99)) if inside.size else 1.0
    grey = np.clip(albedo / max(top, 1e-8) * 255.0, 0, 255).astype(np.uint8)
    grey[~mask] = 0
    return np.repeat(grey[..., None], 3, axis=2)


def depth_to_rgb(depth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The depth map as a lit surface, so that its shape, not its numbers, shows.

    Normals are taken from the depth's own gradient (not from photometric stereo), so the
    picture shows what integration produced, and a flipped sign shows as a pit.
    """
    filled = np.where(mask & np.isfinite(depth), depth, 0.0)
    d_row, d_col = np.gradient(filled)
    # depth z(x, y) with y up: dz/dx = d_col, dz/dy = -d_row; normal ~ (-dz/dx, -dz/dy, 1)
    normals = np.stack([-d_col, d_row, np.ones_like(filled)], axis=-1)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    shade = np.clip(normals @ SHADING_LIGHT, 0.0, 1.0)
    grey = (40 + 215 * shade).astype(np.uint8)
    grey[~mask] = 0
    return np.repeat(grey[..., None], 3, axis=2)
