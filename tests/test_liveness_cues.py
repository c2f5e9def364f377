"""Liveness cues against surfaces whose answer is known: planes, cylinders, spheres."""

from __future__ import annotations

import numpy as np
import pytest

from photostereo.liveness import physical_score, relief
from photostereo.liveness_cues import CUES, cue_vector, face_region

SIZE = 112


def pixel_grid(size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres, x right and y up, origin at the crop's centre."""
    centres = np.arange(size) + 0.5 - size / 2
    return np.meshgrid(centres, -centres)


def sphere(radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Unit normals (S, S, 3) and depth of a sphere of ``radius`` pixels at the centre."""
    x, y = pixel_grid()
    z = np.sqrt(np.maximum(radius**2 - x**2 - y**2, 1e-9))
    return np.dstack([x, y, z]) / radius, z


def cylinder(radius: float) -> tuple[np.ndarray, np.ndarray]:
    """A sheet bent around a vertical axis ``radius`` pixels behind it."""
    x, _ = pixel_grid()
    z = np.sqrt(radius**2 - x**2)
    return np.dstack([x, np.zeros_like(x), z]) / radius, z


def plane(normal) -> tuple[np.ndarray, np.ndarray]:
    n = np.asarray(normal, np.float64) / np.linalg.norm(normal)
    x, y = pixel_grid()
    return np.broadcast_to(n, (SIZE, SIZE, 3)).copy(), -(n[0] * x + n[1] * y) / n[2]


def cues_of(normals, depth, albedo=None, images=None) -> dict[str, float]:
    albedo = np.full((SIZE, SIZE), 0.5) if albedo is None else albedo
    if images is None:
        lights = np.array([[0.3, 0.2, 0.93], [-0.3, 0.2, 0.93], [0.0, -0.35, 0.94]])
        images = albedo * np.clip(np.einsum("kc,hwc->khw", lights, normals), 0, None)
    values = cue_vector(
        images.astype(np.float32),
        np.ones(len(images)),
        normals.astype(np.float32),
        albedo.astype(np.float32),
        depth.astype(np.float32),
        np.ones((SIZE, SIZE), bool),
        np.zeros((SIZE, SIZE), np.float32),
    )
    return dict(zip(CUES, values, strict=True))


def test_a_sphere_curves_through_its_area_over_radius_squared():
    """Gauss map of a sphere: n = (x, y, z) / R, so det d(n_x, n_y)/d(x, y) = 1 / R^2 and
    the total curvature over the region is its pixel count over R^2."""
    radius = 40.0  # a head-sized ball: the region reaches 40 degrees off the axis
    cues = cues_of(*sphere(radius))
    expected = np.count_nonzero(face_region(SIZE)) / radius**2
    assert cues["curvature"] == pytest.approx(expected, rel=0.03)
    assert cues["normal_spread"] > 0.05  # even n_z, the least spread, varies
    assert physical_score(np.array(list(cues.values()))) > 0.85  # z = 1.1


@pytest.mark.parametrize("normal", [(0, 0, 1), (0.3, -0.2, 0.93)])
def test_a_plane_has_no_relief(normal):
    cues = cues_of(*plane(normal))
    assert cues["normal_spread"] < 1e-6
    assert cues["curvature"] < 1e-6
    assert cues["depth_relief"] < 1e-6
    assert physical_score(np.array(list(cues.values()))) < 1e-3


def test_bent_paper_has_no_gaussian_curvature():
    """A cylinder's normals sweep a great circle: curved one way only, as paper bends."""
    bent = cues_of(*cylinder(90.0))
    assert bent["curvature"] < 1e-3
    assert bent["normal_spread"] < 1e-3
    assert bent["depth_relief"] > 0.01  # it does stand out of its plane
    assert physical_score(np.array(list(bent.values()))) < 0.01


def test_depth_relief_is_the_rms_height_above_the_plane_over_the_width():
    x, y = pixel_grid()
    region = face_region(SIZE)
    bump = 0.01 * (x**2 + y**2)
    height = bump[region] - bump[region].mean()  # the plane of a symmetric bump is level
    width = np.ptp(x[region]) + 1
    cues = cues_of(plane((0, 0, 1))[0], bump + 0.2 * x)
    assert cues["depth_relief"] == pytest.approx(np.sqrt(np.mean(height**2)) / width, rel=1e-6)


def test_light_variation_and_residual_by_hand():
    normals, depth = sphere(80.0)
    images = np.stack([np.full((SIZE, SIZE), v) for v in (0.2, 0.3, 0.4)])
    cues = cues_of(normals, depth, images=images)
    assert cues["light_variation"] == pytest.approx(np.std([0.2, 0.3, 0.4]) / 0.3)
    flat = cues_of(normals, depth, images=np.full((3, SIZE, SIZE), 0.3))
    assert flat["light_variation"] == 0.0
    assert flat["residual"] == 0.0


def test_albedo_shading_is_the_share_the_normals_explain():
    normals, depth = sphere(80.0)
    shaded = 0.4 + 0.3 * normals[..., 0]  # a photograph's shading baked in
    assert cues_of(normals, depth, albedo=shaded)["albedo_shading"] == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    texture = 0.5 + 0.1 * rng.standard_normal((SIZE, SIZE))  # reflectance alone
    assert cues_of(normals, depth, albedo=texture)["albedo_shading"] < 0.01


def test_too_small_a_region_measures_nothing():
    normals, depth = sphere(80.0)
    values = cue_vector(
        np.ones((3, SIZE, SIZE), np.float32),
        np.ones(3),
        normals.astype(np.float32),
        np.ones((SIZE, SIZE), np.float32),
        depth.astype(np.float32),
        np.zeros((SIZE, SIZE), bool),
        np.zeros((SIZE, SIZE), np.float32),
    )
    assert np.isnan(values).all()
    assert np.isnan(physical_score(values))


def test_relief_is_the_mean_log_ratio_to_the_scales():
    cues = np.zeros(len(CUES))
    cues[CUES.index("normal_spread")] = 0.03 * np.e
    cues[CUES.index("curvature")] = 0.5 / np.e**3
    assert relief(cues) == pytest.approx(-1.0)
    assert physical_score(cues) == pytest.approx(1 / (1 + np.exp(2.0)))
