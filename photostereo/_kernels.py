"""The fused, compiled per-pixel kernel behind the plain solver.

NumPy evaluates an expression one whole-array pass at a time; the Lambertian solve is
so light (a 3 x K product per pixel) that those passes, not arithmetic, set its speed.
Numba compiles the solver into one loop that reads every capture once and writes
every output once, on every core. The vectorised NumPy version in
:mod:`photostereo.reference_solvers` defines what it must compute, and the tests hold
the two together.

Three choices keep the loop vectorised (SIMD across pixels):

* the kernel is compiled per light count, which it holds as a constant, so the loops
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


@numba.njit(inline="always", **{**_JIT, "parallel": False, "fastmath": False})
def _solve3(a, b, c, d, e, f, x, y, z):
    """Solve [[a b c] [b d e] [c e f]] v = (x, y, z) by cofactors; ok False if singular."""
    c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
    c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
    det = a * c00 + b * c01 + c * c02
    trace = max((a + d + f) / 3.0, 1e-300)
    if not det > 1e-12 * trace * trace * trace:
        return 0.0, 0.0, 0.0, False
    inv = 1.0 / det
    vx = (c00 * x + c01 * y + c02 * z) * inv
    vy = (c01 * x + c11 * y + c12 * z) * inv
    vz = (c02 * x + c12 * y + c22 * z) * inv
    return vx, vy, vz, True


@numba.njit(inline="always", **{**_JIT, "parallel": False, "fastmath": False})
def _well_conditioned(a, b, c, d, e, f, max_condition):
    """Whether sqrt(cond) of [[a b c] [b d e] [c e f]] is at most ``max_condition``:
    its eigenvalues in closed form (Smith 1961), as ``shadows._condition``."""
    q = (a + d + f) / 3.0
    p1 = b * b + c * c + e * e
    p2 = (a - q) ** 2 + (d - q) ** 2 + (f - q) ** 2 + 2.0 * p1
    p = np.sqrt(max(p2, 0.0) / 6.0)
    safe = p if p > 1e-300 else 1.0
    ba, bd, bf = (a - q) / safe, (d - q) / safe, (f - q) / safe
    bb, bc, be = b / safe, c / safe, e / safe
    half_det = 0.5 * (
        ba * (bd * bf - be * be) - bb * (bb * bf - be * bc) + bc * (bb * be - bd * bc)
    )
    phi = np.arccos(min(max(half_det, -1.0), 1.0)) / 3.0
    largest = q + 2.0 * p * np.cos(phi)
    smallest = q + 2.0 * p * np.cos(phi + 2.0 * np.pi / 3.0)
    if not smallest > 1e-12 * max(largest, 1e-300):
        return False
    return np.sqrt(largest / smallest) <= max_condition


@cache
def shadow(k: int):
    """Steps 1 and 2 of :func:`photostereo.shadows.solve_shadow_aware` for ``k`` lights.

    Call as ``kernel(stack, lights, pinv, valid, thresholds, b, how, lit_count,
    residual)``: ``lights`` flattened row by row (3k values) and ``pinv`` its
    pseudo-inverse (3 rows of k), ``valid`` (K, P) bool or (0, 0) for all valid,
    ``thresholds`` (saturation, dark level, relative shadow, max condition, 1.0 if all
    k lights together determine b else 0.0). Fills b (3, P) float64, ``how``
    (P,) with the codes of ``shadows.HOW`` (1, 2 or 4), ``lit_count`` (P,) and the RMS
    ``residual`` (P,) over the observations used. A pixel that every light lights is
    solved as plain does, with the pseudo-inverse; the others accumulate and solve their
    own normal equations, in float64 without fastmath, so that the decisions are the
    reference's.
    """

    @numba.njit(**{**_JIT, "fastmath": False})
    def kernel(stack, lights, pinv, valid, thresholds, b, how, lit_count, residual):
        saturation, dark_level, relative_shadow, max_condition, solvable = thresholds
        has_valid = valid.shape[0] > 0
        for j in numba.prange(stack.shape[1]):
            brightest = 0.0
            n_usable = 0
            for i in range(k):
                v = np.float64(stack[i, j])
                if v < saturation and (not has_valid or valid[i, j]):
                    n_usable += 1
                    brightest = max(brightest, v)
            floor = max(dark_level, relative_shadow * brightest)
            n_lit = 0
            for i in range(k):
                v = np.float64(stack[i, j])
                if v < saturation and (not has_valid or valid[i, j]) and v > floor:
                    n_lit += 1
            lit_count[j] = n_lit
            if n_lit == k and solvable > 0.0:
                bx = by = bz = 0.0
                for i in range(k):
                    v = np.float64(stack[i, j])
                    bx += pinv[i] * v
                    by += pinv[k + i] * v
                    bz += pinv[2 * k + i] * v
                how[j] = 1
            else:
                bx, by, bz, well = _fit_subset(
                    stack, lights, valid, has_valid, j, k, saturation, floor, max_condition
                )
                how[j] = (2 if n_lit < n_usable else 1) if well else 4
            b[0, j], b[1, j], b[2, j] = bx, by, bz
            rss = 0.0
            for i in range(k):
                v = np.float64(stack[i, j])
                usable = v < saturation and (not has_valid or valid[i, j])
                if usable and (how[j] == 4 or v > floor):
                    r = v - (lights[3 * i] * bx + lights[3 * i + 1] * by + lights[3 * i + 2] * bz)
                    rss += r * r
            used = n_usable if how[j] == 4 else n_lit
            residual[j] = np.sqrt(rss / max(used, 1))

    return kernel


@numba.njit(inline="always", **{**_JIT, "parallel": False, "fastmath": False})
def _fit_subset(stack, lights, valid, has_valid, j, k, saturation, floor, max_condition):
    """b from the lit observations where they can stand alone (three or more, and well
    conditioned if any usable one was dark), else from every usable one (plain least
    squares); and whether the lit ones were used."""
    a0 = b0 = c0 = d0 = e0 = f0 = x0 = y0 = z0 = 0.0
    a1 = b1 = c1 = d1 = e1 = f1 = x1 = y1 = z1 = 0.0
    n_lit = 0
    n_usable = 0
    for i in range(k):
        v = np.float64(stack[i, j])
        if not (v < saturation and (not has_valid or valid[i, j])):
            continue
        n_usable += 1
        sx = np.float64(lights[3 * i])
        sy = np.float64(lights[3 * i + 1])
        sz = np.float64(lights[3 * i + 2])
        a0 += sx * sx
        b0 += sx * sy
        c0 += sx * sz
        d0 += sy * sy
        e0 += sy * sz
        f0 += sz * sz
        x0 += sx * v
        y0 += sy * v
        z0 += sz * v
        if v > floor:
            a1 += sx * sx
            b1 += sx * sy
            c1 += sx * sz
            d1 += sy * sy
            e1 += sy * sz
            f1 += sz * sz
            x1 += sx * v
            y1 += sy * v
            z1 += sz * v
            n_lit += 1
    dropping = n_lit < n_usable
    if n_lit >= 3 and (not dropping or _well_conditioned(a1, b1, c1, d1, e1, f1, max_condition)):
        bx, by, bz, ok = _solve3(a1, b1, c1, d1, e1, f1, x1, y1, z1)
        if ok:
            return bx, by, bz, True
    bx, by, bz, _ = _solve3(a0, b0, c0, d0, e0, f0, x0, y0, z0)
    return bx, by, bz, False
