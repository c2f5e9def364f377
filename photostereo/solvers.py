"""Calibrated photometric stereo: per-pixel normals and albedo from K >= 3 lit captures.

Model (Lambertian, Woodham 1980): the k-th capture of a pixel with albedo rho and unit
normal n, lit from unit direction l_k with intensity e_k, is

    I_k = e_k * rho * max(0, l_k . n)

Writing s_k = e_k l_k and b = rho n, every unshadowed observation is linear in b, so b is
a least-squares solution of S b = I over the observations a pixel can trust. The three
solvers differ only in which observations they trust and how much:

* ``plain``  all of them, equally (one pseudo-inverse for the whole image);
* ``shadow`` drops observations in shadow (too dark) or saturated, then the darkest
  outlier where the fit stays poor (a cast shadow), solving from the rest when at least
  three remain;
* ``robust`` iteratively reweighted least squares with Cauchy weights, for many-light
  rigs with specular highlights (Wu et al. and Ikehata et al. treat such outliers as
  sparse errors; IRLS is the simple, vectorised relative of those solvers).

All three work on (K, P) pixel blocks sized to stay in cache, in float32, in parallel
threads; no Python loop ever runs per pixel.

References
----------
R. J. Woodham, "Photometric method for determining surface orientation from multiple
images", Optical Engineering 19(1), 1980. doi:10.1117/12.7972479
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

#: Pixels processed together; (K + 3) x BLOCK float32 stays inside a core's L2 cache.
BLOCK = 16384
#: Names accepted by :func:`solve`.
SOLVERS = ("plain", "shadow", "robust")
#: A pixel needs this many usable observations to determine b = rho n.
MIN_OBSERVATIONS = 3


@dataclass(frozen=True)
class PhotometricResult:
    """What a solver returns; every array is (H, W) or (H, W, 3) in the image frame.

    Attributes
    ----------
    normals : (H, W, 3) float32
        Unit normals (x right, y up, z toward the camera); zero where not solved.
    albedo : (H, W) float32
        rho, in the captures' units divided by the light intensity; zero where not solved.
    mask : (H, W) bool
        Pixels that were solved.
    residual : (H, W) float32
        RMS of the observed minus modelled intensity over the observations used, a
        per-pixel quality figure (zero where exactly three observations were used).
    n_used : (H, W) uint8
        Observations each pixel was solved from (weights above one half for ``robust``).
    underdetermined : (H, W) bool
        Pixels asked for but left unsolved: fewer than three usable observations, or
        usable lights too close to coplanar. Reported, never invented.
    """

    normals: np.ndarray
    albedo: np.ndarray
    mask: np.ndarray
    residual: np.ndarray
    n_used: np.ndarray
    underdetermined: np.ndarray

    @property
    def partial_fraction(self) -> float:
        """Fraction of solved pixels that used fewer observations than there are lights."""
        solved = int(self.mask.sum())
        if solved == 0:
            return 0.0
        full = int(self.n_used[self.mask].max(initial=0))
        return float((self.n_used[self.mask] < full).sum() / solved)


def solve_lambertian(
    images: np.ndarray,
    directions: np.ndarray,
    *,
    intensities: np.ndarray | None = None,
    mask: np.ndarray | None = None,
) -> PhotometricResult:
    """Least-squares Lambertian photometric stereo over every observation (Woodham).

    Parameters
    ----------
    images : (K, H, W) array
        Captures, one per light, linear in radiance.
    directions : (K, 3) array
        Unit light directions (toward the light), image frame.
    intensities : (K,) array, optional
        Relative light intensities (default all 1); divided out of the albedo.
    mask : (H, W) bool array, optional
        Pixels to solve (default all).

    Notes
    -----
    One pseudo-inverse serves every pixel: b = pinv(S) I and the residual is
    (Id - S pinv(S)) I, both from one (3 + K) x K matrix applied per block, so the
    captures are read once. Shadows and highlights bias this solver; see
    :func:`solve_shadow_aware` and :func:`solve_robust`.
    """
    stack, lights, requested = _prepare(images, directions, intensities, mask)
    k = lights.shape[0]
    pinv = np.linalg.pinv(lights.astype(np.float64))
    projector = np.eye(k) - lights.astype(np.float64) @ pinv
    operator = np.vstack([pinv, projector]).astype(np.float32)
    out = _Outputs(stack.shape[1])

    def run(start: int, stop: int) -> None:
        solved = operator @ stack[:, start:stop]
        b = solved[:3]
        r = solved[3:]
        out.store(start, stop, b, np.sqrt(np.einsum("kp,kp->p", r, r) / k), k)

    _parallel_blocks(run, stack.shape[1])
    return out.result(requested, images.shape[1:], full_count=k)


def solve_shadow_aware(
    images: np.ndarray,
    directions: np.ndarray,
    *,
    intensities: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    saturation: float = 0.98,
    shadow_threshold: float = 0.01,
    relative_shadow: float = 0.05,
    outlier_residual: float = 0.04,
) -> PhotometricResult:
    """Lambertian least squares over the observations each pixel can trust.

    Parameters
    ----------
    images, directions, intensities, mask
        As :func:`solve_lambertian`.
    saturation : float
        Observations at or above this level are clipped by the sensor and dropped.
    shadow_threshold : float
        Observations at or below this level (the sensor's dark floor) are shadow.
    relative_shadow : float
        Observations below this fraction of the pixel's brightest observation are
        shadow too: an attached shadow of a bright pixel sits far above the dark floor
        once ambient light is added, but far below its lit observations.
    outlier_residual : float
        Where more than three observations remain and the fit's RMS residual exceeds
        this fraction of the pixel's mean observation, the observation furthest below
        the fit (a cast shadow) is dropped and the pixel solved again.

    Notes
    -----
    Each pixel solves its own 3 x 3 normal equations (sum_k w_k s_k s_k^T) b =
    sum_k w_k I_k s_k with 0/1 weights, in closed form for all pixels at once. Pixels
    with fewer than three trusted observations, or whose trusted lights are nearly
    coplanar, are reported in ``underdetermined``. The four-light case (Photoface)
    is the one this is tuned for: a side light's shadow leaves exactly three.
    """
    stack, lights, requested = _prepare(images, directions, intensities, mask)
    k = lights.shape[0]
    out = _Outputs(stack.shape[1])

    def run(start: int, stop: int) -> None:
        obs = stack[:, start:stop]
        weights = _trusted(obs, saturation, shadow_threshold, relative_shadow)
        b, ok = _solve_weighted(lights, obs, weights)
        r = obs - lights @ b
        count = weights.sum(axis=0)
        rms = np.sqrt(np.einsum("kp,kp->p", weights * r, r) / np.maximum(count, 1.0))
        mean_obs = np.einsum("kp,kp->p", weights, obs) / np.maximum(count, 1.0)
        weights = _drop_outliers(weights, r, lights @ b, ok, rms, mean_obs, outlier_residual)
        retry = ok & (weights.sum(axis=0) < count)
        if retry.any():
            cols = np.flatnonzero(retry)
            sub_w, sub_obs = weights[:, cols], obs[:, cols]
            b[:, cols], ok[cols] = _solve_weighted(lights, sub_obs, sub_w)
            sub_r = sub_obs - lights @ b[:, cols]
            count[cols] = sub_w.sum(axis=0)
            rms[cols] = np.sqrt(np.einsum("kp,kp->p", sub_w * sub_r, sub_r) / count[cols])
        b[:, ~ok] = 0.0
        out.store(start, stop, b, rms, np.where(ok, count, 0))

    _parallel_blocks(run, stack.shape[1])
    return out.result(requested, images.shape[1:], full_count=k)


def solve_robust(
    images: np.ndarray,
    directions: np.ndarray,
    *,
    intensities: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    saturation: float = 0.98,
    shadow_threshold: float = 0.01,
    relative_shadow: float = 0.05,
    scale: float = 0.02,
    iterations: int = 10,
) -> PhotometricResult:
    """Iteratively reweighted least squares, for rigs with specular highlights.

    Parameters
    ----------
    images, directions, intensities, mask, saturation, shadow_threshold, relative_shadow
        As :func:`solve_shadow_aware`; shadowed and saturated observations get weight 0.
    scale : float
        Residual scale of the Cauchy weight w = 1 / (1 + (r / c)^2), as a fraction of
        the pixel's median observation: residuals well above it (a highlight, a cast
        shadow) lose their say, those below keep it.
    iterations : int
        Reweighting rounds after the first, equally weighted, solve.

    Notes
    -----
    Minimises sum_k rho_C(I_k - s_k . b) with the Cauchy loss, one weighted 3 x 3
    solve per pixel per round. It needs redundancy to tell an outlier from the surface,
    so it pays off from about six lights; with four it behaves like ``shadow``.
    """
    stack, lights, requested = _prepare(images, directions, intensities, mask)
    k = lights.shape[0]
    out = _Outputs(stack.shape[1])

    def run(start: int, stop: int) -> None:
        obs = stack[:, start:stop]
        trusted = _trusted(obs, saturation, shadow_threshold, relative_shadow)
        c = scale * np.maximum(np.median(obs, axis=0), shadow_threshold)
        weights = trusted
        b, ok = _solve_weighted(lights, obs, weights)
        for _ in range(iterations):
            r = obs - lights @ b
            weights = trusted / (1.0 + (r / c) ** 2)
            b, ok = _solve_weighted(lights, obs, weights)
        r = obs - lights @ b
        total = np.maximum(weights.sum(axis=0), 1e-12)
        rms = np.sqrt(np.einsum("kp,kp->p", weights * r, r) / total)
        used = (weights > 0.5).sum(axis=0)
        ok &= trusted.sum(axis=0) >= MIN_OBSERVATIONS
        b[:, ~ok] = 0.0
        out.store(start, stop, b, rms, np.where(ok, used, 0))

    _parallel_blocks(run, stack.shape[1])
    return out.result(requested, images.shape[1:], full_count=k)


def solve(
    images: np.ndarray,
    directions: np.ndarray,
    *,
    method: str = "shadow",
    intensities: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    saturation: float = 0.98,
) -> PhotometricResult:
    """Run the solver named ``method`` (one of :data:`SOLVERS`).

    ``shadow`` is the default: real faces always shadow themselves somewhere (the nose
    under a side light), and it costs little more than ``plain``.
    """
    if method == "plain":
        return solve_lambertian(images, directions, intensities=intensities, mask=mask)
    if method == "shadow":
        return solve_shadow_aware(
            images, directions, intensities=intensities, mask=mask, saturation=saturation
        )
    if method == "robust":
        return solve_robust(
            images, directions, intensities=intensities, mask=mask, saturation=saturation
        )
    raise ValueError(f"unknown solver {method!r}; choose one of {', '.join(SOLVERS)}")


def _prepare(
    images: np.ndarray,
    directions: np.ndarray,
    intensities: np.ndarray | None,
    mask: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flatten the captures to (K, P) float32 and scale each light by its intensity."""
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must be (K, H, W), got shape {images.shape}")
    k, h, w = images.shape
    directions = np.asarray(directions, dtype=np.float32)
    if directions.shape != (k, 3):
        raise ValueError(f"directions must be ({k}, 3) for {k} images, got {directions.shape}")
    if k < MIN_OBSERVATIONS:
        raise ValueError(f"photometric stereo needs at least 3 images, got {k}")
    e = np.ones(k, np.float32) if intensities is None else np.asarray(intensities, np.float32)
    if e.shape != (k,) or not (e > 0).all():
        raise ValueError(f"intensities must be {k} positive numbers")
    stack = np.ascontiguousarray(images, dtype=np.float32).reshape(k, h * w)
    requested = np.ones((h, w), bool) if mask is None else np.asarray(mask, bool)
    if requested.shape != (h, w):
        raise ValueError(f"mask must be ({h}, {w}), got {requested.shape}")
    return stack, directions * e[:, None], requested


def _trusted(
    obs: np.ndarray, saturation: float, shadow_threshold: float, relative_shadow: float
) -> np.ndarray:
    """0/1 float weights: observations neither in shadow nor saturated."""
    floor = np.maximum(shadow_threshold, relative_shadow * obs.max(axis=0))
    return ((obs > floor) & (obs < saturation)).astype(np.float32)


def _drop_outliers(
    weights: np.ndarray,
    residual: np.ndarray,
    predicted: np.ndarray,
    ok: np.ndarray,
    rms: np.ndarray,
    mean_obs: np.ndarray,
    outlier_residual: float,
) -> np.ndarray:
    """Weights without the observations a first fit exposes as shadow.

    An observation the fit predicts to face away from its light is an attached shadow
    lifted above the dark floor by noise or ambient light. Where no such observation
    exists but the fit is poor, the one furthest below it is a cast shadow. Either is
    dropped only while at least three observations remain.
    """
    count = weights.sum(axis=0)
    attached = (weights > 0) & (predicted <= 0)
    poor = ok & (rms > outlier_residual * mean_obs) & ~attached.any(axis=0)
    worst = np.argmin(np.where(weights > 0, residual, np.inf), axis=0)
    cast = np.zeros_like(attached)
    cast[worst, np.arange(worst.size)] = poor
    drop = attached | cast
    allowed = ok & (count - drop.sum(axis=0) >= MIN_OBSERVATIONS)
    return np.where(drop & allowed, 0.0, weights).astype(np.float32)


def _solve_weighted(
    lights: np.ndarray, obs: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Solve (sum_k w_k s_k s_k^T) b = sum_k w_k I_k s_k for every pixel at once.

    Returns b (3, P) and a flag (P,) that is False where the system is singular or
    ill-conditioned (fewer than three weighted lights, or nearly coplanar ones).
    """
    sx, sy, sz = lights[:, 0], lights[:, 1], lights[:, 2]
    outer = np.stack([sx * sx, sx * sy, sx * sz, sy * sy, sy * sz, sz * sz])  # (6, K)
    a, b_, c, d, e, f = outer @ weights  # the symmetric 3x3 [[a b c] [b d e] [c e f]]
    rhs = lights.T @ (weights * obs)  # (3, P)
    # Cofactors of the symmetric matrix; its inverse is cof / det.
    c00 = d * f - e * e
    c01 = c * e - b_ * f
    c02 = b_ * e - c * d
    c11 = a * f - c * c
    c12 = b_ * c - a * e
    c22 = a * d - b_ * b_
    det = a * c00 + b_ * c01 + c * c02
    scale = (a + d + f) / 3.0
    ok = det > 1e-4 * scale**3
    inv_det = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    x, y, z = rhs
    solution = np.stack(
        [
            (c00 * x + c01 * y + c02 * z) * inv_det,
            (c01 * x + c11 * y + c12 * z) * inv_det,
            (c02 * x + c12 * y + c22 * z) * inv_det,
        ]
    )
    return solution, ok


class _Outputs:
    """Output buffers shared by the worker threads; each block writes its own slice."""

    def __init__(self, n_pixels: int) -> None:
        self.b = np.empty((n_pixels, 3), np.float32)
        self.residual = np.empty(n_pixels, np.float32)
        self.n_used = np.empty(n_pixels, np.uint8)

    def store(self, start: int, stop: int, b: np.ndarray, residual: np.ndarray, n_used) -> None:
        self.b[start:stop] = b.T
        self.residual[start:stop] = residual
        self.n_used[start:stop] = n_used

    def result(
        self, requested: np.ndarray, shape: tuple[int, int], *, full_count: int
    ) -> PhotometricResult:
        h, w = shape
        b = self.b.reshape(h, w, 3)
        albedo = np.sqrt(np.einsum("hwc,hwc->hw", b, b))
        n_used = self.n_used.reshape(h, w)
        solved = requested & (albedo > 1e-8) & (n_used >= MIN_OBSERVATIONS)
        normals = np.divide(b, albedo[..., None], out=np.zeros_like(b), where=solved[..., None])
        albedo = np.where(solved, albedo, 0.0).astype(np.float32)
        residual = np.where(solved, self.residual.reshape(h, w), 0.0).astype(np.float32)
        underdetermined = requested & (n_used < MIN_OBSERVATIONS)
        n_used = np.where(requested, n_used, 0).astype(np.uint8)
        return PhotometricResult(normals, albedo, solved, residual, n_used, underdetermined)


def _parallel_blocks(run: Callable[[int, int], None], n_pixels: int) -> None:
    """Call ``run(start, stop)`` over cache-sized pixel blocks on every core.

    NumPy releases the GIL inside its kernels, so threads share the work without
    copying the captures.
    """
    bounds = [(s, min(s + BLOCK, n_pixels)) for s in range(0, n_pixels, BLOCK)]
    workers = min(len(bounds), os.cpu_count() or 1)
    if workers <= 1:
        for start, stop in bounds:
            run(start, stop)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(run, start, stop) for start, stop in bounds]:
            future.result()
