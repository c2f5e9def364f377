"""Details of photostereo.integrate that the known-answer tests leave open.

Argument checking and its messages, the exact rules that make a normal valid, the
difference matrix on masks with lone pixels, the PCG solver's contract (it converges on a
face without the direct fallback, falls back exactly when it gives up, and only looks at
the mask's bounding box), and that nothing warns on ordinary input. Surfaces, normals and
masks come from tests/test_integrate.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import photostereo.integrate as integrate
from photostereo.integrate import (
    INTEGRATORS,
    build_difference_matrix,
    frankot_chellappa,
    integrate_normals,
    masked_least_squares,
    normal_gradients,
)
from psbase.errors import ConfigError
from tests.test_integrate import _bumps, _face, _normals, _xy

# ------------------------------------------------------------------------ argument checks


def test_mask_shape_error_names_the_mask_and_the_normals_image_shapes() -> None:
    """The message compares like with like: the mask's (H, W) against the normals' (H, W),
    not their (H, W, 3)."""
    with pytest.raises(
        ValueError, match=r"mask shape \(4, 5\) does not match the normals' \(4, 4\)$"
    ):
        masked_least_squares(np.zeros((4, 4, 3)), np.ones((4, 5), dtype=bool))


def test_unknown_solver_message_lists_the_known_ones_comma_separated() -> None:
    normals = np.dstack([np.zeros((4, 4)), np.zeros((4, 4)), np.ones((4, 4))])
    with pytest.raises(ConfigError, match=r"unknown solver 'amg'; known: 'pcg', 'direct'$"):
        masked_least_squares(normals, None, solver="amg")


def test_unknown_method_message_lists_the_known_ones_comma_separated() -> None:
    normals = np.dstack([np.zeros((4, 4)), np.zeros((4, 4)), np.ones((4, 4))])
    with pytest.raises(
        ConfigError, match=r"unknown integration method 'poisson'; known: 'masked', 'dct', 'fft'$"
    ):
        integrate_normals(normals, None, method="poisson")


def test_min_nz_of_one_is_allowed_and_clamps_every_slope_to_the_tangent_part() -> None:
    """``min_nz`` = 1 is the top of the documented range (0, 1]: every unit nz is clamped
    to 1, so the slopes are just ``(-nx, +ny)``."""
    n = np.array([[[0.6, 0.0, 0.8], [0.0, -0.28, 0.96]]])
    gx, gr, valid = normal_gradients(n, min_nz=1.0)
    np.testing.assert_allclose(gx, [[-0.6, 0.0]], atol=1e-15)
    np.testing.assert_allclose(gr, [[0.0, -0.28]], atol=1e-15)
    assert valid.all()


@pytest.mark.parametrize("min_nz", [np.nextafter(1.0, 2.0), 1.5, 0.0, -0.1])
def test_min_nz_outside_zero_one_is_rejected(min_nz: float) -> None:
    n = np.array([[[0.0, 0.0, 1.0]]])
    with pytest.raises(ConfigError, match=r"min_nz must be in \(0, 1\]"):
        normal_gradients(n, min_nz=min_nz)


def test_integrate_normals_passes_min_nz_on() -> None:
    """The dispatcher hands ``min_nz`` to the integrator: same result as calling it
    directly with that clamp, and a different one from the default clamp."""
    _, normals = _bumps(32, 36, seed=8)
    normals[..., :2] *= 6.0  # steep: nz down to about 0.25, so a clamp at 0.5 bites
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    for method in INTEGRATORS:
        direct = integrate._BY_NAME[method](normals, None, min_nz=0.5)
        dispatched = integrate_normals(normals, None, method=method, min_nz=0.5)
        np.testing.assert_array_equal(dispatched, direct, err_msg=method)
        default = integrate_normals(normals, None, method=method)
        assert np.abs(default - direct).max() > 0.1 * direct.std(), method


# ------------------------------------------------------------------------ valid normals


def test_gradients_are_float64_even_from_float32_normals() -> None:
    n = np.array([[[0.6, 0.0, 0.8], [0.0, 0.6, 0.8]]], dtype=np.float32)
    gx, gr, _ = normal_gradients(n)
    assert gx.dtype == np.float64 and gr.dtype == np.float64
    # computed in float64 from the float32 inputs: -0.6f / 0.8f to double precision
    expected = -np.float64(np.float32(0.6)) / np.float64(np.float32(0.8))
    assert gx[0, 0] == pytest.approx(expected, rel=1e-12)  # float32 arithmetic: ~1e-8 off


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_gradients_do_not_depend_on_the_normals_length(scale: float) -> None:
    """The normals are normalised before the clamp: a short or long normal gives the
    slopes of its direction, clamped at the unit normal's nz (hand computation)."""
    steep = np.array([0.6, 0.0, 0.8])  # slope 0.75, no clamp
    grazing = np.array([0.0, np.sqrt(1 - 0.05**2), 0.05])  # nz 0.05, clamped to 0.1
    n = scale * np.array([[steep, grazing]])
    gx, gr, valid = normal_gradients(n)
    np.testing.assert_allclose(gx, [[-0.75, 0.0]], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gr, [[0.0, np.sqrt(1 - 0.05**2) / 0.1]], rtol=1e-12, atol=1e-15)
    assert valid.all()


def test_normals_of_length_up_to_1e12_count_as_zero() -> None:
    """A normal no longer than 1e-12 is "zero" (invalid, slope 0), even if it points at
    the camera; just above that it is a valid direction."""
    n = np.array([[[1e-13, 0.0, 1e-13], [0.0, 0.0, 1e-12], [0.0, 1e-12, 1e-12]]])
    assert np.linalg.norm(n[0, 1]) == 1e-12  # exactly on the threshold
    gx, gr, valid = normal_gradients(n)
    np.testing.assert_array_equal(valid, [[False, False, True]])
    np.testing.assert_array_equal(gx[0, :2], 0.0)
    assert gr[0, 2] == pytest.approx(1.0)  # 45 degrees: ny / nz = 1


def test_normals_in_the_image_plane_are_invalid() -> None:
    """``nz = 0`` (a normal at right angles to the viewing direction) is invalid, like
    ``nz < 0``: its slope is not clamped to ``1 / min_nz`` but dropped."""
    n = np.array([[[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.6, 0.0, 0.8]]])
    gx, gr, valid = normal_gradients(n)
    np.testing.assert_array_equal(valid, [[False, False, True]])
    np.testing.assert_array_equal(gx[0, :2], 0.0)
    np.testing.assert_array_equal(gr[0, :2], 0.0)


# ---------------------------------------------------------------- the difference matrix


def test_difference_matrix_from_an_integer_mask() -> None:
    """A 0/1 integer mask is a mask: hand-computed ``D`` for::

        1 1
        0 1

    pixels 0, 1, 3; edges 0->1 (horizontal) and 1->3 (vertical)."""
    d, pixels = build_difference_matrix(np.array([[1, 1], [0, 1]]))
    np.testing.assert_array_equal(pixels, [0, 1, 3])
    np.testing.assert_array_equal(d.toarray(), [[-1.0, 1.0, 0.0], [0.0, -1.0, 1.0]])


def test_difference_matrix_keeps_a_column_for_a_lone_last_pixel() -> None:
    """A masked pixel with no neighbour in the mask still has its column (all zero), even
    when it is the last one; a mask of lone pixels gives a (0, N) matrix."""
    mask = np.array([[True, True, False], [False, False, True]])
    d, pixels = build_difference_matrix(mask)
    np.testing.assert_array_equal(pixels, [0, 1, 5])
    assert d.shape == (1, 3)
    np.testing.assert_array_equal(d.toarray(), [[-1.0, 1.0, 0.0]])
    lone = np.array([[True, False], [False, True]])
    d, pixels = build_difference_matrix(lone)
    assert d.shape == (0, 2)


@pytest.mark.parametrize("solver", integrate.MASKED_SOLVERS)
def test_lone_pixels_get_depth_zero_and_the_rest_its_own_plane(solver: str) -> None:
    """Each 4-connected component is its own integration problem with zero mean: a
    one-pixel component (here the last pixel of the bounding box, and one in the middle)
    has depth 0, the blob the plane minus its mean."""
    x, y = _xy(24, 30)
    z = 0.4 * x - 0.3 * y
    normals = _normals(np.full_like(x, 0.4), np.full_like(x, -0.3))
    mask = np.zeros(z.shape, dtype=bool)
    mask[3:12, 4:20] = True
    mask[15, 10] = True
    mask[20, 25] = True  # last row and column of the mask's bounding box
    depth = masked_least_squares(normals, mask, solver=solver)
    assert abs(depth[15, 10]) < 1e-6 and abs(depth[20, 25]) < 1e-6
    blob = np.zeros_like(mask)
    blob[3:12, 4:20] = True
    np.testing.assert_allclose(depth[blob], (z - z[blob].mean())[blob], atol=1e-4)
    assert np.isnan(depth[~mask]).all()


# -------------------------------------------------------------------- the PCG solver


def _count_direct_solves(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Replace the direct solver by a wrapper counting its calls; returns the counter."""
    calls = [0]
    real = integrate._solve_direct

    def counting(*args: object) -> np.ndarray:
        calls[0] += 1
        return real(*args)

    monkeypatch.setattr(integrate, "_solve_direct", counting)
    return calls


def test_pcg_converges_on_a_face_without_the_direct_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The DCT-preconditioned CG reaches its tolerance on a face well within
    ``PCG_MAXITER`` (unpreconditioned CG needs about 140 iterations here), so ``"pcg"``
    never calls the direct solver, and ``"direct"`` always does; both agree."""
    _, normals, mask = _face(64, seed=10)
    calls = _count_direct_solves(monkeypatch)
    fast = masked_least_squares(normals, mask, solver="pcg")
    assert calls[0] == 0
    slow = masked_least_squares(normals, mask, solver="direct")
    assert calls[0] == 1
    np.testing.assert_allclose(fast, slow, atol=1e-5 * np.nanstd(slow))


def test_pcg_that_gives_up_returns_exactly_the_direct_solution(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When CG has not converged after ``PCG_MAXITER`` iterations its iterate is thrown
    away: the result is the direct solver's, bit for bit."""
    _, normals, mask = _face(64, seed=10)
    slow = masked_least_squares(normals, mask, solver="direct")
    monkeypatch.setattr(integrate, "PCG_MAXITER", 2)
    calls = _count_direct_solves(monkeypatch)
    fast = masked_least_squares(normals, mask, solver="pcg")
    assert calls[0] == 1
    np.testing.assert_array_equal(fast, slow)


def test_masked_result_does_not_depend_on_the_background_around_the_mask() -> None:
    """Only the mask's bounding box is integrated: the image cropped to that box and the
    same box embedded in a larger image (arbitrary normals around, margins on every side)
    give the same depths bit for bit."""
    _, normals, mask = _face(48, seed=12)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    tight = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    normals, mask = normals[tight], mask[tight]
    h, w = mask.shape
    rng = np.random.default_rng(12)
    big = rng.standard_normal((h + 20, w + 25, 3))
    big_mask = np.zeros(big.shape[:2], dtype=bool)
    inner = (slice(9, 9 + h), slice(13, 13 + w))
    big[inner] = normals
    big_mask[inner] = mask
    cropped = masked_least_squares(normals, mask)
    embedded = masked_least_squares(big, big_mask)
    np.testing.assert_array_equal(embedded[inner], cropped)
    assert np.isnan(embedded[~big_mask]).all()


# -------------------------------------------------------------------------- no warnings


@pytest.mark.parametrize("method", INTEGRATORS)
def test_integrating_a_mask_with_several_components_warns_nothing(method: str) -> None:
    """Ordinary input (two blobs, a few invalid normals inside) raises no RuntimeWarning
    such as a division by zero or NaN in some bookkeeping array."""
    x, y = _xy(40, 60)
    normals = _normals(np.full_like(x, 0.2), np.full_like(x, 0.1))
    normals[5, 5] = np.nan
    mask = ((x + 15) ** 2 + y**2 < 10**2) | ((x - 17) ** 2 + (y - 3) ** 2 < 7**2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        depth = integrate_normals(normals, mask, method=method)
    assert np.isfinite(depth[mask]).all()


def test_frankot_chellappa_on_the_full_image_warns_nothing() -> None:
    _, normals = _bumps(32, 40, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        depth = frankot_chellappa(normals)
    assert np.isfinite(depth).all()
