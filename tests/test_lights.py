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


# --- Added against surviving mutants (mutmut, issue 17): the messages name where the
# --- lights came from, outputs are float32 unit vectors, the ring starts at +x.


def test_errors_name_the_source_and_the_problem():
    from photostereo.lights import normalize_directions

    cases = [
        (np.ones((4, 2)), r"must be \(K, 3\), got \(4, 2\)"),
        (np.ones(3), r"must be \(K, 3\), got \(3,\)"),
        (np.array([[1.0, 0, 0], [0, 0, 0], [0, 1, 0]]), "light 1: direction is zero"),
        (np.array([[1.0, 0, 0], [0, 1, 0], [np.nan, 0, 1]]), "light 2: direction .* not finite"),
    ]
    for bad, message in cases:
        for check in (normalize_directions, check_light_geometry):
            with pytest.raises(LightGeometryError, match=message) as caught:
                check(bad, where="rig.json")
            assert caught.value.path == "rig.json"
            with pytest.raises(LightGeometryError) as default:
                check(bad)
            assert default.value.path == "lights"
    with pytest.raises(LightGeometryError) as few:
        check_light_geometry(np.eye(3)[:2], where="rig.json")
    assert few.value.path == "rig.json"
    assert "2 lights" in str(few.value)
    with pytest.raises(LightGeometryError, match="not all in one plane") as flat:
        check_light_geometry(np.array([[1.0, 0, 0], [0, 1, 0], [1, 1, 0]]), where="rig.json")
    assert flat.value.path == "rig.json"


def test_normalize_directions_gives_float32_unit_rows_of_any_length():
    from photostereo.lights import normalize_directions

    d = np.array([[3.0, 0, 4], [0, 1e-200, 0], [1e300, 1e300, 0], [2, 2, 1]])
    unit = normalize_directions(d)
    assert unit.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(unit[0], [0.6, 0, 0.8], rtol=1e-6)
    np.testing.assert_allclose(unit[3], [2 / 3, 2 / 3, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(normalize_directions([[0, 0, 5]]), [[0, 0, 1]])


def test_condition_number_is_largest_over_smallest_singular_value():
    d = np.array([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]])
    # unit rows; singular values sqrt(2), 1, 1: condition sqrt(2)
    assert check_light_geometry(d) == pytest.approx(np.sqrt(2))
    assert check_light_geometry(np.eye(3)) == pytest.approx(1.0)
    assert check_light_geometry(np.eye(3) * [1, 1000, 1]) == pytest.approx(1.0)


def test_conversions_give_float32_and_accept_integer_angles():
    for d in (from_azimuth_elevation(90, 0), from_zenith_azimuth([90], [90])):
        assert d.dtype == np.float32
    np.testing.assert_allclose(
        from_azimuth_elevation(np.pi / 2, 0.0, degrees=False), IMAGE_LEFT, atol=1e-6
    )
    np.testing.assert_allclose(
        from_zenith_azimuth(np.pi / 2, np.pi, degrees=False), IMAGE_LEFT, atol=1e-6
    )
    np.testing.assert_allclose(from_azimuth_elevation([0, 90], 0)[1], IMAGE_LEFT, atol=1e-6)


def test_ring_starts_at_image_right_and_turns_toward_up():
    d = ring_directions(4, 90.0)
    np.testing.assert_allclose(d, [[1, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0]], atol=1e-6)
    shifted = ring_directions(4, 90.0, azimuth0=90.0)
    np.testing.assert_allclose(shifted[0], IMAGE_UP, atol=1e-6)
