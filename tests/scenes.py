"""Known-answer scenes for the solver tests: analytic surfaces and their exact renders."""

from __future__ import annotations

import numpy as np

from photostereo.lights import ring_directions


def sphere(size: int = 96, radius: float = 0.45) -> tuple[np.ndarray, np.ndarray]:
    """Unit normals (H, W, 3) of a sphere facing the camera, and its mask (H, W)."""
    coords = (np.arange(size) + 0.5) / size - 0.5
    x = coords[None, :] * np.ones((size, 1))
    y = -coords[:, None] * np.ones((1, size))  # y up: the top row has the largest y
    r2 = (x**2 + y**2) / radius**2
    mask = r2 < 0.98
    z = np.sqrt(np.clip(1.0 - r2, 0.0, None))
    normals = np.stack([x / radius, y / radius, z], axis=-1)
    normals[~mask] = (0.0, 0.0, 1.0)
    return normals.astype(np.float32), mask


def bump_field(size: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Normals of a smooth field of Gaussian bumps and dents over the whole frame."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    x, y = cols, -rows
    dz_dx = np.zeros_like(x)
    dz_dy = np.zeros_like(x)
    for _ in range(6):
        cx, cy = rng.uniform(0.2, 0.8) * size, -rng.uniform(0.2, 0.8) * size
        sigma = rng.uniform(0.08, 0.15) * size
        height = rng.uniform(-0.4, 0.4) * size * 0.3
        g = height * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
        dz_dx += -g * (x - cx) / sigma**2
        dz_dy += -g * (y - cy) / sigma**2
    normals = np.stack([-dz_dx, -dz_dy, np.ones_like(x)], axis=-1)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    return normals.astype(np.float32), np.ones((size, size), bool)


def albedo_map(shape: tuple[int, int], seed: int = 1) -> np.ndarray:
    """A smoothly varying albedo in [0.3, 0.9]."""
    rng = np.random.default_rng(seed)
    h, w = shape
    rows, cols = np.mgrid[0:h, 0:w] / max(h, w)
    phase = rng.uniform(0, 2 * np.pi, 2)
    return (0.6 + 0.3 * np.sin(5 * rows + phase[0]) * np.cos(4 * cols + phase[1])).astype(
        np.float32
    )


def rig(count: int, zenith: float = 35.0) -> np.ndarray:
    """``count`` lights on a cone; eight lights alternate between two cones."""
    if count == 8:
        return np.concatenate([ring_directions(4, zenith), ring_directions(4, 55.0, azimuth0=45)])
    return ring_directions(count, zenith)


def render(
    normals: np.ndarray,
    albedo: np.ndarray,
    directions: np.ndarray,
    *,
    intensities: np.ndarray | None = None,
    noise: float = 0.0,
    seed: int = 2,
    specular: float = 0.0,
) -> np.ndarray:
    """Lambertian captures (K, H, W) with attached shadows, optional noise and highlights.

    Highlights follow Blinn-Phong with the viewer on the z axis.
    """
    k = len(directions)
    e = np.ones(k, np.float32) if intensities is None else np.asarray(intensities, np.float32)
    shading = np.einsum("kc,hwc->khw", directions, normals)
    images = e[:, None, None] * albedo[None] * np.clip(shading, 0.0, None)
    if specular:
        half = directions + np.array([0.0, 0.0, 1.0], np.float32)
        half /= np.linalg.norm(half, axis=1, keepdims=True)
        spec = np.clip(np.einsum("kc,hwc->khw", half, normals), 0.0, None) ** 60
        images = images + specular * e[:, None, None] * spec * (shading > 0)
    if noise:
        images = images + np.random.default_rng(seed).normal(0.0, noise, images.shape)
    return images.astype(np.float32)


def angular_error_deg(estimate: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """Mean angle in degrees between two normal maps inside ``mask``."""
    cos = np.clip(np.einsum("hwc,hwc->hw", estimate, truth)[mask], -1.0, 1.0)
    return float(np.degrees(np.arccos(cos)).mean())
