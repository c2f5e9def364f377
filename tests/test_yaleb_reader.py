"""The Extended Yale B reader in detail: angles from the file names, poses, light
intensities, ambient subtraction (and what it does to clipped pixels), decoding, and
which folder each refusal names.

Sessions are a few pixels of chosen 8-bit levels, written in tmp_path. Expected
directions follow the Yale B convention worked out by hand,
(-sin A cos E, sin E, cos A cos E), and expected pixels are level / 255 arithmetic.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from photostereo.io import read_yaleb
from photostereo.io.images import write_image
from photostereo.io.yaleb import light_intensities, yaleb_labels, yaleb_poses
from photostereo.response import SRGB
from psbase.errors import InputError, ResourceError

SHAPE = (4, 5)
#: (azimuth, elevation) of a small usable rig, in degrees.
ANGLES = [(0, 0), (25, 0), (-25, 0), (0, 20), (0, -20)]
#: The intensity table as shipped, read straight from the package's data file.
TABLE = json.loads(
    (Path(__file__).parents[1] / "photostereo" / "data" / "yaleb_intensities.json").read_text()
)["intensities"]


def name(subject: str, pose: str, az: int, el: int) -> str:
    return f"{subject}_P{pose}A{az:+04d}E{el:+03d}.pgm"


def write_subject(
    folder: Path, angles=ANGLES, *, pose: str = "00", level: int = 150, ambient=None
) -> Path:
    """Uniform 8-bit captures of one pose (and its ambient image, given its levels)."""
    folder.mkdir(parents=True, exist_ok=True)
    for az, el in angles:
        write_image(folder / name(folder.name, pose, az, el), np.full(SHAPE, level / 255))
    if ambient is not None:
        write_image(
            folder / f"{folder.name}_P{pose}_Ambient.pgm",
            np.broadcast_to(np.asarray(ambient, float) / 255, SHAPE),
        )
    return folder


def yale_direction(az_deg: float, el_deg: float) -> list[float]:
    a, e = math.radians(az_deg), math.radians(el_deg)
    return [-math.sin(a) * math.cos(e), math.sin(e), math.cos(a) * math.cos(e)]


def srgb_decode(v: float) -> float:
    """The IEC 61966-2-1 decoding of an encoded value above the linear segment."""
    assert v > 0.04045
    return ((v + 0.055) / 1.055) ** 2.4


# --- angles, names and labels ------------------------------------------------------------


def test_directions_names_and_labels_come_from_the_file_names(tmp_path):
    folder = write_subject(tmp_path / "yaleB07")
    session = read_yaleb(folder)
    # sorted by name: '+' sorts before '-'
    order = [(0, 0), (0, 20), (0, -20), (25, 0), (-25, 0)]
    assert session.image_names == tuple(name("yaleB07", "00", a, e) for a, e in order)
    # A+025E+00: (-sin 25, 0, cos 25) = (-0.4226, 0, 0.9063), toward the image's left
    np.testing.assert_allclose(session.directions[3], [-0.4226, 0.0, 0.9063], atol=1e-4)
    np.testing.assert_allclose(
        session.directions, [yale_direction(a, e) for a, e in order], atol=1e-6
    )
    assert (session.subject, session.session, session.source) == ("yaleB07", "P00", folder)


def test_elevation_and_azimuth_combine(tmp_path):
    angles = [(0, 0), (35, 40), (-50, -40), (60, 20)]
    folder = write_subject(tmp_path / "yaleB02", angles)
    session = read_yaleb(folder)
    by_name = dict(zip(session.image_names, session.directions, strict=True))
    for az, el in angles:
        np.testing.assert_allclose(
            by_name[name("yaleB02", "00", az, el)], yale_direction(az, el), atol=1e-6
        )


def test_light_intensities_come_from_the_table_and_unlisted_lights_are_one(tmp_path):
    captures = [
        tmp_path / name("yaleB01", "00", 25, 0),
        tmp_path / name("yaleB01", "00", 0, 0),
        tmp_path / name("yaleB01", "00", 110, 15),  # beyond 70 degrees: not measured
        tmp_path / "yaleB01_P00_Ambient.pgm",  # not a capture: no entry
    ]
    intensities = light_intensities(captures)
    assert intensities.dtype == np.float32
    np.testing.assert_allclose(intensities, [TABLE["A+025E+00"], TABLE["A+000E+00"], 1.0])
    assert TABLE["A+025E+00"] == pytest.approx(0.7893)


def test_a_session_carries_each_lights_intensity(tmp_path):
    folder = write_subject(tmp_path / "yaleB03", [(0, 0), (25, 0), (-25, 0), (130, 20)])
    session = read_yaleb(folder)
    expected = {"A+000E+00": TABLE["A+000E+00"], "A+025E+00": TABLE["A+025E+00"]}
    expected |= {"A-025E+00": TABLE["A-025E+00"], "A+130E+20": 1.0}
    for image_name, intensity in zip(session.image_names, session.intensities, strict=True):
        assert intensity == pytest.approx(expected[image_name[len("yaleB03_P00") :][:9]])


def test_one_pose_of_several_is_read_when_named(tmp_path):
    folder = write_subject(tmp_path / "yaleB05", pose="00", level=100)
    write_subject(folder, ANGLES[:4], pose="01", level=200)
    assert yaleb_poses(folder) == ["P00", "P01"]
    session = read_yaleb(folder, pose="P01")
    assert session.session == "P01"
    assert session.n_lights == 4
    assert all(n.startswith("yaleB05_P01A") for n in session.image_names)
    np.testing.assert_allclose(session.images, 200 / 255, atol=1e-6)


def test_a_folder_of_two_poses_needs_one_named(tmp_path):
    folder = write_subject(tmp_path / "yaleB05", pose="00")
    write_subject(folder, pose="01")
    with pytest.raises(InputError) as error:
        read_yaleb(folder)
    assert error.value.path == str(folder)
    assert error.value.problem == f"holds poses P00, P01; name one as {folder}#P00"


def test_a_pose_the_folder_lacks_is_refused_listing_those_it_has(tmp_path):
    folder = write_subject(tmp_path / "yaleB05", pose="00")
    write_subject(folder, pose="01")
    with pytest.raises(InputError, match=re.escape("has no pose P02 (it has P00, P01)")) as error:
        yaleb_labels(folder, "P02")
    assert error.value.path == str(folder)
    assert yaleb_labels(folder, "P01") == ("yaleB05", "P01")


def test_a_file_is_not_a_subject_folder(tmp_path):
    path = tmp_path / "yaleB01_P00A+000E+00.pgm"
    path.write_bytes(b"")
    with pytest.raises(InputError) as error:
        yaleb_labels(path)
    assert (error.value.path, error.value.problem) == (str(path), "not a folder")


def test_a_folder_without_captures_is_refused(tmp_path):
    folder = tmp_path / "yaleB01"
    folder.mkdir()
    (folder / "yaleB01_P00A+000E+00.pgm.bad").write_bytes(b"")
    (folder / "yaleB01_P00_Ambient.pgm").write_bytes(b"")
    with pytest.raises(InputError) as error:
        yaleb_labels(folder)
    assert error.value.path == str(folder)
    assert error.value.problem == "no Yale B captures (yaleBNN_PppAaaaaEee.pgm) in this folder"


def test_a_session_over_the_memory_limit_is_refused_naming_its_folder(tmp_path):
    folder = write_subject(tmp_path / "yaleB01")
    with pytest.raises(ResourceError) as error:
        read_yaleb(folder, max_bytes=1000)
    assert str(error.value).startswith(f"{folder}: needs about")
    assert "--max-memory" in str(error.value)


# --- decoding and ambient subtraction ----------------------------------------------------


def test_without_ambient_captures_keep_their_linear_values(tmp_path):
    folder = write_subject(tmp_path / "yaleB01", level=150)
    session = read_yaleb(folder)
    np.testing.assert_allclose(session.images, 150 / 255, atol=1e-6)
    assert session.saturation == pytest.approx(0.98)
    assert session.valid is None


def test_ambient_is_subtracted_pixel_by_pixel_and_clipped_at_zero(tmp_path):
    ambient = np.full(SHAPE, 30)
    ambient[1, 2] = 200  # brighter than the captures (150): clips to 0, not negative
    folder = write_subject(tmp_path / "yaleB01", level=150, ambient=ambient)
    session = read_yaleb(folder)
    expected = np.full(SHAPE, (150 - 30) / 255)
    expected[1, 2] = 0.0
    for image in session.images:
        np.testing.assert_allclose(image, expected, atol=1e-6)
    assert session.valid is None


def test_ambient_of_another_pose_or_size_is_not_subtracted(tmp_path):
    folder = write_subject(tmp_path / "yaleB01", level=150)
    write_image(folder / "yaleB01_P01_Ambient.pgm", np.full(SHAPE, 100 / 255))
    np.testing.assert_allclose(read_yaleb(folder).images, 150 / 255, atol=1e-6)
    write_image(folder / "yaleB01_P00_Ambient.pgm", np.full((3, 3), 100 / 255))
    np.testing.assert_allclose(read_yaleb(folder).images, 150 / 255, atol=1e-6)


def test_a_colour_ambient_image_is_subtracted_as_its_luminance(tmp_path):
    folder = write_subject(tmp_path / "yaleB01", level=150)
    # grey stored as three equal channels (PPM data under the .pgm name)
    ok, data = cv2.imencode(".ppm", np.full((*SHAPE, 3), 40, np.uint8))
    assert ok
    (folder / "yaleB01_P00_Ambient.pgm").write_bytes(data.tobytes())
    np.testing.assert_allclose(read_yaleb(folder).images, (150 - 40) / 255, atol=1e-5)


def test_captures_and_ambient_are_both_decoded_before_subtracting(tmp_path):
    folder = write_subject(tmp_path / "yaleB01", level=150, ambient=60)
    session = read_yaleb(folder, response=SRGB)
    # radiance difference, not the difference of encoded values: 0.3050 - 0.0452
    expected = srgb_decode(150 / 255) - srgb_decode(60 / 255)
    np.testing.assert_allclose(session.images, expected, rtol=1e-5)
    assert session.response == SRGB
    assert session.saturation == pytest.approx(srgb_decode(0.98), rel=1e-5)


def test_a_saturated_capture_pixel_stays_invalid_after_ambient_subtraction(tmp_path):
    folder = write_subject(tmp_path / "yaleB01", level=150, ambient=30)
    clipped = np.full(SHAPE, 150 / 255)
    clipped[0, 1] = 1.0
    write_image(folder / name("yaleB01", "00", 25, 0), clipped)
    session = read_yaleb(folder)
    k = session.image_names.index(name("yaleB01", "00", 25, 0))
    assert session.images[k, 0, 1] == pytest.approx((255 - 30) / 255)  # below the clip level
    expected = np.ones((len(ANGLES), *SHAPE), bool)
    expected[k, 0, 1] = False
    np.testing.assert_array_equal(session.valid, expected)


def test_a_pixel_clipped_in_the_ambient_image_is_invalid_in_every_capture(tmp_path):
    ambient = np.full(SHAPE, 30)
    ambient[2, 4] = 255
    folder = write_subject(tmp_path / "yaleB01", level=150, ambient=ambient)
    session = read_yaleb(folder)
    expected = np.ones((len(ANGLES), *SHAPE), bool)
    expected[:, 2, 4] = False
    np.testing.assert_array_equal(session.valid, expected)


def test_clipped_pixels_of_captures_and_ambient_are_all_invalid(tmp_path):
    ambient = np.full(SHAPE, 30)
    ambient[2, 4] = 255
    folder = write_subject(tmp_path / "yaleB01", level=150, ambient=ambient)
    clipped = np.full(SHAPE, 150 / 255)
    clipped[0, 1] = 1.0
    write_image(folder / name("yaleB01", "00", 0, 20), clipped)
    session = read_yaleb(folder)
    k = session.image_names.index(name("yaleB01", "00", 0, 20))
    expected = np.ones((len(ANGLES), *SHAPE), bool)
    expected[:, 2, 4] = False
    expected[k, 0, 1] = False
    np.testing.assert_array_equal(session.valid, expected)


def test_float_captures_and_ambient_have_no_clip_level(tmp_path):
    """PFM data (float, no full scale) is subtracted like any other and nothing is
    marked invalid, however bright."""
    folder = tmp_path / "yaleB01"
    folder.mkdir()
    for az, el in ANGLES:
        ok, data = cv2.imencode(".pfm", np.full(SHAPE, 2.5, np.float32))
        assert ok
        (folder / name("yaleB01", "00", az, el)).write_bytes(data.tobytes())
    ok, data = cv2.imencode(".pfm", np.full(SHAPE, 0.5, np.float32))
    (folder / "yaleB01_P00_Ambient.pgm").write_bytes(data.tobytes())
    session = read_yaleb(folder)
    np.testing.assert_allclose(session.images, 2.0, atol=1e-6)
    assert session.valid is None
    assert session.saturation == math.inf
