"""The shadow-aware solver compiled into passes over the frame.

:mod:`photostereo.shadow_steps` states each step as whole-array NumPy; NumPy runs
each expression as a pass over the frame, and the solver has dozens. Numba compiles
them into loops that each read the captures once, on every core:

* :func:`first_pass`, steps 1 to 3: which lights each pixel trusts, the fit from them,
  and which lights a cast shadow may darken;
* :func:`block_fields`, the neighbour prior's finest pyramid level (blurred next,
  :mod:`photostereo.shadow_prior`);
* :func:`second_pass`, steps 4 and 5 and the split into normal and albedo.

The per-pixel passes vectorise (SIMD across pixels) because they are branch-free
float32 and follow :mod:`photostereo._kernels`' rules: one kernel per light count, the
rig's constants as tuples, few written arrays. Which sets of lights a pixel may trust
alone, and which determine b, are decided once per subset in float64 by the NumPy
definition's own function and arrive as tables over all 2^k subsets (:func:`subset_table`;
rigs of up to :data:`MAX_SUBSET_LIGHTS` lights, larger ones take the NumPy path). The arithmetic is
the definition's, operation for operation and without fastmath, so the two agree bit
for bit.

The first pass packs a pixel's integer results into ``codes`` (2, P) int32: row 0 holds
the lit lights' bits, the usable ones' shifted by :data:`USABLE_SHIFT` and the
:data:`photostereo.solver_common.HOW` code shifted by :data:`HOW_SHIFT`; row 1 the
suspected lights' bits.
"""

from __future__ import annotations

from functools import cache

import numba
import numpy as np

#: Largest rig compiled: each of lit, usable and suspect takes this many bits.
MAX_SUBSET_LIGHTS = 12
#: Largest rig whose subset tables are words in registers (:func:`subset_table`).
WORD_TABLE_LIGHTS = 10
USABLE_SHIFT = 12
HOW_SHIFT = 24
_JIT = {"nogil": True, "cache": True, "fastmath": False, "error_model": "numpy", "parallel": True}
_INLINE = {**_JIT, "parallel": False, "inline": "always"}
#: Helpers that run whole loops of their own, compiled apart so each vectorises.
_LOOP = {**_JIT, "parallel": False}
#: Codes of :data:`photostereo.solver_common.HOW` the passes write.
_OUTSIDE, _ALL_LIGHTS, _DROPPED, _NEIGHBOURS, _PLAIN, _CAST = 0, 1, 2, 3, 4, 5
_F32 = np.float32
_I32 = np.int32
_BITS = np.int32((1 << MAX_SUBSET_LIGHTS) - 1)
_SINGULAR = np.float32(1e-6)


def subset_table(flags: np.ndarray) -> tuple | np.ndarray:
    """The (2^k,) bool ``flags`` as the first pass reads them: up to
    :data:`WORD_TABLE_LIGHTS` lights, a tuple of 64-bit words (at least one) that stays
    in registers (:func:`_member_of_words`); beyond, the array itself (a chain of more
    than 16 words would not unroll; :func:`first_pass` reads it in a loop of its
    own)."""
    if len(flags) > 1 << WORD_TABLE_LIGHTS:
        return np.ascontiguousarray(flags)
    padded = np.zeros(max(64, len(flags)), bool)
    padded[: len(flags)] = flags
    weights = np.uint64(1) << np.arange(64, dtype=np.uint64)
    words = (padded.reshape(-1, 64) * weights).sum(axis=1, dtype=np.uint64)
    return tuple(np.uint64(w) for w in words)


@numba.njit(**_INLINE)
def _member_of_words(words, bits):
    """Whether subset ``bits`` is in the words of :func:`subset_table`: the word picked
    by a chain of selects (a tuple indexed by a value per pixel compiles to a lookup
    that does not vectorise)."""
    high = bits >> _I32(6)
    word = words[0]
    for w in range(1, len(words)):
        word = words[w] if high == w else word
    return ((word >> np.uint64(bits & _I32(63))) & np.uint64(1)) == np.uint64(1)


@numba.njit(**_INLINE)
def _normal_equations(stack, j, bits, lights, outer, lam, px, py, pz, k):
    """:func:`photostereo.shadow_steps.normal_equations` at pixel j over the lights in
    ``bits``."""
    a = b = c = d = e = f = x = y = z = _F32(0.0)
    for i in range(k):
        on = ((bits >> _I32(i)) & _I32(1)) == _I32(1)
        zero = _F32(0.0)
        a += outer[6 * i] if on else zero
        b += outer[6 * i + 1] if on else zero
        c += outer[6 * i + 2] if on else zero
        d += outer[6 * i + 3] if on else zero
        e += outer[6 * i + 4] if on else zero
        f += outer[6 * i + 5] if on else zero
        v = stack[i, j] if on else zero
        x += lights[3 * i] * v
        y += lights[3 * i + 1] * v
        z += lights[3 * i + 2] * v
    return a + lam, b, c, d + lam, e, f + lam, x + lam * px, y + lam * py, z + lam * pz


@numba.njit(**_INLINE)
def _adjugate_solve(equations):
    """:func:`photostereo.shadow_steps.adjugate_solve`."""
    a, b, c, d, e, f, x, y, z = equations
    c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
    c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
    det = a * c00 + b * c01 + c * c02
    return (
        c00 * x + c01 * y + c02 * z,
        c01 * x + c11 * y + c12 * z,
        c02 * x + c12 * y + c22 * z,
        det,
        (a + d + f) * _F32(1 / 3),
    )


@numba.njit(**_INLINE)
def _rss(stack, j, bits, bx, by, bz, lights, k):
    """Float32 sum of squares of I - S b over the lights in ``bits`` at pixel j, and
    their number."""
    rss = _F32(0.0)
    count = _I32(0)
    for i in range(k):
        on = ((bits >> _I32(i)) & _I32(1)) == _I32(1)
        r = stack[i, j] - (lights[3 * i] * bx + lights[3 * i + 1] * by + lights[3 * i + 2] * bz)
        rss += r * r if on else _F32(0.0)
        count += _I32(on)
    return rss, count


@numba.njit(**_INLINE)
def _root_mean(rss, count):
    return np.sqrt(rss / _F32(max(count, _I32(1))))


@cache
def first_pass(k: int, with_valid: bool):
    """Steps 1 to 3 of :func:`photostereo.shadows.solve_shadow_aware` for ``k`` lights.

    Call as ``kernel(stack, valid, requested, levels, tables, lights, outer, cast, fit,
    codes)``: ``valid`` (K, P) bool (ignored unless ``with_valid``); ``requested`` (P,)
    bool; ``levels`` float32 (saturation, dark level, relative shadow); ``tables`` the
    :func:`subset_table` of the subsets solved alone and of those determining b;
    ``lights`` and ``outer`` the float32 :class:`photostereo.shadow_steps.Lights`
    flattened (tuples; arrays beyond :data:`WORD_TABLE_LIGHTS` lights); ``cast``
    (shortfall, spare (k,) bool, inverse free (k,)) of
    :class:`photostereo.shadow_steps.CastShadowTest`. Fills ``fit`` (4, P) float32 (b,
    RMS residual) and ``codes`` (2, P) int32 (module docstring).

    Up to :data:`WORD_TABLE_LIGHTS` lights it is one loop. Beyond, the table lookups
    would keep that loop from vectorising, so they get a loop of their own between the
    classification and the fit, passing their results through ``codes``.
    """
    full = _I32((1 << k) - 1)
    words = k <= WORD_TABLE_LIGHTS  # a constant: the other branch is pruned

    @numba.njit(**_JIT)
    def kernel(stack, valid, requested, levels, tables, lights, outer, cast, fit, codes):
        alone_table, determined_table = tables
        shortfall, spare, inverse_free = cast  # parallel loops take no nested tuples
        if words:
            for j in numba.prange(stack.shape[1]):
                usable, lit = _classify(stack, valid, requested[j], j, levels, with_valid, k)
                alone = _member_of_words(alone_table, lit)
                determined = _member_of_words(determined_table, lit if alone else usable)
                sets = (requested[j], usable, lit, alone, determined)
                test = (shortfall, levels[1])
                _fit(stack, j, sets, lights, outer, test, spare, inverse_free, fit, codes, full, k)
        else:
            for j in numba.prange(stack.shape[1]):
                usable, lit = _classify(stack, valid, requested[j], j, levels, with_valid, k)
                codes[0, j] = lit | (usable << _I32(USABLE_SHIFT))
            for j in numba.prange(stack.shape[1]):
                usable, lit = codes[0, j] >> _I32(USABLE_SHIFT), codes[0, j] & _BITS
                alone = alone_table[lit]
                determined = determined_table[lit if alone else usable]
                codes[1, j] = _I32(alone) | (_I32(determined) << _I32(1))
            for j in numba.prange(stack.shape[1]):
                usable, lit = codes[0, j] >> _I32(USABLE_SHIFT), codes[0, j] & _BITS
                alone = (codes[1, j] & _I32(1)) == _I32(1)
                determined = (codes[1, j] & _I32(2)) == _I32(2)
                sets = (requested[j], usable, lit, alone, determined)
                test = (shortfall, levels[1])
                _fit(stack, j, sets, lights, outer, test, spare, inverse_free, fit, codes, full, k)

    return kernel


@numba.njit(**_INLINE)
def _classify(stack, valid, inside, j, levels, with_valid, k):
    """Step 1 at pixel j: the bits of its usable and of its lit observations."""
    saturation, dark_level, relative_shadow = levels
    brightest = _F32(0.0)
    usable = _I32(0)
    for i in range(k):
        v = stack[i, j]
        ok = (v < saturation) & inside
        if with_valid:
            ok &= valid[i, j]
        usable |= _I32(ok) << _I32(i)
        brightest = max(brightest, v if ok else _F32(0.0))
    floor = max(dark_level, relative_shadow * brightest)
    lit = _I32(0)
    for i in range(k):
        on = (((usable >> _I32(i)) & _I32(1)) == _I32(1)) & (stack[i, j] > floor)
        lit |= _I32(on) << _I32(i)
    return usable, lit


@numba.njit(**_INLINE)
def _fit(stack, j, sets, lights, outer, test, spare, inverse_free, fit, codes, full, k):
    """Steps 2 and 3 at pixel j, ``sets`` = (inside, usable, lit, alone, determined): b
    from the lights it trusts (``lit`` if ``alone`` else ``usable``; zero unless they
    are ``determined``), the residual, and the suspects by the cast-shadow ``test``
    (shortfall, dark level) with ``spare`` and ``inverse_free``; written to ``fit`` and
    ``codes`` (separate arguments: parallel loops lose writes to arrays unpacked from a
    tuple)."""
    inside, usable, lit, alone, determined = sets
    shortfall, dark_level = test
    used = lit if alone else usable
    zero = _F32(0.0)
    eq = _normal_equations(stack, j, used, lights, outer, zero, zero, zero, zero, k)
    sx, sy, sz, det, _ = _adjugate_solve(eq)
    inverse = _F32(1.0) / (det if determined else _F32(1.0))
    bx = sx * inverse if determined else zero
    by = sy * inverse if determined else zero
    bz = sz * inverse if determined else zero
    rss, count = _rss(stack, j, used, bx, by, bz, lights, k)
    every = alone & (lit == full)
    suspects = _I32(0)
    if k >= 4:
        for i in range(k):
            v = stack[i, j]
            r = v - (lights[3 * i] * bx + lights[3 * i + 1] * by + lights[3 * i + 2] * bz)
            missing = -r * inverse_free[i]
            predicted = v + missing
            darkened = (missing > shortfall * predicted) | (predicted < zero)
            suspect = darkened & (abs(missing) > dark_level) & spare[i] & every
            if k > 4:
                suspect &= rss - r * r * inverse_free[i] <= _F32(0.25) * rss
            suspects |= _I32(suspect) << _I32(i)
    code = (_ALL_LIGHTS if lit == usable else _DROPPED) if alone else _PLAIN
    fit[0, j] = bx
    fit[1, j] = by
    fit[2, j] = bz
    fit[3, j] = _root_mean(rss, count)
    code = _I32(code) if inside else _I32(_OUTSIDE)
    codes[0, j] = lit | (usable << _I32(USABLE_SHIFT)) | (code << _I32(HOW_SHIFT))
    codes[1, j] = suspects


@numba.njit(**_INLINE)
def _starved(code, lit, usable, full):
    """Step 4's pixels: plain least squares, with some lights lit or clipped."""
    return (code == _PLAIN) & (((lit != 0) & (lit != full)) | (usable != full))


@numba.njit(**_INLINE)
def _unpack(packed):
    """(lit, usable, how) from a pixel's first row of codes."""
    return packed & _BITS, (packed >> _I32(USABLE_SHIFT)) & _BITS, packed >> _I32(HOW_SHIFT)


@numba.njit(**_JIT)
def block_fields(fit, codes, k, height, width, fields, needed):
    """:func:`photostereo.shadow_prior.block_fields` in one pass: ``fields`` (h2, w2, 4)
    and ``needed`` (h2, w2) from the first pass's ``fit`` and ``codes`` (clean: solved
    from trusted lights in step 2 and not suspected in step 3; needed: solved from
    trusted lights, or starved)."""
    for row in numba.prange(fields.shape[0]):
        top = 2 * row * width
        below = min(2 * row + 1, height - 1) * width
        _block_row(fit, codes, k, top, below, 2 * row + 1 < height, width, fields[row], needed[row])


@numba.njit(**_INLINE)
def _pixel(fit, codes, j, inside, full):
    """Pixel j's part of a block: its weight (1 if clean), weight x b, and whether the
    block needs a prior for it; nothing if not ``inside`` the frame."""
    lit, usable, code = _unpack(codes[0, j])
    well = (code == _ALL_LIGHTS) | (code == _DROPPED)
    clean = well & (codes[1, j] == 0) & inside
    weight = _F32(1.0) if clean else _F32(0.0)
    wanted = (well | _starved(code, lit, usable, full)) & inside
    return weight, fit[0, j] * weight, fit[1, j] * weight, fit[2, j] * weight, wanted


@numba.njit(**_LOOP)
def _block_row(fit, codes, k, top, below, has_below, width, fields, needed):
    """One row of blocks: pixel rows starting at flat index ``top`` and ``below``
    (the same row again, left out, when the frame ends first)."""
    full = _I32((1 << k) - 1)
    quarter = _F32(0.25)
    for col in range(fields.shape[0]):
        left = np.uint64(2 * col)
        has_right = 2 * col + 1 < width
        right = np.uint64(min(2 * col + 1, width - 1))
        w0, x0, y0, z0, n0 = _pixel(fit, codes, np.uint64(top) + left, True, full)
        w1, x1, y1, z1, n1 = _pixel(fit, codes, np.uint64(top) + right, has_right, full)
        w2, x2, y2, z2, n2 = _pixel(fit, codes, np.uint64(below) + left, has_below, full)
        w3, x3, y3, z3, n3 = _pixel(
            fit, codes, np.uint64(below) + right, has_right & has_below, full
        )
        fields[col, 0] = (w0 + w1 + w2 + w3) * quarter
        fields[col, 1] = (x0 + x1 + x2 + x3) * quarter
        fields[col, 2] = (y0 + y1 + y2 + y3) * quarter
        fields[col, 3] = (z0 + z1 + z2 + z3) * quarter
        needed[col] = n0 | n1 | n2 | n3


@numba.njit(**_INLINE)
def _cell(position, cells):
    """:func:`photostereo.shadow_prior._axis` for one pixel."""
    position = min(max(position, 0.0), cells - 1.0)
    first = np.floor(position)
    return int(first), _F32(position - first)


@numba.njit(**_INLINE)
def _interpolate(prior, sums, col, x0, fx):
    """Column ``col`` of :func:`_row_prior`: the ``sums`` of cells x0 and the next one,
    ``fx`` of the way between them, over their weight (zero where they have none)."""
    x1 = min(x0 + 1, sums.shape[1] - 1)
    back = _F32(1.0) - fx
    norm = back * sums[3, x0] + fx * sums[3, x1]
    reached = norm > _F32(0.0)
    scale = _F32(1.0) / (norm if reached else _F32(1.0))
    for axis in range(3):
        value = (back * sums[axis, x0] + fx * sums[axis, x1]) * scale
        prior[axis, col] = value if reached else _F32(0.0)
    prior[3, col] = _F32(1.0) if reached else _F32(0.0)


@numba.njit(**_LOOP)
def _row_prior(grid, row, width):
    """:func:`photostereo.shadow_prior.sample_prior` along pixel row ``row`` of the
    prior ``grid`` (3, h2, w2): (4, width) float32 x, y, z and 1 where reached (else
    zeros).

    Pixel columns 2m and 2m + 1 lie a quarter of a cell either side of cell m's centre,
    so the interior takes fixed weights, written a pair at a time and a channel at a
    time (loops that vectorise); the clamped edges take the general formula."""
    h2, w2 = grid.shape[1], grid.shape[2]
    y0, fy = _cell((row + 0.5) * 0.5 - 0.5, h2)
    y1 = min(y0 + 1, h2 - 1)
    sums = np.empty((4, w2), np.float32)
    _vertical_weights(grid[0, y0], grid[0, y1], fy, sums[3])
    for axis in range(3):
        _vertical(grid[axis, y0], grid[axis, y1], fy, sums[axis])
    prior = np.empty((4, width), np.float32)
    scale = np.zeros(2 * w2, np.float32)
    _pair_scales(sums[3], scale)
    for axis in range(3):
        _pair_values(sums[axis], scale, prior[axis])
    reached = prior[3]
    for col in range(2, 2 * w2 - 2):
        reached[col] = _F32(1.0) if scale[col] > _F32(0.0) else _F32(0.0)
    for col in range(min(2, width)):
        x0, fx = _cell((col + 0.5) * 0.5 - 0.5, w2)
        _interpolate(prior, sums, col, x0, fx)
    for col in range(max(2, 2 * w2 - 2), width):
        x0, fx = _cell((col + 0.5) * 0.5 - 0.5, w2)
        _interpolate(prior, sums, col, x0, fx)
    return prior


@numba.njit(**_LOOP)
def _vertical(upper, lower, fy, sums):
    """The ``upper`` and ``lower`` rows of cells, ``fy`` of the way down, skipping cells
    no level reached (NaN)."""
    back, zero = _F32(1.0) - fy, _F32(0.0)
    for c in range(upper.shape[0]):
        sums[c] = (back * upper[c] if np.isfinite(upper[c]) else zero) + (
            fy * lower[c] if np.isfinite(lower[c]) else zero
        )


@numba.njit(**_LOOP)
def _vertical_weights(upper, lower, fy, sums):
    """The weights :func:`_vertical` gave the two rows' cells, summed."""
    back, zero = _F32(1.0) - fy, _F32(0.0)
    for c in range(upper.shape[0]):
        above = back if np.isfinite(upper[c]) else zero
        sums[c] = above + (fy if np.isfinite(lower[c]) else zero)


@numba.njit(**_LOOP)
def _pair_scales(weight, scale):
    """1 / the interpolated weight at the interior pixel columns (0 where none)."""
    quarter, rest, one, zero = _F32(0.25), _F32(0.75), _F32(1.0), _F32(0.0)
    for m in range(1, weight.shape[0] - 1):
        even = quarter * weight[m - 1] + rest * weight[m]
        odd = rest * weight[m] + quarter * weight[m + 1]
        scale[2 * m] = one / even if even > zero else zero
        scale[2 * m + 1] = one / odd if odd > zero else zero


@numba.njit(**_LOOP)
def _pair_values(sums, scale, prior):
    """The interpolated sums at the interior pixel columns, times their scale."""
    quarter, rest = _F32(0.25), _F32(0.75)
    for m in range(1, sums.shape[0] - 1):
        prior[2 * m] = (quarter * sums[m - 1] + rest * sums[m]) * scale[2 * m]
        prior[2 * m + 1] = (rest * sums[m] + quarter * sums[m + 1]) * scale[2 * m + 1]


@cache
def second_pass(k: int):
    """Steps 4 and 5 and the split into normal and albedo, for ``k`` lights.

    Call as ``kernel(stack, lights, outer, fit, codes, grid, width, lambdas, out,
    how_out)`` with the first pass's ``fit`` and ``codes``, the prior ``grid`` of
    :func:`photostereo.shadow_prior.prior_grid` as planes (3, h2, w2), the frame's
    ``width`` and ``lambdas`` float32 (lambda starved, lambda pull). Fills what
    :func:`photostereo.shadow_steps.second_pass_numpy` returns: ``out`` (6, P) float32
    and ``how_out`` (P,) uint8.
    """
    full = _I32((1 << k) - 1)

    @numba.njit(**_JIT)
    def kernel(stack, lights, outer, fit, codes, grid, width, lambdas, out, how_out):
        lam_starved, lam_pull = lambdas
        for row in numba.prange(stack.shape[1] // width):
            prior = _row_prior(grid, row, width)
            start = np.uint64(row * width)
            for col in range(width):
                j = start + np.uint64(col)
                lit, usable, code = _unpack(codes[0, j])
                starved = _starved(code, lit, usable, full)
                well = (code != _OUTSIDE) & (code != _PLAIN)
                pulled = starved | (well & (lam_pull > _F32(0.0)) & (code != _CAST))
                lam = lam_starved if starved else lam_pull
                eq = _normal_equations(
                    stack,
                    j,
                    lit,
                    lights,
                    outer,
                    lam,
                    prior[0, col],
                    prior[1, col],
                    prior[2, col],
                    k,
                )
                sx, sy, sz, det, mean = _adjugate_solve(eq)
                solved = (
                    pulled & (prior[3, col] > _F32(0.0)) & (det > _SINGULAR * mean * mean * mean)
                )
                inverse = _F32(1.0) / (det if solved else _F32(1.0))
                bx = sx * inverse if solved else fit[0, j]
                by = sy * inverse if solved else fit[1, j]
                bz = sz * inverse if solved else fit[2, j]
                rss, count = _rss(stack, j, lit, bx, by, bz, lights, k)
                rms = _root_mean(rss, count) if solved else fit[3, j]
                code = _NEIGHBOURS if solved & starved else code
                used = _popcount(usable if code == _PLAIN else lit, k)
                _store(out, how_out, j, bx, by, bz, rms, used, code)

    return kernel


@numba.njit(**_INLINE)
def _popcount(bits, k):
    """How many of the k lowest bits are set."""
    count = _I32(0)
    for i in range(k):
        count += (bits >> _I32(i)) & _I32(1)
    return count


@numba.njit(**_INLINE)
def _store(out, how_out, j, bx, by, bz, rms, used, code):
    """Column j of the outputs: unit normal, albedo, residual, observations used and
    ``how``, all zero where unsolved."""
    albedo = np.sqrt(bx * bx + by * by + bz * bz)
    kept = (code != _OUTSIDE) & (albedo > _F32(1e-8))
    inverse = _F32(1.0) / (albedo if kept else _F32(1.0))
    zero = _F32(0.0)
    out[0, j] = bx * inverse if kept else zero
    out[1, j] = by * inverse if kept else zero
    out[2, j] = bz * inverse if kept else zero
    out[3, j] = albedo if kept else zero
    out[4, j] = rms if kept else zero
    out[5, j] = _F32(min(used, _I32(255))) if kept else zero
    how_out[j] = np.uint8(code) if kept else np.uint8(_OUTSIDE)


@numba.njit(**_JIT)
def nonzero_columns(values):
    """np.flatnonzero of a (P,) array, in parallel chunks: counted, then gathered from
    the chunks that hold any."""
    n = values.shape[0]
    chunks = max(1, n // 1024)
    counts = np.zeros(chunks + 1, np.int64)
    for chunk in numba.prange(chunks):
        start = np.uint64(chunk * n // chunks)
        count = 0
        for j in range(np.uint64((chunk + 1) * n // chunks) - start):
            count += values[start + j] != 0
        counts[chunk + 1] = count
    starts = np.cumsum(counts)
    cols = np.empty(starts[-1], np.int64)
    for chunk in numba.prange(chunks):
        at = starts[chunk]
        if starts[chunk + 1] == at:
            continue
        for j in range(chunk * n // chunks, (chunk + 1) * n // chunks):
            if values[np.uint64(j)] != 0:
                cols[at] = j
                at += 1
    return cols
