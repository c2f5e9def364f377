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

The shadow solver's first pass (:func:`shadow`) decides per pixel which lights to
trust; what it does with a given set of lit lights is the same for every pixel, so it
reads the decision and the solution operator from tables over all 2^k subsets, built
once per call by :func:`photostereo.shadows.subset_tables` with the NumPy definition's
own functions, and its decisions are the definition's by construction (rigs of up to
:data:`MAX_SUBSET_LIGHTS` lights; larger ones take the NumPy path).
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


#: Largest rig the shadow kernel takes: it looks each pixel's set of lit lights up in
#: tables of all 2^k subsets, built once per call.
MAX_SUBSET_LIGHTS = 12


@cache
def shadow(k: int):
    """Steps 1 and 2 of :func:`photostereo.shadows.solve_shadow_aware` for ``k`` lights.

    Call as ``kernel(stack, valid, thresholds, lit_ok, pinv, lights, b, how, lit_count,
    residual)``: ``valid`` (K, P) bool or (0, 0) for all valid, ``thresholds``
    (saturation, dark level, relative shadow), and per subset of the lights, indexed
    by the bit mask of its members: ``lit_ok`` (2^k,) whether a pixel whose lit lights
    are that subset may be solved from them alone, and ``pinv`` (2^k, 3, k) the
    subset's least-squares solution operator (zero columns for the lights outside it,
    all zero where the subset does not determine b). ``lights`` is S (k, 3). Fills b
    (3, P) float64, ``how`` (P,) with the codes of ``shadows.HOW`` (1, 2 or 4),
    ``lit_count`` (P,) and the RMS ``residual`` (P,) over the observations used. The
    per-subset decisions come from the tables, so they are the NumPy definition's;
    the comparisons with the thresholds run in float64 without fastmath.
    """

    @numba.njit(**{**_JIT, "fastmath": False})
    def kernel(stack, valid, thresholds, lit_ok, pinv, lights, b, how, lit_count, residual):
        saturation, dark_level, relative_shadow = thresholds
        has_valid = valid.shape[0] > 0
        for j in numba.prange(stack.shape[1]):
            brightest = 0.0
            usable = 0
            for i in range(k):
                v = np.float64(stack[i, j])
                if v < saturation and (not has_valid or valid[i, j]):
                    usable |= 1 << i
                    brightest = max(brightest, v)
            floor = max(dark_level, relative_shadow * brightest)
            lit = 0
            n_lit = 0
            for i in range(k):
                if (usable >> i) & 1 and np.float64(stack[i, j]) > floor:
                    lit |= 1 << i
                    n_lit += 1
            lit_count[j] = n_lit
            if lit_ok[lit]:
                used = lit
                how[j] = 1 if lit == usable else 2
            else:
                used = usable
                how[j] = 4
            bx = by = bz = 0.0
            for i in range(k):
                v = np.float64(stack[i, j])
                bx += pinv[used, 0, i] * v
                by += pinv[used, 1, i] * v
                bz += pinv[used, 2, i] * v
            b[0, j], b[1, j], b[2, j] = bx, by, bz
            rss = 0.0
            for i in range(k):
                if (used >> i) & 1:
                    r = np.float64(stack[i, j]) - (
                        lights[i, 0] * bx + lights[i, 1] * by + lights[i, 2] * bz
                    )
                    rss += r * r
            n_used = 0
            for i in range(k):
                n_used += (used >> i) & 1
            residual[j] = np.sqrt(rss / max(n_used, 1))

    return kernel
