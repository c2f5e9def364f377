"""The shadow-aware solver compiled into two passes over the frame.

:mod:`photostereo.shadow_steps` states each step as whole-array NumPy; NumPy runs
each expression as a pass over the frame, and the solver has dozens. Numba compiles
them into two loops that each read the captures once, on every core:

* :func:`first_pass`, steps 1 to 3: which lights each pixel trusts, the fit from them,
  and which lights a cast shadow may darken. What a pixel does with a given set of lit
  lights is the same everywhere, so the decision and the solution operator are read
  from tables over all 2^k subsets, built once per call by
  :func:`photostereo.shadow_steps.subset_tables` with the NumPy definition's own
  functions: the decisions are the definition's by construction (rigs of up to
  :data:`MAX_SUBSET_LIGHTS` lights; larger ones take the NumPy path);
* :func:`block_fields`, the neighbour prior's finest pyramid level (between the two
  passes OpenCV blurs it, :mod:`photostereo.shadow_prior`);
* :func:`second_pass`, steps 4 and 5 and the split into normal and albedo.

The arithmetic runs in float64 without fastmath, so comparisons with thresholds come
out as NumPy's do.
"""

from __future__ import annotations

from functools import cache

import numba
import numpy as np

#: Largest rig compiled: pixels' sets of lit lights index tables of all 2^k subsets.
MAX_SUBSET_LIGHTS = 12
_JIT = {"nogil": True, "cache": True, "fastmath": False, "error_model": "numpy", "parallel": True}
#: Codes of :data:`photostereo.solver_common.HOW` the passes write.
_OUTSIDE, _ALL_LIGHTS, _DROPPED, _NEIGHBOURS, _PLAIN, _CAST = 0, 1, 2, 3, 4, 5
_INLINE = {**_JIT, "parallel": False, "inline": "always"}


@cache
def first_pass(k: int):
    """Steps 1 to 3 of :func:`photostereo.shadows.solve_shadow_aware` for ``k`` lights.

    Call as ``kernel(stack, valid, requested, thresholds, tables, lights, cast, b, how,
    residual, lit_count, lit, usable, suspect)``:
    ``valid`` (K, P) bool or (0, 0) for all valid; ``requested`` (P,) bool;
    ``thresholds`` (saturation, dark level, relative shadow); ``tables`` the (lit_ok,
    operators) of :func:`photostereo.shadow_steps.subset_tables`; ``lights`` S (k, 3);
    ``cast`` (shortfall, spare (k,) bool, free (k,)) of
    :class:`photostereo.shadow_steps.CastShadowTest`. Fills the fields of
    :class:`photostereo.shadow_steps.FirstPass`, with the last three as (P,) bit masks
    (outputs are separate arguments: numba's parallel loops lose writes to arrays
    unpacked from a tuple).
    """
    full = (1 << k) - 1

    @numba.njit(**_JIT)
    def kernel(
        stack, valid, requested, thresholds, tables, lights, cast,
        b, how, residual, lit_count, lit_bits, usable_bits, suspect_bits,
    ):  # fmt: skip
        lit_ok, operators = tables
        for j in numba.prange(stack.shape[1]):
            usable = lit = n_lit = suspects = 0
            code = _OUTSIDE
            bx = by = bz = rms = 0.0
            if requested[j]:
                usable, lit, n_lit = _trusted(stack, valid, j, thresholds, k)
                used, code = usable, _PLAIN
                if lit_ok[lit]:
                    used, code = lit, _ALL_LIGHTS if lit == usable else _DROPPED
                bx = by = bz = 0.0
                for i in range(k):
                    v = np.float64(stack[i, j])
                    bx += operators[used, 0, i] * v
                    by += operators[used, 1, i] * v
                    bz += operators[used, 2, i] * v
                rss, n_used = _rss(stack, lights, j, used, bx, by, bz, k)
                rms = np.sqrt(rss / max(n_used, 1))
                if k >= 4 and lit == full and lit_ok[full]:
                    suspects = _suspects(stack, lights, j, (bx, by, bz), rss, cast, thresholds, k)
            b[0, j], b[1, j], b[2, j] = bx, by, bz
            how[j] = code
            residual[j] = rms
            lit_count[j] = n_lit
            lit_bits[j] = lit
            usable_bits[j] = usable
            suspect_bits[j] = suspects

    return kernel


@numba.njit(**_INLINE)
def _trusted(stack, valid, j, thresholds, k):
    """Step 1 at pixel j: the bit masks of its usable and its lit observations, and how
    many are lit."""
    saturation, dark_level, relative_shadow = thresholds
    brightest = 0.0
    usable = 0
    for i in range(k):
        v = np.float64(stack[i, j])
        if v < saturation and (valid.shape[0] == 0 or valid[i, j]):
            usable |= 1 << i
            brightest = max(brightest, v)
    floor = max(dark_level, relative_shadow * brightest)
    lit = 0
    n_lit = 0
    for i in range(k):
        if (usable >> i) & 1 and np.float64(stack[i, j]) > floor:
            lit |= 1 << i
            n_lit += 1
    return usable, lit, n_lit


@numba.njit(**_INLINE)
def _suspects(stack, lights, j, b, rss, cast, thresholds, k):
    """Step 3 at pixel j, every light lit and fitted to b with residual sum ``rss``: the
    bit mask of the lights a cast shadow may darken
    (:func:`photostereo.shadow_steps.cast_shadow_suspects`)."""
    shortfall, spare, free = cast
    dark_level = thresholds[1]
    suspects = 0
    for i in range(k):
        v = np.float64(stack[i, j])
        r = v - (lights[i, 0] * b[0] + lights[i, 1] * b[1] + lights[i, 2] * b[2])
        missing = -r / free[i]
        predicted = v + missing
        darkened = missing > shortfall * predicted or predicted < 0.0
        if spare[i] and darkened and abs(missing) > dark_level:
            if k == 4 or rss - r * r / free[i] <= 0.25 * rss:
                suspects |= 1 << i
    return suspects


@numba.njit(**_INLINE)
def _rss(stack, lights, j, bits, bx, by, bz, k):
    """Sum of squares of I - S b over the lights in ``bits`` at pixel j, and their number."""
    rss = 0.0
    count = 0
    for i in range(k):
        if (bits >> i) & 1:
            r = np.float64(stack[i, j]) - (
                lights[i, 0] * bx + lights[i, 1] * by + lights[i, 2] * bz
            )
            rss += r * r
            count += 1
    return rss, count


@numba.njit(**_INLINE)
def _starved(code, lit, usable, full):
    """Step 4's pixels: plain least squares, with some lights lit or clipped."""
    return code == _PLAIN and ((lit != 0 and lit != full) or usable != full)


@numba.njit(**_JIT)
def block_fields(first, k, height, width, fields, needed):
    """:func:`photostereo.shadow_prior.block_fields` in one pass: ``fields`` (h2, w2, 4)
    and ``needed`` (h2, w2) from the first pass's (b, how, lit, usable, suspect) (clean:
    solved from trusted lights in step 2 and not suspected in step 3; needed: solved
    from trusted lights, or starved)."""
    b, how, lit_bits, usable_bits, suspect = first
    full = (1 << k) - 1
    for row in numba.prange(fields.shape[0]):
        for col in range(fields.shape[1]):
            w = x = y = z = np.float32(0.0)
            any_needed = False
            for r in range(2 * row, min(2 * row + 2, height)):
                for c in range(2 * col, min(2 * col + 2, width)):
                    j = r * width + c
                    code = how[j]
                    well = code == _ALL_LIGHTS or code == _DROPPED
                    any_needed |= well or _starved(code, lit_bits[j], usable_bits[j], full)
                    if well and suspect[j] == 0:
                        w += np.float32(1.0)
                        x += np.float32(b[0, j])
                        y += np.float32(b[1, j])
                        z += np.float32(b[2, j])
            fields[row, col, 0] = w * np.float32(0.25)
            fields[row, col, 1] = x * np.float32(0.25)
            fields[row, col, 2] = y * np.float32(0.25)
            fields[row, col, 3] = z * np.float32(0.25)
            needed[row, col] = any_needed


@numba.njit(**_INLINE)
def _cell(position, cells):
    """:func:`photostereo.shadow_prior._axis` for one pixel."""
    position = min(max(position, 0.0), cells - 1.0)
    first = np.floor(position)
    return int(first), position - first


@numba.njit(**_INLINE)
def _row_of_cells(grid, row):
    """The vertical half of :func:`photostereo.shadow_prior.sample_prior` for one pixel
    row: per cell column, the weighted sums of b and of the weights over the two cells
    the row lies between, cells no level reached left out ((w2, 4): x, y, z, weight)."""
    h2, w2 = grid.shape[0], grid.shape[1]
    y0, fy = _cell((row + 0.5) * 0.5 - 0.5, h2)
    y1 = min(y0 + 1, h2 - 1)
    sums = np.zeros((w2, 4))
    for yy, weight in ((y0, 1.0 - fy), (y1, fy)):
        for c in range(w2):
            if np.isfinite(grid[yy, c, 0]):
                sums[c, 0] += weight * np.float64(grid[yy, c, 0])
                sums[c, 1] += weight * np.float64(grid[yy, c, 1])
                sums[c, 2] += weight * np.float64(grid[yy, c, 2])
                sums[c, 3] += weight
    return sums


@numba.njit(**_INLINE)
def _sample(sums, col):
    """The horizontal half: the prior at pixel column ``col`` from its row's
    :func:`_row_of_cells`, (x, y, z, reached)."""
    x0, fx = _cell((col + 0.5) * 0.5 - 0.5, sums.shape[0])
    x1 = min(x0 + 1, sums.shape[0] - 1)
    norm = (1.0 - fx) * sums[x0, 3] + fx * sums[x1, 3]
    if norm <= 0:
        return 0.0, 0.0, 0.0, False
    scale = 1.0 / norm
    return (
        ((1.0 - fx) * sums[x0, 0] + fx * sums[x1, 0]) * scale,
        ((1.0 - fx) * sums[x0, 1] + fx * sums[x1, 1]) * scale,
        ((1.0 - fx) * sums[x0, 2] + fx * sums[x1, 2]) * scale,
        True,
    )


@cache
def second_pass(k: int):
    """Steps 4 and 5 and the split into normal and albedo, for ``k`` lights.

    Call as ``kernel(stack, lights, first, grid, width, regularised, out, how_out)``
    with ``first`` the (b, how, residual, lit_count, lit, usable) of the first pass
    (bit masks), the prior ``grid`` of :func:`photostereo.shadow_prior.prior_grid`, the
    frame's ``width``, and ``regularised`` = (lambdas (2,), inverses (2, 2^k, 3, 3),
    ok (2, 2^k)): for lambda starved and lambda pull, (sum_k s_k s_k^T + lambda I)^-1
    over each subset of the lights (:func:`photostereo.lambert_fit.regularised_inverses`).
    Fills what :func:`photostereo.shadow_steps.second_pass_numpy` returns: ``out`` (6,
    P) float32 and ``how_out`` (P,) uint8.
    """
    full = (1 << k) - 1

    @numba.njit(**_JIT)
    def kernel(stack, lights, first, grid, width, regularised, out, how_out):
        b, how, residual, lit_count, lit_bits, usable_bits = first
        lambdas = regularised[0]
        for row in numba.prange(stack.shape[1] // width):
            sums = _row_of_cells(grid, row)
            for j in range(row * width, (row + 1) * width):
                code = how[j]
                bx, by, bz = b[0, j], b[1, j], b[2, j]
                rms = residual[j]
                lit, usable = lit_bits[j], usable_bits[j]
                starved = _starved(code, lit, usable, full)
                well = code != _OUTSIDE and code != _PLAIN
                if starved or (well and lambdas[1] > 0 and code != _CAST):
                    px, py, pz, reached = _sample(sums, j - row * width)
                    if reached:
                        which = 0 if starved else 1
                        bx, by, bz, solved = _regularised_fit(
                            stack, lights, j, lit, (px, py, pz), regularised, which, k
                        )
                        if not solved:
                            bx, by, bz = b[0, j], b[1, j], b[2, j]
                        elif starved:
                            code = _NEIGHBOURS
                        rss, n_lit = _rss(stack, lights, j, lit, bx, by, bz, k)
                        rms = np.sqrt(rss / max(n_lit, 1))
                used = np.int64(lit_count[j])
                if code == _PLAIN:
                    used = _popcount(usable, k)
                _store(out, how_out, j, bx, by, bz, rms, used, code)

    return kernel


@numba.njit(**_INLINE)
def _regularised_fit(stack, lights, j, lit, prior, regularised, which, k):
    """(sum s_k s_k^T + lambda I)^-1 (sum I_k s_k + lambda b0) over the ``lit`` lights
    at pixel j, lambda and the inverse read from the tables at ``which``, and whether
    that inverse exists."""
    lambdas, inverses, invertible = regularised
    lam = lambdas[which]
    x, y, z = lam * prior[0], lam * prior[1], lam * prior[2]
    for i in range(k):
        if (lit >> i) & 1:
            v = np.float64(stack[i, j])
            x += lights[i, 0] * v
            y += lights[i, 1] * v
            z += lights[i, 2] * v
    bx = inverses[which, lit, 0, 0] * x + inverses[which, lit, 0, 1] * y
    by = inverses[which, lit, 1, 0] * x + inverses[which, lit, 1, 1] * y
    bz = inverses[which, lit, 2, 0] * x + inverses[which, lit, 2, 1] * y
    bx += inverses[which, lit, 0, 2] * z
    by += inverses[which, lit, 1, 2] * z
    bz += inverses[which, lit, 2, 2] * z
    return bx, by, bz, invertible[which, lit]


@numba.njit(**_INLINE)
def _popcount(bits, k):
    """How many of the k lowest bits are set."""
    count = 0
    for i in range(k):
        count += (bits >> i) & 1
    return count


@numba.njit(**_INLINE)
def _store(out, how_out, j, bx, by, bz, rms, used, code):
    """Column j of the outputs: unit normal, albedo, residual, observations used and
    ``how``, all zero where unsolved."""
    albedo = np.sqrt(bx * bx + by * by + bz * bz)
    solved = code != _OUTSIDE and albedo > 1e-8
    inverse = 1.0 / albedo if solved else 0.0
    out[0, j] = bx * inverse
    out[1, j] = by * inverse
    out[2, j] = bz * inverse
    out[3, j] = albedo if solved else 0.0
    out[4, j] = rms if solved else 0.0
    out[5, j] = min(used, 255) if solved else 0
    how_out[j] = code if solved else _OUTSIDE
