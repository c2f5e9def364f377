"""Fused, compiled per-pixel kernels behind the fast solvers.

NumPy evaluates an expression one whole-array pass at a time; the Lambertian solve is
so light (a 3 x K product per pixel) that those passes, not arithmetic, set its speed.
Numba compiles each solver into one loop that reads every capture once and writes
every output once, on every core. The vectorised NumPy versions in
:mod:`photostereo.reference_solvers` define what these must compute, and the tests hold
the two together.

Two choices keep the loops vectorised (SIMD across pixels):

* each kernel is compiled per light count, which it holds as a constant, so the loops
  over lights unroll (numba caches each on disk, so a rig size compiles once);
* light coefficients arrive as tuples, not arrays: their values live in registers, so
  the compiler need not fear that an output write changes them;
* all outputs share one (6, P) float32 array (normal x, y, z, albedo, residual, number of
  observations used), so there is a single written array to check against the inputs.

Parallel regions take tuples of at most 100 values, so rigs of more than 32 lights take
the NumPy path (they are slow to capture anyway, and small).
"""

from __future__ import annotations

from functools import cache

import numba
import numpy as np

MAX_LIGHTS = 32
#: Rows of the shared output array.
NX, NY, NZ, ALBEDO, RESIDUAL, USED = range(6)
_JIT = {"nogil": True, "cache": True, "fastmath": True, "error_model": "numpy", "parallel": True}


@numba.njit(inline="always", **{**_JIT, "parallel": False})
def _store(out, j, bx, by, bz, rms, count, requested):
    """Split b = rho n into albedo and unit normal and fill column j, zero if unsolved."""
    rho = np.sqrt(bx * bx + by * by + bz * bz)
    keep = np.float32(requested) * np.float32(rho > np.float32(1e-8))
    keep *= np.float32(count >= np.float32(3.0))
    inv = keep / max(rho, np.float32(1e-30))
    out[NX, j] = bx * inv
    out[NY, j] = by * inv
    out[NZ, j] = bz * inv
    out[ALBEDO, j] = rho * keep
    out[RESIDUAL, j] = rms * keep
    out[USED, j] = count * np.float32(requested)


@cache
def plain(k: int):
    """The plain solver compiled for ``k`` lights: b = pinv(S) I and the RMS of I - S b.

    Call the result as ``kernel(stack, lights, pinv, requested, out)`` with ``lights``
    S flattened row by row (3k values) and ``pinv`` its pseudo-inverse flattened the
    same way (3 rows of k).
    """
    inverse_k = np.float32(1.0 / k)

    @numba.njit(**_JIT)
    def kernel(stack, lights, pinv, requested, out):
        for j in numba.prange(stack.shape[1]):
            bx = np.float32(0.0)
            by = np.float32(0.0)
            bz = np.float32(0.0)
            for i in range(k):
                v = stack[i, j]
                bx += pinv[i] * v
                by += pinv[k + i] * v
                bz += pinv[2 * k + i] * v
            rss = np.float32(0.0)
            for i in range(k):
                s = lights[3 * i] * bx + lights[3 * i + 1] * by + lights[3 * i + 2] * bz
                r = stack[i, j] - s
                rss += r * r
            _store(out, j, bx, by, bz, np.sqrt(rss * inverse_k), np.float32(k), requested[j])

    return kernel


@numba.njit(inline="always", **{**_JIT, "parallel": False})
def _bit(bits, i):
    """1.0 if light i is in ``bits``, else 0.0."""
    return np.float32((bits >> np.uint32(i)) & np.uint32(1))


@numba.njit(inline="always", **{**_JIT, "parallel": False})
def _solve_subset(stack, lights, j, bits, k):
    """Least squares over the lights in ``bits``: (ok, bx, by, bz), branch-free."""
    a = b = c = d = e = f = x = y = z = np.float32(0.0)
    for i in range(k):
        w = _bit(bits, i)
        sx, sy, sz = lights[3 * i], lights[3 * i + 1], lights[3 * i + 2]
        v = stack[i, j] * w
        a += w * sx * sx
        b += w * sx * sy
        c += w * sx * sz
        d += w * sy * sy
        e += w * sy * sz
        f += w * sz * sz
        x += v * sx
        y += v * sy
        z += v * sz
    c00 = d * f - e * e
    c01 = c * e - b * f
    c02 = b * e - c * d
    c11 = a * f - c * c
    c12 = b * c - a * e
    c22 = a * d - b * b
    det = a * c00 + b * c01 + c * c02
    scale = (a + d + f) / np.float32(3.0)
    ok = det > np.float32(1e-4) * scale * scale * scale
    inv = np.float32(ok) / max(det, np.float32(1e-30))
    return (
        ok,
        (c00 * x + c01 * y + c02 * z) * inv,
        (c01 * x + c11 * y + c12 * z) * inv,
        (c02 * x + c12 * y + c22 * z) * inv,
    )


@numba.njit(inline="always", **{**_JIT, "parallel": False})
def _fit_stats(stack, lights, j, bits, bx, by, bz, k):
    """(count, rms, mean observation, attached-shadow bits, lowest-residual light)."""
    count = rss = total = np.float32(0.0)
    attached = np.uint32(0)
    worst = np.uint32(0)
    lowest = np.float32(np.inf)
    for i in range(k):
        w = _bit(bits, i)
        v = stack[i, j]
        predicted = lights[3 * i] * bx + lights[3 * i + 1] * by + lights[3 * i + 2] * bz
        r = v - predicted
        count += w
        rss += w * r * r
        total += w * v
        attached |= np.uint32((w > 0) & (predicted <= 0)) << np.uint32(i)
        better = (w > 0) & (r < lowest)
        lowest = r if better else lowest
        worst = np.uint32(i) if better else worst
    denominator = max(count, np.float32(1.0))
    return count, np.sqrt(rss / denominator), total / denominator, attached, worst


@cache
def shadow_aware(k: int):
    """The shadow-aware solver compiled for ``k`` lights.

    Call the result as ``kernel(stack, lights, thresholds, requested, out)``. It mirrors
    ``reference_solvers.solve_shadow_aware``: trust observations between the shadow
    floor and saturation, fit, drop attached shadows (predicted shading <= 0) or, for
    a poor fit, the observation furthest below it, and refit while three remain.
    ``thresholds`` is (saturation, shadow_threshold, relative_shadow, outlier_residual).
    Every pixel takes the same straight-line path (the refit runs on all of them, with
    an unchanged light set where nothing was dropped), so the loop vectorises.
    """

    @numba.njit(**_JIT)
    def kernel(stack, lights, thresholds, requested, out):
        saturation, shadow_threshold, relative_shadow, outlier_residual = thresholds
        for j in numba.prange(stack.shape[1]):
            brightest = np.float32(0.0)
            for i in range(k):
                brightest = max(brightest, stack[i, j])
            floor = max(shadow_threshold, relative_shadow * brightest)
            bits = np.uint32(0)
            for i in range(k):
                v = stack[i, j]
                bits |= np.uint32((v > floor) & (v < saturation)) << np.uint32(i)
            ok, bx, by, bz = _solve_subset(stack, lights, j, bits, k)
            count, rms, mean_obs, attached, worst = _fit_stats(
                stack, lights, j, bits, bx, by, bz, k
            )
            poor = (attached == 0) & (rms > outlier_residual * mean_obs)
            drop = attached | (np.uint32(poor) << worst)
            dropped = np.float32(0.0)
            for i in range(k):
                dropped += _bit(drop, i)
            allowed = ok & (count - dropped >= np.float32(3.0))
            bits = bits & ~drop if allowed else bits
            ok2, bx2, by2, bz2 = _solve_subset(stack, lights, j, bits, k)
            count2, rms2, _, _, _ = _fit_stats(stack, lights, j, bits, bx2, by2, bz2, k)
            ok = ok2 if allowed else ok
            bx = bx2 if allowed else bx
            by = by2 if allowed else by
            bz = bz2 if allowed else bz
            rms = rms2 if allowed else rms
            count = count2 if allowed else count
            _store(out, j, bx, by, bz, rms, count * np.float32(ok), requested[j])

    return kernel
