"""Light conventions pinned by renders: a light said to be on one side must light that side."""

import numpy as np
import pytest

from photostereo.lights import (
    check_light_geometry,
    from_azimuth_elevation,
    from_zenith_azimuth,
    ring_directions,
)
from photostereo.solvers import solve_shadow_aware
from psbase.errors import LightGeometryError
from tests.geometry import to_azimuth_elevation, to_zenith_azimuth
from tests.scenes import angular_error_deg, render, sphere

# Directions written out by hand from each convention's description (image frame:
# x right, y up, z toward the camera), so a sign error in a conversion cannot hide.
IMAGE_LEFT, IMAGE_UP = np.array([-1.0, 0, 0]), np.array([0, 1.0, 0])


def brighter_side(image: np.ndarray) -> tuple[str, str]:
    h, w = image.shape
    horizontal = "left" if image[:, : w // 2].sum() > image[:, w // 2 :].sum() else "right"
    vertical = "top" if image[: h // 2].sum() > image[h // 2 :].sum() else "bottom"
    return horizontal, vertical


def test_yale_positive_azimuth_is_the_image_left_and_positive_elevation_is_up():
    np.testing.assert_allclose(from_azimuth_elevation(90, 0), IMAGE_LEFT, atol=1e-6)
    np.testing.assert_allclose(from_azimuth_elevation(0, 90), IMAGE_UP, atol=1e-6)
    normals, mask = sphere(64)
    image = render(normals, np.ones(mask.shape, np.float32), from_azimuth_elevation([35], [40]))
    assert brighter_side(image[0]) == ("left", "top")


def test_zenith_azimuth_measures_azimuth_from_image_right_toward_up():
    np.testing.assert_allclose(from_zenith_azimuth(0, 123), [0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(from_zenith_azimuth(90, 90), IMAGE_UP, atol=1e-6)
    np.testing.assert_allclose(from_zenith_azimuth(90, 180), IMAGE_LEFT, atol=1e-6)
    normals, mask = sphere(64)
    image = render(normals, np.ones(mask.shape, np.float32), from_zenith_azimuth([40], [-45]))
    assert brighter_side(image[0]) == ("right", "bottom")


@pytest.mark.parametrize(
    ("convert", "angles"),
    [
        (from_azimuth_elevation, ([0, 50, -50, 20, -25], [0, 10, -5, 45, -35])),
        (from_zenith_azimuth, ([20, 20, 20, 20], [0, 90, 180, 270])),
    ],
)
def test_sphere_rendered_under_each_convention_gives_outward_normals(convert, angles):
    normals, mask = sphere(96)
    directions = convert(*angles)
    images = render(normals, np.full(mask.shape, 0.7, np.float32), directions)
    result = solve_shadow_aware(images, directions, mask=mask)
    solved = mask & result.mask & (result.n_used >= 3)  # neighbour-aided rims aside
    assert solved.sum() > 0.8 * mask.sum()
    assert angular_error_deg(result.normals, normals, solved) < 0.5
    h, w = mask.shape
    left, top = solved.copy(), solved.copy()
    left[:, w // 2 :] = False
    top[h // 2 :, :] = False
    assert result.normals[left][:, 0].mean() < -0.3  # the left half faces left
    assert result.normals[top][:, 1].mean() > 0.3  # the upper half faces up


@pytest.mark.parametrize(
    ("forward", "inverse", "angles"),
    [
        (
            from_azimuth_elevation,
            to_azimuth_elevation,
            ([-120, -30, 0, 45, 130], [-40, 0, 10, 60, -20]),
        ),
        (from_zenith_azimuth, to_zenith_azimuth, ([5, 15, 30, 60, 89], [-170, -90, 0, 45, 179])),
    ],
)
def test_conversions_round_trip(forward, inverse, angles):
    back = inverse(forward(*angles))
    np.testing.assert_allclose(back, np.stack(angles, axis=-1), atol=1e-3)


def test_ring_lights_are_evenly_spaced_on_their_cone():
    d = ring_directions(6, 30.0)
    np.testing.assert_allclose(np.degrees(np.arccos(d[:, 2])), 30.0, atol=1e-4)
    azimuths = np.sort(to_zenith_azimuth(d)[:, 1] % 360)
    np.testing.assert_allclose(np.diff(azimuths), 60.0, atol=1e-3)


def test_fewer_than_three_lights_are_refused():
    with pytest.raises(LightGeometryError, match="needs at least 3"):
        check_light_geometry(ring_directions(2, 30.0), where="rig")


def test_coplanar_lights_are_refused_with_the_condition_number():
    coplanar = np.array([[1.0, 0.0, 0.2], [0.0, 1.0, 0.1], [1.0, 1.0, 0.3]])  # 3rd = 1st + 2nd
    with pytest.raises(LightGeometryError, match="coplanar"):
        check_light_geometry(coplanar, where="rig")
    nearly = ring_directions(4, 89.99)
    with pytest.raises(LightGeometryError, match="condition number"):
        check_light_geometry(nearly, where="rig")
    assert check_light_geometry(ring_directions(4, 20.0)) < 10
