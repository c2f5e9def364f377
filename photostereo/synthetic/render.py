"""Light a scene: Lambertian shading, attached and cast shadows, specular, ambient, noise.

Each capture is

    I_k = g [ e_k ρ max(0, n·l_k) V_k + a ρ + s_k ] + noise,

with ``g`` the exposure, ``e_k`` the light's intensity, ``ρ`` the albedo, ``V_k`` the
cast-shadow visibility, ``a`` the ambient level and ``s_k`` a Blinn-Phong highlight
``k_s e_k (n·h_k)^m`` (``h_k`` halfway between the light and the view direction). The noise
has a read part and a shot part: variance ``σ_r² + σ_s² I``. Captures are clipped to
[0, 1] (saturation) and quantised only when written.

Cast shadows march each pixel's ray toward the light across the depth map
(:func:`cast_shadow`), vectorised over pixels with the loop over march steps only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RenderSettings:
    """How captures are formed; the defaults are the project's standard rig conditions.

    ``ideal()`` gives the noise-free, shadow-free, ambient-free renders on which
    photometric stereo is exact.
    """

    cast_shadows: bool = True
    ambient: float = 0.015
    specular: float = 0.0
    shininess: float = 30.0
    read_noise: float = 0.002
    shot_noise: float = 0.003
    penumbra: float = 1.5

    @classmethod
    def ideal(cls) -> RenderSettings:
        return cls(cast_shadows=False, ambient=0.0, specular=0.0, read_noise=0.0, shot_noise=0.0)


def cast_shadow(
    depth: np.ndarray,
    direction: np.ndarray,
    *,
    penumbra: float = 1.5,
    receivers: np.ndarray | None = None,
) -> np.ndarray:
    """Visibility (H, W) in [0, 1] of a light along ``direction`` over a depth map.

    ``depth`` (H, W) is in pixels (larger is closer), ``direction`` a unit vector toward
    the light in the image frame (x right, y up, z toward the camera). The ray from each
    pixel advances one pixel per step along the light's dominant image axis and rises
    ``l_z / max(|l_x|, |l_y|)`` per step; the pixel is shadowed by how far the surface
    rises above the ray anywhere along it, softened over ``penumbra`` pixels of depth.
    Marching stops once the ray clears the highest point of the map. Only ``receivers``
    (H, W) bool, if given, can be shadowed (a distant backdrop catches no shadow), and the
    march then spans only their depth range.
    """
    lx, ly, lz = (float(c) for c in direction)
    h, w = depth.shape
    lateral = max(abs(lx), abs(ly))
    if lz <= 0:
        return np.zeros((h, w), np.float32)
    if lateral < 1e-6:
        return np.ones((h, w), np.float32)
    step_x, step_y = lx / lateral, ly / lateral
    rise = lz / lateral
    low = float(depth[receivers].min()) if receivers is not None and receivers.any() else None
    span = float(depth.max() - (depth.min() if low is None else low))
    steps = int(min(np.ceil(span / rise) + 1, max(h, w)))
    excess = np.full((h, w), -np.inf, np.float32)
    for t in range(1, steps + 1):
        dc = round(t * step_x)
        dr = -round(t * step_y)  # y up: the light's +y is toward smaller rows
        if abs(dc) >= w or abs(dr) >= h:
            break
        # Target pixels [r0:r1, c0:c1] look at the source pixels shifted by (dr, dc).
        r0, r1 = max(0, -dr), min(h, h - dr)
        c0, c1 = max(0, -dc), min(w, w - dc)
        src = depth[r0 + dr : r1 + dr, c0 + dc : c1 + dc]
        np.maximum(excess[r0:r1, c0:c1], src - np.float32(t * rise), out=excess[r0:r1, c0:c1])
    lift = excess - depth
    # A little bias: the pixel's own slope toward the light must not shadow it.
    visibility = np.clip(1.0 - (lift - 0.5) / penumbra, 0.0, 1.0).astype(np.float32)
    if receivers is not None:
        visibility[~receivers] = 1.0
    return visibility


def shade(
    normal: np.ndarray,
    albedo: np.ndarray,
    directions: np.ndarray,
    intensities: np.ndarray,
    *,
    depth: np.ndarray | None = None,
    receivers: np.ndarray | None = None,
    specular_map: np.ndarray | None = None,
    settings: RenderSettings = RenderSettings(),
    exposure: float = 1.0,
) -> np.ndarray:
    """Noise-free radiance (K, H, W, C) of a scene under each light (see module docstring).

    ``normal`` (H, W, 3), ``albedo`` (H, W, C), ``directions`` (K, 3) unit vectors toward
    the lights, ``intensities`` (K,). ``depth`` is needed for cast shadows, which fall
    only on ``receivers`` (H, W) bool if given.
    """
    directions = np.asarray(directions, np.float32)
    k = len(directions)
    h, w = normal.shape[:2]
    out = np.empty((k, h, w, albedo.shape[-1]), np.float32)
    for i, (light, e) in enumerate(zip(directions, intensities, strict=True)):
        lam = normal @ light
        np.maximum(lam, 0.0, out=lam)
        if settings.cast_shadows and depth is not None:
            lam *= cast_shadow(depth, light, penumbra=settings.penumbra, receivers=receivers)
        radiance = albedo * (float(e) * lam + settings.ambient)[..., None]
        if settings.specular > 0 and specular_map is not None:
            half = light + np.array([0, 0, 1], np.float32)
            half /= np.linalg.norm(half)
            spec = np.clip(normal @ half, 0.0, 1.0) ** settings.shininess
            spec *= (lam > 0) * specular_map * (settings.specular * float(e))
            radiance += spec[..., None]
        out[i] = radiance * exposure
    return out


def add_noise(images: np.ndarray, rng: np.random.Generator, settings: RenderSettings) -> np.ndarray:
    """Add read and shot noise, clip to [0, 1] (the sensor saturates)."""
    if settings.read_noise <= 0 and settings.shot_noise <= 0:
        return np.clip(images, 0.0, 1.0)
    sigma = np.sqrt(settings.read_noise**2 + settings.shot_noise**2 * np.maximum(images, 0.0))
    noisy = images + sigma * rng.standard_normal(images.shape, dtype=np.float32)
    return np.clip(noisy, 0.0, 1.0)
