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

``plain`` and ``shadow`` run as fused compiled kernels (:mod:`photostereo._kernels`) that
read each capture once, on every core; :mod:`photostereo.reference_solvers` states the
same arithmetic as vectorised NumPy, and the tests hold the two together. ``robust``
iterates and serves many-light rigs, and runs as that vectorised NumPy.

References
----------
R. J. Woodham, "Photometric method for determining surface orientation from multiple
images", Optical Engineering 19(1), 1980. doi:10.1117/12.7972479
"""

from __future__ import annotations

import numpy as np

from photostereo import _kernels, reference_solvers
from photostereo.reference_solvers import solve_robust
from photostereo.solver_common import MIN_OBSERVATIONS, PhotometricResult, prepare_inputs

__all__ = [
    "MIN_OBSERVATIONS",
    "SOLVERS",
    "PhotometricResult",
    "solve",
    "solve_lambertian",
    "solve_robust",
    "solve_shadow_aware",
]

#: Names accepted by :func:`solve`.
SOLVERS = ("plain", "shadow", "robust")


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
    One pseudo-inverse serves every pixel: b = pinv(S) I, and the residual I - S b,
    in one compiled pass that reads the captures once. Shadows and highlights bias this
    solver; see :func:`solve_shadow_aware` and :func:`solve_robust`. Rigs of more than
    32 lights run the NumPy reference.
    """
    if len(images) > _kernels.MAX_LIGHTS:
        return reference_solvers.solve_lambertian(
            images, directions, intensities=intensities, mask=mask
        )
    stack, lights, requested = prepare_inputs(images, directions, intensities, mask)
    pinv = np.linalg.pinv(lights.astype(np.float64))
    out = np.empty((6, stack.shape[1]), np.float32)
    kernel = _kernels.plain(len(lights))
    kernel(stack, _as_tuple(lights), _as_tuple(pinv), requested.reshape(-1), out)
    return _result(out, requested)


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
    if len(images) > _kernels.MAX_LIGHTS:
        return reference_solvers.solve_shadow_aware(
            images,
            directions,
            intensities=intensities,
            mask=mask,
            saturation=saturation,
            shadow_threshold=shadow_threshold,
            relative_shadow=relative_shadow,
            outlier_residual=outlier_residual,
        )
    stack, lights, requested = prepare_inputs(images, directions, intensities, mask)
    out = np.empty((6, stack.shape[1]), np.float32)
    thresholds = (saturation, shadow_threshold, relative_shadow, outlier_residual)
    kernel = _kernels.shadow_aware(len(lights))
    kernel(stack, _as_tuple(lights), _as_tuple(thresholds), requested.reshape(-1), out)
    return _result(out, requested)


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


def _as_tuple(values) -> tuple[np.float32, ...]:
    """Coefficients as a float32 tuple: the kernels compile once per length (rig size)."""
    return tuple(np.float32(v) for v in np.ravel(values))


def _result(out: np.ndarray, requested: np.ndarray) -> PhotometricResult:
    """Views of the kernels' (6, P) output as (H, W) maps and (H, W, 3) normals."""
    h, w = requested.shape
    maps = out.reshape(6, h, w)
    n_used = maps[_kernels.USED].astype(np.uint8)
    albedo = maps[_kernels.ALBEDO]
    return PhotometricResult(
        normals=np.moveaxis(maps[: _kernels.NZ + 1], 0, -1),
        albedo=albedo,
        mask=albedo > 0,
        residual=maps[_kernels.RESIDUAL],
        n_used=n_used,
        underdetermined=requested & (n_used < MIN_OBSERVATIONS),
    )
