"""Calibrated photometric stereo: per-pixel normals and albedo from K >= 3 lit captures.

Model (Lambertian, Woodham 1980): the k-th capture of a pixel with albedo rho and unit
normal n, lit from unit direction l_k with intensity e_k, is

    I_k = e_k * rho * max(0, l_k . n)

Writing s_k = e_k l_k and b = rho n, every unshadowed observation is linear in b, so b is
a least-squares solution of S b = I over the observations a pixel can trust. The three
solvers differ only in which observations they trust and how much:

* ``plain``  all of them, equally (one pseudo-inverse for the whole image);
* ``shadow`` drops observations in shadow (dark) or saturated where the lights left
  are well conditioned, and solves the pixels too few lights reach with their
  neighbours' help (:mod:`photostereo.shadows`);
* ``robust`` iteratively reweighted least squares with Cauchy weights, for many-light
  rigs with specular highlights (Wu et al. and Ikehata et al. treat such outliers as
  sparse errors; IRLS is the simple, vectorised relative of those solvers).

``plain`` runs as a fused compiled kernel (:mod:`photostereo._kernels`) that reads each
capture once, on every core; :mod:`photostereo.reference_solvers` states the same
arithmetic as vectorised NumPy, and the tests hold the two together. ``shadow`` runs
as two compiled passes (:mod:`photostereo._shadow_kernels`) held to
:mod:`photostereo.shadow_steps` the same way; ``robust`` is vectorised NumPy.

Every solver takes ``valid`` (K, H, W) bool: observations that may not be used at all
(saturated in the raw capture, outside the frame after alignment).

References
----------
R. J. Woodham, "Photometric method for determining surface orientation from multiple
images", Optical Engineering 19(1), 1980. doi:10.1117/12.7972479
"""

from __future__ import annotations

import numpy as np

from photostereo import _kernels, reference_solvers
from photostereo.lambert_fit import weighted_fit
from photostereo.reference_solvers import solve_robust
from photostereo.shadows import solve_shadow_aware
from photostereo.solver_common import MIN_OBSERVATIONS, PhotometricResult, prepare_inputs
from psbase.errors import ConfigError

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
    valid: np.ndarray | None = None,
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
    valid : (K, H, W) bool array, optional
        Observations that may be used (default all); pixels with invalid ones are
        solved by least squares over the rest.

    Notes
    -----
    One pseudo-inverse serves every pixel: b = pinv(S) I, and the residual I - S b,
    in one compiled pass that reads the captures once. Shadows and highlights bias this
    solver; see :func:`solve_shadow_aware` and :func:`solve_robust`. Rigs of more than
    32 lights run the NumPy reference.
    """
    if len(images) > _kernels.MAX_LIGHTS:
        result = reference_solvers.solve_lambertian(
            images, directions, intensities=intensities, mask=mask
        )
    else:
        stack, lights, requested = prepare_inputs(images, directions, intensities, mask)
        pinv = np.linalg.pinv(lights.astype(np.float64))
        out = np.empty((6, stack.shape[1]), np.float32)
        kernel = _kernels.plain(len(lights))
        kernel(stack, _as_tuple(lights), _as_tuple(pinv), requested.reshape(-1), out)
        result = _result(out, requested)
    if valid is None or np.all(valid):
        return result
    return _without_invalid(result, images, directions, intensities, mask, valid)


def _without_invalid(
    result: PhotometricResult,
    images: np.ndarray,
    directions: np.ndarray,
    intensities: np.ndarray | None,
    mask: np.ndarray | None,
    valid: np.ndarray,
) -> PhotometricResult:
    """``result`` re-solved, at the pixels with an invalid observation, from the others."""
    stack, lights, requested = prepare_inputs(images, directions, intensities, mask)
    usable = np.asarray(valid, bool).reshape(stack.shape)
    cols = np.flatnonzero(requested.reshape(-1) & ~usable.all(axis=0))
    s = lights.astype(np.float64)
    b, ok = weighted_fit(s, stack[:, cols], usable[:, cols])
    ok &= usable[:, cols].sum(axis=0) >= MIN_OBSERVATIONS
    rho = np.sqrt((b * b).sum(axis=0))
    ok &= rho > 1e-8
    normals = result.normals.reshape(-1, 3).copy()
    albedo = result.albedo.reshape(-1).copy()
    n_used = result.n_used.reshape(-1).copy()
    normals[cols] = np.where(ok[:, None], (b / np.where(ok, rho, 1.0)).T, 0.0)
    albedo[cols] = np.where(ok, rho, 0.0)
    n_used[cols] = usable[:, cols].sum(axis=0)
    h, w = requested.shape
    solved = albedo.reshape(h, w) > 0
    return PhotometricResult(
        normals=normals.reshape(h, w, 3),
        albedo=albedo.reshape(h, w),
        mask=solved,
        residual=result.residual,
        n_used=n_used.reshape(h, w),
        underdetermined=requested & ~solved,
    )


def solve(
    images: np.ndarray,
    directions: np.ndarray,
    *,
    method: str = "shadow",
    intensities: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    saturation: float = 0.98,
) -> PhotometricResult:
    """Run the solver named ``method`` (one of :data:`SOLVERS`).

    ``shadow`` is the default: on real faces (Extended Yale B, benchmarks/bench_real.py)
    it is never more than a degree worse than plain least squares on a session and
    better on average, and it leaves no holes (:mod:`photostereo.shadows`).
    """
    if method == "plain":
        return solve_lambertian(images, directions, intensities=intensities, mask=mask, valid=valid)
    if method == "shadow":
        return solve_shadow_aware(
            images,
            directions,
            intensities=intensities,
            mask=mask,
            valid=valid,
            saturation=saturation,
        )
    if method == "robust":
        robust = solve_robust(
            images,
            directions,
            intensities=intensities,
            mask=mask,
            valid=valid,
            saturation=saturation,
        )
        return _robust_or_fallback(robust, images, directions, intensities, mask, valid)
    raise ConfigError(f"unknown solver {method!r}; choose one of {', '.join(SOLVERS)}")


#: ``robust`` must solve at least this share of what ``shadow`` solves, or is completed by it.
ROBUST_MIN_COVERAGE = 0.9


def _robust_or_fallback(
    robust: PhotometricResult,
    images: np.ndarray,
    directions: np.ndarray,
    intensities: np.ndarray | None,
    mask: np.ndarray | None,
    valid: np.ndarray | None,
) -> PhotometricResult:
    """``robust``, or where it leaves too much unsolved (it needs redundancy that a
    few-light session lacks) completed by ``shadow``, with a note saying so."""
    requested = robust.mask.size if mask is None else int(np.count_nonzero(mask))
    if robust.mask.sum() >= ROBUST_MIN_COVERAGE * requested:
        return robust  # shadow solves at most the requested pixels: no need to run it
    shadow = solve_shadow_aware(images, directions, intensities=intensities, mask=mask, valid=valid)
    if robust.mask.sum() >= ROBUST_MIN_COVERAGE * shadow.mask.sum():
        return robust
    fill = shadow.mask & ~robust.mask
    note = (
        f"robust solved {robust.mask.sum()} of {shadow.mask.sum()} pixels; the other "
        f"{fill.sum()} come from the shadow solver"
    )
    return PhotometricResult(
        normals=np.where(fill[..., None], shadow.normals, robust.normals),
        albedo=np.where(fill, shadow.albedo, robust.albedo),
        mask=robust.mask | fill,
        residual=np.where(fill, shadow.residual, robust.residual),
        n_used=np.where(fill, shadow.n_used, robust.n_used),
        underdetermined=robust.underdetermined & ~fill,
        notes=(*robust.notes, note),
    )


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
