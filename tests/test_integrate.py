"""Known-answer tests for photostereo.integrate.

Surfaces are analytic ``z(x, y)`` in pixel units on the project frame (x right along the
columns, y up against the rows, z toward the camera); their exact normals go in and the
depth must come back. The error measure throughout is the *relative RMSE*: the RMSE inside
the mask between the returned depth and the true depth, both with their mean inside the
mask removed, divided by the true depth's standard deviation inside the mask.
"""

from __future__ import annotations

import numpy as np
import pytest

from photostereo.integrate import (
    DEFAULT_MIN_NZ,
    INTEGRATORS,
    dct_poisson,
    frankot_chellappa,
    integrate_normals,
    masked_least_squares,
    normal_gradients,
    poisson_sparse_direct,
)
from psbase.errors import ConfigError

ALL = {
    "masked": masked_least_squares,
    "dct": dct_poisson,
    "fft": frankot_chellappa,
    "sparse_direct": poisson_sparse_direct,
}
#: The integrators with a free (non-periodic) border, which recover planes exactly.
FREE_BORDER = ("masked", "dct", "sparse_direct")


def _xy(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-unit coordinates centred on the image, y up (against the row index)."""
    r, c = np.mgrid[0:h, 0:w].astype(np.float64)
    return c - (w - 1) / 2, (h - 1) / 2 - r


def _normals(zx: np.ndarray, zy: np.ndarray) -> np.ndarray:
    """Exact unit normals of a surface z(x, y) from its slopes: (-zx, -zy, 1) normalised."""
    n = np.stack([-zx, -zy, np.ones_like(zx)], axis=-1)
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


def _bumps(h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum of Gaussian bumps (positive and negative) well inside the image: (z, normals)."""
    rng = np.random.default_rng(seed)
    x, y = _xy(h, w)
    z, zx, zy = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
    for _ in range(5):
        cx, cy = rng.uniform(-0.25, 0.25) * w, rng.uniform(-0.25, 0.25) * h
        s = rng.uniform(0.06, 0.1) * min(h, w)
        a = rng.uniform(0.3, 1.0) * s * rng.choice([-1.0, 1.0])
        g = a * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s**2))
        z += g
        zx += -g * (x - cx) / s**2
        zy += -g * (y - cy) / s**2
    return z, _normals(zx, zy)


def _face(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A head-like ellipsoid with a nose, on a face-shaped mask: (z, normals, mask).

    The mask is the ellipse at 95% of the ellipsoid's rim with the lower corners cut into
    a jaw, so the slopes at its edge reach about 2.4 (67 degrees). Outside the mask the
    normals are garbage: random directions, some facing away, some NaN.
    """
    x, y = _xy(n, n)
    a, b, c = 0.38 * n, 0.47 * n, 0.3 * n
    rho = (x / a) ** 2 + (y / b) ** 2
    root = np.sqrt(np.clip(1 - rho, 1e-6, None))
    sn = 0.06 * n
    nose = 0.08 * n * np.exp(-(x**2 + (y + 0.05 * n) ** 2) / (2 * sn**2))
    z = c * root + nose
    zx = -c * x / (a**2 * root) - nose * x / sn**2
    zy = -c * y / (b**2 * root) - nose * (y + 0.05 * n) / sn**2
    mask = rho < 0.95**2
    jaw = (y < -0.15 * n) & (np.abs(x) > 0.3 * n + 1.2 * (y + 0.15 * n))
    mask &= ~jaw
    normals = _normals(zx, zy)
    rng = np.random.default_rng(seed)
    garbage = rng.standard_normal(normals.shape)
    garbage /= np.linalg.norm(garbage, axis=-1, keepdims=True)
    garbage[rng.random((n, n)) < 0.1] = np.nan
    normals[~mask] = garbage[~mask]
    z[~mask] = np.nan
    return z, normals, mask


def _relative_rmse(depth: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """RMSE inside ``mask`` after removing each mean there, over the truth's std there."""
    d = depth[mask].astype(np.float64)
    t = truth[mask].astype(np.float64)
    return float(np.sqrt(np.mean(((d - d.mean()) - (t - t.mean())) ** 2)) / t.std())


# ------------------------------------------------------------------------ known surfaces


@pytest.mark.parametrize("name", list(ALL))
def test_bumps_on_full_rectangle_recovered_within_one_percent(name: str) -> None:
    z, normals = _bumps(96, 128, seed=1)
    full = np.ones(z.shape, dtype=bool)
    depth = ALL[name](normals, full)
    err = _relative_rmse(depth, z, full)
    print(f"\n{name}: bumps 96x128 relative RMSE {err:.2e}")
    assert err < 0.01


def test_face_mask_masked_integrator_within_two_percent_fft_far_worse() -> None:
    z, normals, mask = _face(128, seed=2)
    errors = {name: _relative_rmse(ALL[name](normals, mask), z, mask) for name in ALL}
    print("\nface 128x128 relative RMSE: " + ", ".join(f"{k} {v:.2e}" for k, v in errors.items()))
    assert errors["masked"] < 0.02
    assert errors["fft"] > 3 * errors["masked"]
    assert errors["dct"] > 3 * errors["masked"]  # the rectangle's integrators bend the face


def test_face_with_bad_normals_inside_mask_stays_finite_and_accurate() -> None:
    z, normals, mask = _face(128, seed=3)
    rng = np.random.default_rng(3)
    inside = np.flatnonzero(mask)
    bad = rng.choice(inside, size=inside.size // 50, replace=False)
    flat = normals.reshape(-1, 3)
    flat[bad[0::3]] = np.nan
    flat[bad[1::3]] = (0.3, 0.0, -0.95)  # faces away from the camera
    flat[bad[2::3]] = 0.0
    for name, integrator in ALL.items():
        depth = integrator(normals, mask)
        assert np.isfinite(depth[mask]).all(), name
    err = _relative_rmse(masked_least_squares(normals, mask), z, mask)
    print(f"\nface with 2% bad normals inside, masked relative RMSE {err:.2e}")
    assert err < 0.005  # bad pixels dropped; treating their slope as 0 gives about 0.02


@pytest.mark.parametrize("name", FREE_BORDER)
def test_tilted_plane_integrates_back_to_the_plane(name: str) -> None:
    x, y = _xy(40, 56)
    z = 0.7 * x - 0.4 * y
    normals = _normals(np.full_like(x, 0.7), np.full_like(x, -0.4))
    full = np.ones(z.shape, dtype=bool)
    depth = ALL[name](normals, full)
    np.testing.assert_allclose(depth, z - z.mean(), atol=1e-4 * np.ptp(z))


def test_tilted_plane_on_face_mask_integrates_back_to_the_plane() -> None:
    _, normals, mask = _face(64, seed=4)
    x, y = _xy(64, 64)
    z = -1.1 * x + 0.5 * y
    normals[mask] = _normals(np.full_like(x, -1.1), np.full_like(x, 0.5))[mask]
    depth = masked_least_squares(normals, mask)
    np.testing.assert_allclose(depth[mask], (z - z[mask].mean())[mask], atol=1e-4 * np.ptp(z))


@pytest.mark.parametrize("name", list(ALL))
def test_constant_frontal_normal_gives_flat_zero_depth(name: str) -> None:
    normals = np.zeros((30, 41, 3))
    normals[..., 2] = 1.0
    depth = ALL[name](normals, np.ones((30, 41), dtype=bool))
    np.testing.assert_array_equal(np.isfinite(depth), True)
    assert np.abs(depth).max() < 1e-6


# ---------------------------------------------------------------------- sign conventions


@pytest.mark.parametrize("name", list(ALL))
def test_bump_comes_back_as_a_bump_not_a_pit(name: str) -> None:
    x, y = _xy(64, 64)
    s = 8.0
    g = 10.0 * np.exp(-(x**2 + y**2) / (2 * s**2))
    normals = _normals(-g * x / s**2, -g * y / s**2)
    depth = ALL[name](normals, None)
    assert depth[32, 32] - depth[0, 0] > 9.0  # about 10: the bump's height


@pytest.mark.parametrize("name", list(ALL))
def test_bump_in_upper_rows_gives_larger_depth_in_upper_rows(name: str) -> None:
    x, y = _xy(64, 64)
    s, cy = 6.0, 16.0  # y up: the bump sits at row ~15.5
    g = 5.0 * np.exp(-(x**2 + (y - cy) ** 2) / (2 * s**2))
    normals = _normals(-g * x / s**2, -g * (y - cy) / s**2)
    depth = ALL[name](normals, None)
    assert depth[:32].mean() - depth[32:].mean() > 0.5
    assert np.argmax(depth[:, 32]) in range(12, 20)


@pytest.mark.parametrize("name", FREE_BORDER)
@pytest.mark.parametrize(("zx", "zy"), [(0.0, 0.5), (0.5, 0.0)])
def test_surface_rising_up_or_right_is_nearer_up_or_right(name: str, zx: float, zy: float) -> None:
    x, _ = _xy(20, 24)
    normals = _normals(np.full_like(x, zx), np.full_like(x, zy))
    depth = ALL[name](normals, None)
    if zy:  # rises toward the top of the image: smaller row index, larger depth
        assert (np.diff(depth, axis=0) < -0.49).all()
    else:  # rises toward the right: larger column index, larger depth
        assert (np.diff(depth, axis=1) > 0.49).all()


# ---------------------------------------------------------------- fast against reference


def test_dct_poisson_matches_sparse_direct_reference() -> None:
    z, normals = _bumps(48, 64, seed=5)
    x, _ = _xy(48, 64)
    tilt = _normals(np.full_like(x, 0.3), np.full_like(x, 0.2))
    normals = normals + tilt  # an arbitrary, non-integrable field
    normals[5, 7] = np.nan
    mask = np.ones(z.shape, dtype=bool)
    mask[:10, :12] = False
    fast = dct_poisson(normals, mask)
    slow = poisson_sparse_direct(normals, mask)
    scale = np.nanstd(slow)
    assert np.nanmax(np.abs(fast - slow)) < 1e-4 * scale


def test_masked_on_full_mask_equals_dct_poisson() -> None:
    _, normals = _bumps(40, 50, seed=6)
    normals[3, 3] = (0.0, 0.0, -1.0)
    fast = dct_poisson(normals, None)
    masked = masked_least_squares(normals, None)
    assert np.abs(fast - masked).max() < 1e-4 * fast.std()


def _ragged_mask(n: int, seed: int) -> np.ndarray:
    """Several irregular blobs with holes: thresholded smoothed noise."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n, n))
    kernel = np.exp(-0.5 * (np.arange(-12, 13) / 4.0) ** 2)
    for axis in (0, 1):
        noise = np.apply_along_axis(np.convolve, axis, noise, kernel, mode="same")
    return noise > 0.5 * noise.std()


@pytest.mark.parametrize("shape", ["face", "ragged"])
def test_masked_pcg_matches_direct_reference(shape: str) -> None:
    _, normals, mask = _face(96, seed=9)
    if shape == "ragged":
        mask = _ragged_mask(96, seed=9)
        normals[~np.isfinite(normals)] = 0.0  # garbage now inside the mask: not integrable
    assert mask.any() and not mask.all()
    fast = masked_least_squares(normals, mask, solver="pcg")
    slow = masked_least_squares(normals, mask, solver="direct")
    assert np.nanmax(np.abs(fast - slow)) < 1e-4 * np.nanstd(slow)


def test_masked_pcg_falls_back_to_direct_when_not_converged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import photostereo.integrate as integrate

    _, normals, mask = _face(64, seed=10)
    slow = masked_least_squares(normals, mask, solver="direct")
    monkeypatch.setattr(integrate, "PCG_MAXITER", 1)
    fast = masked_least_squares(normals, mask, solver="pcg")
    assert np.nanmax(np.abs(fast - slow)) < 1e-5 * np.nanstd(slow)


def test_unknown_masked_solver_lists_the_known_ones() -> None:
    normals = np.dstack([np.zeros((4, 4)), np.zeros((4, 4)), np.ones((4, 4))])
    with pytest.raises(ConfigError, match=r"unknown solver 'amg'.*'pcg'.*'direct'"):
        masked_least_squares(normals, None, solver="amg")


def test_each_connected_component_gets_zero_mean() -> None:
    x, y = _xy(40, 80)
    z = 0.2 * x + 0.1 * y
    normals = _normals(np.full_like(x, 0.2), np.full_like(x, 0.1))
    mask = ((x + 20) ** 2 + y**2 < 15**2) | ((x - 22) ** 2 + (y - 5) ** 2 < 9**2)
    depth = masked_least_squares(normals, mask)
    for half in (x < 0, x > 0):
        part = mask & half
        assert abs(depth[part].mean()) < 1e-5
        np.testing.assert_allclose(depth[part], z[part] - z[part].mean(), atol=1e-4)


# ------------------------------------------------------------------- slopes and clamping


def test_gradients_follow_the_project_frame() -> None:
    n = np.array([[[0.6, 0.0, 0.8], [0.0, 0.6, 0.8]]])
    gx, gr, valid = normal_gradients(n)
    np.testing.assert_allclose(gx, [[-0.75, 0.0]])  # dz/dx = -nx/nz
    np.testing.assert_allclose(gr, [[0.0, 0.75]])  # dz/drow = +ny/nz (y up)
    assert valid.all()


def test_grazing_normals_are_clamped_and_invalid_ones_flagged() -> None:
    n = np.array([[[np.sqrt(1 - 1e-4), 0.0, 0.01], [np.nan, 0, 1], [0, 0, 0], [0.1, 0, -1]]])
    gx, gr, valid = normal_gradients(n)
    assert gx[0, 0] == pytest.approx(-np.sqrt(1 - 1e-4) / DEFAULT_MIN_NZ)
    np.testing.assert_array_equal(valid, [[True, False, False, False]])
    np.testing.assert_array_equal(gx[0, 1:], 0.0)
    np.testing.assert_array_equal(gr, 0.0)
    gx_loose, _, _ = normal_gradients(n, min_nz=0.05)
    assert gx_loose[0, 0] == pytest.approx(2 * gx[0, 0])
    with pytest.raises(ConfigError, match="min_nz must be in"):
        normal_gradients(n, min_nz=0.0)


@pytest.mark.parametrize("name", list(ALL))
def test_min_nz_reaches_every_integrator(name: str) -> None:
    """Integrating with ``min_nz`` is integrating the normals whose slopes are the clamped
    ones (steep enough then to need no clamp at the default), and differs from the
    default: the clamp is passed on, not dropped."""
    _, normals = _bumps(40, 48, seed=8)
    normals[..., :2] *= 6.0  # steep: nz down to about 0.25
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    assert normals[..., 2].min() < 0.3  # measured 0.26
    gx, gr, _ = normal_gradients(normals, min_nz=0.5)
    clamped = _normals(gx, -gr)  # dz/dx = gx, dz/dy = -gr (rows grow downward)
    integrate = ALL[name]
    expected = integrate(clamped, None)
    result = integrate(normals, None, min_nz=0.5)
    np.testing.assert_allclose(result, expected, atol=1e-5 * np.nanstd(expected))
    assert np.nanmax(np.abs(integrate(normals, None) - expected)) > 0.1 * np.nanstd(expected)


@pytest.mark.parametrize("name", list(ALL))
def test_what_lies_outside_the_mask_plays_no_part(name: str) -> None:
    z, normals, mask = _face(40, seed=9)
    frontal = normals.copy()
    frontal[~mask] = (0.0, 0.0, 1.0)
    np.testing.assert_allclose(
        ALL[name](normals, mask), ALL[name](frontal, mask), atol=1e-6 * np.nanstd(z)
    )


def test_fft_counts_the_outside_of_the_mask_as_flat() -> None:
    """Frankot-Chellappa integrates the whole periodic grid with zero slope outside the
    mask: the masked result is the unmasked one of the normals made frontal out there
    (up to the integration constant)."""
    z, normals, mask = _face(40, seed=9)
    frontal = normals.copy()
    frontal[~mask] = (0.0, 0.0, 1.0)
    reference = frankot_chellappa(frontal)
    reference = reference - reference[mask].mean()
    masked = frankot_chellappa(normals, mask)
    np.testing.assert_allclose(masked[mask], reference[mask], atol=1e-5 * np.nanstd(z))


def test_dct_poisson_matches_the_reference_on_a_rough_field_with_holes() -> None:
    """A rough, non-integrable field with invalid normals scattered through every row:
    the full-grid right-hand side must weigh each edge by the validity of both its ends,
    as the sparse reference does."""
    rng = np.random.default_rng(11)
    normals = rng.normal(0.0, 0.4, (36, 44, 3)) + np.array([0.0, 0.0, 1.0])
    normals[rng.random((36, 44)) < 0.08] = np.nan
    fast = dct_poisson(normals)
    slow = poisson_sparse_direct(normals)
    np.testing.assert_allclose(fast, slow, atol=1e-6 * np.nanstd(slow))


# ------------------------------------------------------------------------ outputs and API


@pytest.mark.parametrize("method", INTEGRATORS)
def test_dispatch_returns_float32_with_nan_outside_mask(method: str) -> None:
    z, normals, mask = _face(48, seed=7)
    depth = integrate_normals(normals, mask, method=method)
    assert depth.dtype == np.float32
    assert depth.shape == mask.shape
    assert np.isnan(depth[~mask]).all()
    assert np.isfinite(depth[mask]).all()
    assert abs(float(depth[mask].mean())) < 1e-4 * float(np.nanstd(z))


def test_dispatch_runs_the_named_integrator_and_defaults_to_masked() -> None:
    _, normals, mask = _face(48, seed=8)
    assert INTEGRATORS[0] == "masked"
    np.testing.assert_array_equal(
        integrate_normals(normals, mask), masked_least_squares(normals, mask)
    )
    np.testing.assert_array_equal(
        integrate_normals(normals, mask, method="fft"), frankot_chellappa(normals, mask)
    )


def test_unknown_method_lists_the_known_ones() -> None:
    normals = np.dstack([np.zeros((4, 4)), np.zeros((4, 4)), np.ones((4, 4))])
    with pytest.raises(ConfigError, match=r"unknown integration method 'poisson'.*'masked'"):
        integrate_normals(normals, None, method="poisson")


def test_bad_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"normals must be an \(H, W, 3\) array"):
        dct_poisson(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="does not match"):
        masked_least_squares(np.zeros((4, 4, 3)), np.ones((4, 5), dtype=bool))


def test_empty_mask_gives_all_nan() -> None:
    normals = np.dstack([np.zeros((5, 6)), np.zeros((5, 6)), np.ones((5, 6))])
    for integrator in ALL.values():
        assert np.isnan(integrator(normals, np.zeros((5, 6), dtype=bool))).all()
