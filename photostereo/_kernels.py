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

The shadow-aware solver's passes are in :mod:`photostereo._shadow_kernels`.
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
