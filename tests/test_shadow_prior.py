"""The shadow-aware solver's neighbour prior against slow, obvious versions of it."""

import cv2
import numpy as np
import pytest
from scipy import ndimage

from photostereo import _shadow_kernels, shadow_prior
from photostereo.shadow_prior import block_fields, prior_grid, sample_prior
from photostereo.solver_common import HOW


def random_first_pass(shape: tuple[int, int], seed: int = 0) -> tuple:
    """b, how and suspect bits of a made-up first pass, with every kind of pixel."""
    rng = np.random.default_rng(seed)
    n = shape[0] * shape[1]
    b = rng.normal(size=(3, n))
    how = rng.choice([HOW["unsolved"], HOW["all lights"], HOW["shadows dropped"], HOW["plain"]], n)
    suspect = np.where(rng.random(n) < 0.1, 2, 0).astype(np.uint16)
    return b, how.astype(np.uint8), suspect


@pytest.mark.parametrize("shape", [(7, 9), (16, 16), (33, 20)])
def test_compiled_block_fields_match_the_numpy_means(shape):
    b, how, suspect = random_first_pass(shape)
    b = b.astype(np.float32)
    fit = np.vstack([b, np.zeros((1, b.shape[1]), np.float32)])
    every = 15 | (15 << _shadow_kernels.USABLE_SHIFT)  # every light lit and usable
    codes = np.stack([every | (how.astype(np.int32) << _shadow_kernels.HOW_SHIFT), suspect])
    fields = np.empty(((shape[0] + 1) // 2, (shape[1] + 1) // 2, 4), np.float32)
    needed = np.empty(fields.shape[:2], bool)
    _shadow_kernels.block_fields(fit, codes.astype(np.int32), 4, *shape, fields, needed)
    well = (how == HOW["all lights"]) | (how == HOW["shadows dropped"])
    expected, expected_needed = block_fields(b, well & (suspect == 0), well, shape)
    np.testing.assert_array_equal(fields, expected)  # summed in the same order
    np.testing.assert_array_equal(needed, expected_needed)
    # the block means by hand, at one odd corner: only the pixels inside the frame count
    h, w = shape
    r, c = (h - 1) // 2, (w - 1) // 2
    rows, cols = np.mgrid[2 * r : min(2 * r + 2, h), 2 * c : min(2 * c + 2, w)]
    flat = (rows * w + cols).ravel()
    clean = well[flat] & (suspect[flat] == 0)
    assert fields[r, c, 0] == pytest.approx(clean.sum() / 4)
    np.testing.assert_allclose(fields[r, c, 1:], b[:, flat[clean]].sum(axis=1) / 4, atol=1e-6)


def slow_normalised_convolution(fields: np.ndarray) -> np.ndarray:
    """The finest level by the definition: correlate weight and weight x b with the
    same 9-tap Gaussian (zero outside), divide, NaN where the weight is too small."""
    taps = cv2.getGaussianKernel(9, 1.0).astype(np.float64)
    kernel = taps @ taps.T
    smooth = np.stack(
        [
            ndimage.correlate(fields[..., c].astype(np.float64), kernel, mode="constant")
            for c in range(4)
        ],
        axis=-1,
    )
    reached = smooth[..., 0] > shadow_prior.MIN_WEIGHT
    return np.where(
        reached[..., None],
        smooth[..., 1:] / np.where(reached, smooth[..., 0], 1)[..., None],
        np.nan,
    )


def test_finest_level_is_the_normalised_convolution():
    shape = (40, 52)
    b, how, suspect = random_first_pass(shape, seed=1)
    well = (how == HOW["all lights"]) | (how == HOW["shadows dropped"])
    fields, needed = block_fields(b, well & (suspect == 0), well, shape)
    grid = prior_grid(fields, needed)
    expected = slow_normalised_convolution(fields)
    reached = np.isfinite(expected[..., 0])
    assert reached.mean() > 0.99
    np.testing.assert_allclose(grid[reached], expected[reached], rtol=1e-4, atol=1e-5)


def test_a_constant_field_is_its_own_prior_across_holes_of_any_width():
    """Holes wider than the finest Gaussian are filled from coarser levels, and every
    level of a constant field says the same constant."""
    shape = (96, 128)
    b = np.tile(np.array([[0.1], [-0.2], [0.7]]), shape[0] * shape[1])
    clean = np.ones(shape, bool)
    clean[20:80, 30:100] = False  # 60 x 70 pixels with nothing solved cleanly
    fields, needed = block_fields(b, clean.ravel(), np.ones(b.shape[1], bool), shape)
    grid = prior_grid(fields, needed)
    assert np.isfinite(grid).all()
    np.testing.assert_allclose(grid, np.broadcast_to([0.1, -0.2, 0.7], grid.shape), atol=1e-6)


def test_nothing_to_learn_from_leaves_the_prior_empty():
    shape = (32, 32)
    b = np.ones((3, 32 * 32))
    fields, needed = block_fields(b, np.zeros(32 * 32, bool), np.ones(32 * 32, bool), shape)
    assert np.isnan(prior_grid(fields, needed)).all()
    assert np.isnan(sample_prior(prior_grid(fields, needed), np.arange(32 * 32), 32)).all()


def test_sampling_is_bilinear_and_skips_cells_no_level_reached():
    """On a grid that is linear in the cell coordinates, bilinear interpolation is exact
    at every pixel inside; a pixel next to an unreached cell uses the others."""
    h2, w2 = 6, 8
    rows, cols = np.mgrid[0:h2, 0:w2].astype(np.float32)
    grid = np.stack([rows, cols, rows + 2 * cols], axis=-1)
    width = 2 * w2
    pixels = np.arange(2 * h2 * width)
    prior = sample_prior(grid, pixels, width)
    y = np.clip((pixels // width + 0.5) / 2 - 0.5, 0, h2 - 1)
    x = np.clip((pixels % width + 0.5) / 2 - 0.5, 0, w2 - 1)
    np.testing.assert_allclose(prior, np.stack([y, x, y + 2 * x]), atol=1e-6)
    grid[2, 3] = np.nan
    pixel = 5 * width + 7  # between cells (2, 3), (2, 4), (3, 3) and (3, 4)
    fy, fx = 0.25, 0.25  # row 5 and column 7 lie a quarter past cells 2 and 3
    weights = np.array([(1 - fy) * fx, fy * (1 - fx), fy * fx])
    cells = np.array([grid[2, 4], grid[3, 3], grid[3, 4]])
    expected = weights @ cells / weights.sum()
    np.testing.assert_allclose(
        sample_prior(grid, np.array([pixel]), width)[:, 0], expected, atol=1e-6
    )
