"""The neighbour prior of the shadow-aware solver: what the pixels around one say b is.

Normalised convolution (Knutsson and Westin 1993): the Gaussian-weighted mean of the
b solved cleanly around a pixel is the blur of (weight x b) over the blur of the weight,
weight 1 where a pixel was solved from trusted lights and 0 elsewhere. It runs on a
pyramid of 2 x 2 block means, from half resolution down, with a Gaussian one cell wide
at each level, so level L spans 2^(L+1) pixels (:data:`PRIOR_SIGMAS`): a pixel takes
the finest level that reaches it, and wide holes cost no more than narrow ones. The
finest level is read with bilinear interpolation, cells no level reaches left out.

References
----------
H. Knutsson and C.-F. Westin, "Normalized and differential convolution", CVPR 1993.
doi:10.1109/CVPR.1993.341081
"""

from __future__ import annotations

import cv2
import numba
import numpy as np

#: Widths (pixels) of the prior's Gaussian at each level of the pyramid, finest first.
PRIOR_SIGMAS = (2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
#: A level reaches a cell where its blurred weight exceeds this.
MIN_WEIGHT = 1e-3


def block_fields(
    b: np.ndarray, clean: np.ndarray, needed: np.ndarray, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """(ceil(H/2), ceil(W/2), 4) float32 means over 2 x 2 blocks (zero beyond the edges)
    of the weight ``clean`` and of weight x b (float32), and where a block holds a
    ``needed`` pixel. The compiled :func:`photostereo._shadow_kernels.block_fields` computes the
    same in one pass."""
    h, w = shape
    h2, w2 = (h + 1) // 2, (w + 1) // 2
    fields = np.zeros((4, 2 * h2, 2 * w2), np.float32)
    weight = clean.reshape(h, w).astype(np.float32)
    fields[0, :h, :w] = weight
    fields[1:, :h, :w] = b.reshape(3, h, w).astype(np.float32) * weight
    padded = np.zeros((2 * h2, 2 * w2), bool)
    padded[:h, :w] = needed.reshape(h, w)
    # summed in the compiled pass's order, so that the two agree bit for bit
    sums = fields[:, 0::2, 0::2] + fields[:, 0::2, 1::2]
    means = (sums + fields[:, 1::2, 0::2] + fields[:, 1::2, 1::2]) * np.float32(0.25)
    blocks = np.asarray(padded.reshape(h2, 2, w2, 2).any(axis=(1, 3)))
    return np.ascontiguousarray(np.moveaxis(means, 0, -1)), blocks


def prior_grid(fields: np.ndarray, needed: np.ndarray) -> np.ndarray:
    """(h, w, 3) float32 prior b per cell of the half-resolution ``fields``
    (:func:`block_fields`); NaN where no level reaches. Coarser levels are built only
    while a ``needed`` cell is unreached, and fill the finer ones' holes."""
    levels = []
    while True:
        smooth = gaussian_blur(fields)
        grid = np.empty((*smooth.shape[:2], 3), np.float32)
        unreached = _normalise(smooth, needed, np.float32(MIN_WEIGHT), grid)
        levels.append(grid)
        if len(levels) == len(PRIOR_SIGMAS) or not unreached:
            break
        fields = _block_means(fields)
        needed = _block_means(needed.astype(np.float32)) > 0
    grid = levels.pop()
    while levels:
        finer = levels.pop()
        _fill_holes(finer, grid)
        grid = finer
    return grid


#: The 9-tap Gaussian of one cell (OpenCV's for sigma 1), float32.
GAUSSIAN_TAPS = tuple(np.float32(t) for t in cv2.getGaussianKernel(9, 1.0).ravel())


def gaussian_blur(fields: np.ndarray) -> np.ndarray:
    """(h, w, c) float32 ``fields`` correlated with :data:`GAUSSIAN_TAPS` along each
    axis, zero outside (what ``cv2.GaussianBlur`` with a constant border computes, in
    loops that vectorise: a row is one run of w x c values, and a tap is a shift by c)."""
    h, w, c = fields.shape
    across = np.empty((h, w * c), np.float32)
    _blur_rows(np.ascontiguousarray(fields).reshape(h, w * c), c, GAUSSIAN_TAPS, across)
    smooth = np.empty((h, w * c), np.float32)
    _blur_columns(across, GAUSSIAN_TAPS, smooth)
    return smooth.reshape(h, w, c)


@numba.njit(parallel=True, cache=True, nogil=True)
def _blur_rows(rows, step, taps, out):
    """Each row correlated with ``taps`` at shifts of ``step`` values, zero outside."""
    radius = len(taps) // 2
    n = rows.shape[1]
    for r in numba.prange(rows.shape[0]):
        padded = np.zeros(n + 2 * radius * step, np.float32)
        padded[radius * step : radius * step + n] = rows[r]
        _correlate(padded, step, taps, out[r])


@numba.njit(cache=True, nogil=True)
def _correlate(padded, step, taps, out):
    """out[i] = sum_t taps[t] padded[i + t step] (unsigned indices: no wraparound
    checks, so the loop vectorises)."""
    for i in range(np.uint64(out.shape[0])):
        total = np.float32(0.0)
        for t in range(len(taps)):
            total += taps[t] * padded[i + np.uint64(t * step)]
        out[i] = total


@numba.njit(parallel=True, cache=True, nogil=True)
def _blur_columns(rows, taps, out):
    """Each column correlated with ``taps``, zero outside: rows whose taps all fall
    inside in one fused loop, the edge rows a tap at a time."""
    radius = len(taps) // 2
    h = rows.shape[0]
    for r in numba.prange(h):
        if radius <= r < h - radius:
            _correlate_block(rows[r - radius : r + radius + 1], taps, out[r])
            continue
        target = out[r]
        target[:] = 0.0
        for t in range(len(taps)):
            source = r + t - radius
            if 0 <= source < h:
                _add_scaled(target, taps[t], rows[source])


@numba.njit(cache=True, nogil=True)
def _correlate_block(block, taps, out):
    """out[i] = sum_t taps[t] block[t, i]."""
    for i in range(np.uint64(out.shape[0])):
        total = np.float32(0.0)
        for t in range(len(taps)):
            total += taps[t] * block[np.uint64(t), i]
        out[i] = total


@numba.njit(cache=True, nogil=True)
def _add_scaled(target, scale, values):
    for i in range(np.uint64(target.shape[0])):
        target[i] += scale * values[i]


@numba.njit(parallel=True, cache=True, nogil=True)
def _normalise(smooth, needed, min_weight, grid):
    """grid = smoothed weight x b over smoothed weight where that exceeds ``min_weight``,
    NaN elsewhere; whether a ``needed`` cell is left NaN."""
    unreached = 0
    for row in numba.prange(smooth.shape[0]):
        for col in range(smooth.shape[1]):
            weight = smooth[row, col, 0]
            if weight > min_weight:
                for c in range(3):
                    grid[row, col, c] = smooth[row, col, c + 1] / weight
            else:
                grid[row, col, :] = np.nan
                unreached += needed[row, col]
    return unreached > 0


@numba.njit(parallel=True, cache=True, nogil=True)
def _fill_holes(finer, coarse):
    """Cells of ``finer`` no level reached take the ``coarse`` cell they lie in."""
    for row in numba.prange(finer.shape[0]):
        for col in range(finer.shape[1]):
            if np.isnan(finer[row, col, 0]):
                finer[row, col, :] = coarse[row // 2, col // 2, :]


def sample_prior(grid: np.ndarray, cols: np.ndarray, width: int) -> np.ndarray:
    """(3, n) float32 prior at full-resolution pixels ``cols`` (flat indices into rows of
    ``width``): bilinear interpolation of the half-resolution ``grid`` over the
    neighbouring cells it reaches (NaN where it reaches none), rows first, in float32
    as the compiled second pass interpolates."""
    h2, w2 = grid.shape[:2]
    rows, columns = np.divmod(np.asarray(cols), width)
    y0, fy = _axis(rows, h2)
    x0, fx = _axis(columns, w2)
    y1, x1 = np.minimum(y0 + 1, h2 - 1), np.minimum(x0 + 1, w2 - 1)
    zero, one = np.float32(0), np.float32(1)
    total = np.zeros((4, len(rows)), np.float32)
    for xx, across in ((x0, one - fx), (x1, fx)):
        column = np.zeros((4, len(rows)), np.float32)
        for yy, down in ((y0, one - fy), (y1, fy)):
            value = grid[yy, xx].T.astype(np.float32)
            ok = np.isfinite(value[0])
            column[:3] += np.where(ok, down * value, zero)
            column[3] += np.where(ok, down, zero)
        total += across * column
    reached = total[3] > 0
    return np.where(reached, total[:3] * (one / np.where(reached, total[3], one)), np.nan)


def _axis(index: np.ndarray, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """The cell at or before pixel ``index``'s centre on a half-resolution axis of
    ``cells`` cells, clamped to it, and the fraction (float32, exact) of the way to the
    next one."""
    position = np.clip((index + 0.5) * 0.5 - 0.5, 0.0, cells - 1.0)
    first = np.floor(position)
    return first.astype(np.int64), (position - first).astype(np.float32)


def _block_means(fields: np.ndarray) -> np.ndarray:
    """(ceil(H / 2), ceil(W / 2), ...) means over 2 x 2 blocks (zero-padded at the edges)."""
    h, w = fields.shape[:2]
    if h % 2 or w % 2:
        fields = cv2.copyMakeBorder(fields, 0, h % 2, 0, w % 2, cv2.BORDER_CONSTANT, value=0)
    return cv2.resize(
        fields, (fields.shape[1] // 2, fields.shape[0] // 2), interpolation=cv2.INTER_AREA
    )
