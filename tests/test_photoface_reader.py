"""The Photoface reader in detail: light angles and units, capture pairing, decoding,
attributes, and which file each refusal names.

Sessions here are tiny (a few pixels of uniform grey per capture, written in tmp_path),
and every expected direction is worked out from the Photoface convention itself,
(sin Z cos A, sin Z sin A, cos Z), not by the code under test.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from photostereo.io import read_photoface
from photostereo.io.images import write_image
from photostereo.io.photoface import parse_attributes, parse_light_source
from photostereo.response import SRGB
from psbase.errors import InputError, LightGeometryError, ResourceError

DEGREES_RIG = "zenith = [20 20 20 20];\nazimuth = [45 135 225 315];\n"
#: 8-bit grey levels of the four captures (exact in a .bmp: level / 255).
LEVELS = (100, 120, 140, 160)


def directions(zenith_deg, azimuth_deg) -> np.ndarray:
    """Unit vectors toward lights at these zenith/azimuth angles, in degrees."""
    return np.array(
        [
            (
                math.sin(math.radians(z)) * math.cos(math.radians(a)),
                math.sin(math.radians(z)) * math.sin(math.radians(a)),
                math.cos(math.radians(z)),
            )
            for z, a in zip(zenith_deg, azimuth_deg, strict=True)
        ]
    )


def srgb_decode(v: float) -> float:
    """The IEC 61966-2-1 decoding of an encoded value in [0, 1] (its power segment)."""
    assert v > 0.04045
    return ((v + 0.055) / 1.055) ** 2.4


def write_session(
    folder: Path, lights_text: str = DEGREES_RIG, levels=LEVELS, shape=(4, 5)
) -> Path:
    """A Photoface session folder: uniform 8-bit captures im1.bmp ... and LightSource.m."""
    folder.mkdir(parents=True)
    for k, level in enumerate(levels):
        write_image(folder / f"im{k + 1}.bmp", np.full(shape, level / 255))
    (folder / "LightSource.m").write_text(lights_text)
    return folder


def parse(tmp_path: Path, text: str) -> tuple[np.ndarray, np.ndarray]:
    path = tmp_path / "LightSource.m"
    path.write_text(text)
    return parse_light_source(path)


# --- angles, units and directions -------------------------------------------------


def test_degree_angles_give_the_hand_computed_directions(tmp_path):
    session = read_photoface(write_session(tmp_path / "1001" / "s1"))
    # zenith 20, azimuth 45: (sin20 cos45, sin20 sin45, cos20) = (0.2418, 0.2418, 0.9397)
    np.testing.assert_allclose(session.directions[0], [0.2418, 0.2418, 0.9397], atol=1e-4)
    np.testing.assert_allclose(
        session.directions, directions([20] * 4, [45, 135, 225, 315]), atol=1e-6
    )


@pytest.mark.parametrize(
    ("text", "zenith_deg", "azimuth_deg"),
    [
        pytest.param(
            "zenith = [0.349066 0.349066 0.349066 0.349066];\n"
            "azimuth = [0.785398 2.356194 3.926991 5.497787];\n",
            [20] * 4,
            [45, 135, 225, 315],
            id="radians-ring",
        ),
        pytest.param(
            # a zenith of 1.2 rad (68.75 degrees): above pi/3, still radians
            "zenith = [1.2 0.5 0.5 0.5];\nazimuth = [0 1.5707963267948966 3.141592653589793 "
            "4.71238898038469];\n",
            [math.degrees(1.2)] + [math.degrees(0.5)] * 3,
            [0, 90, 180, 270],
            id="radians-steep",
        ),
        pytest.param(
            # exactly pi/2 and exactly 2 pi: the limits themselves still mean radians
            "zenith = [1.5707963267948966 0.5 0.5 0.5];\n"
            "azimuth = [0 1.5707963267948966 3.141592653589793 6.283185307179586];\n",
            [90] + [math.degrees(0.5)] * 3,
            [0, 90, 180, 360],
            id="radians-at-the-limits",
        ),
    ],
)
def test_angles_within_a_quarter_and_a_full_turn_are_read_as_radians(
    tmp_path, text, zenith_deg, azimuth_deg
):
    session = read_photoface(write_session(tmp_path / "1001" / "s1", text))
    np.testing.assert_allclose(session.directions, directions(zenith_deg, azimuth_deg), atol=1e-5)


@pytest.mark.parametrize(
    ("zenith", "azimuth"),
    [
        pytest.param([0, 6, 6, 6], [0, -6, 0, 6], id="zenith-above-pi/2"),
        pytest.param([0, 1.5, 1.5, 1.5], [0, -9, 0, 9], id="azimuth-above-2pi"),
    ],
)
def test_small_angles_are_degrees_once_one_exceeds_the_radian_limits(tmp_path, zenith, azimuth):
    """Radians only when every zenith is within pi/2 *and* every azimuth within 2 pi;
    a rig of small degree angles that breaks either limit is read in degrees."""
    text = f"zenith = [{' '.join(map(str, zenith))}];\nazimuth = [{' '.join(map(str, azimuth))}];\n"
    session = read_photoface(write_session(tmp_path / "1001" / "s1", text))
    np.testing.assert_allclose(session.directions, directions(zenith, azimuth), atol=1e-6)


def test_coplanar_lights_are_refused_naming_the_light_file(tmp_path):
    # every light at zenith 90: all four directions lie in the image plane
    folder = write_session(
        tmp_path / "1001" / "s1", "zenith = [90 90 90 90];\nazimuth = [0 90 180 270];\n"
    )
    with pytest.raises(LightGeometryError, match="coplanar") as error:
        read_photoface(folder)
    assert error.value.path == str(folder / "LightSource.m")


# --- captures ----------------------------------------------------------------------


def test_only_bmp_files_are_captures(tmp_path):
    folder = write_session(tmp_path / "1001" / "s1")
    write_image(folder / "preview.png", np.full((4, 5), 0.5))
    (folder / "notes.bmp").mkdir()  # a folder, whatever its name, is not a capture
    session = read_photoface(folder)
    assert session.image_names == ("im1.bmp", "im2.bmp", "im3.bmp", "im4.bmp")


def test_a_missing_capture_is_refused_naming_the_session_folder(tmp_path):
    folder = write_session(tmp_path / "1001" / "s1")
    (folder / "im4.bmp").unlink()
    with pytest.raises(
        InputError,
        match=re.escape(
            "3 .bmp captures but 4 lights in LightSource.m: every light needs exactly one capture"
        ),
    ) as error:
        read_photoface(folder)
    assert error.value.path == str(folder)


def test_a_session_over_the_memory_limit_is_refused_naming_its_folder(tmp_path):
    folder = write_session(tmp_path / "1001" / "s1")
    with pytest.raises(ResourceError) as error:
        read_photoface(folder, max_bytes=1000)
    assert str(error.value).startswith(f"{folder}: needs about")
    assert "--max-memory" in str(error.value)
    assert read_photoface(folder, max_bytes=10**9).n_lights == 4


def test_linear_captures_keep_their_values_and_session_records_its_source(tmp_path):
    folder = write_session(tmp_path / "1001" / "s1")
    session = read_photoface(folder)
    for image, level in zip(session.images, LEVELS, strict=True):
        np.testing.assert_allclose(image, level / 255, atol=1e-6)
    assert session.source == folder
    assert (session.subject, session.session) == ("1001", "s1")
    assert session.saturation == pytest.approx(0.98)
    assert session.valid is None
    assert session.intensities.dtype == np.float32
    np.testing.assert_array_equal(session.intensities, [1, 1, 1, 1])


def test_captures_are_decoded_by_the_response_given(tmp_path):
    folder = write_session(tmp_path / "1001" / "s1")
    session = read_photoface(folder, response=SRGB)
    for image, level in zip(session.images, LEVELS, strict=True):
        np.testing.assert_allclose(image, srgb_decode(level / 255), rtol=1e-5)
    assert session.response == SRGB
    # the clip level (98% of full scale) decoded the same way: 0.9560
    assert session.saturation == pytest.approx(srgb_decode(0.98), rel=1e-5)


def test_a_saturated_pixel_is_marked_invalid_in_its_capture_only(tmp_path):
    folder = write_session(tmp_path / "1001" / "s1")
    image = np.full((4, 5), LEVELS[1] / 255)
    image[2, 3] = 1.0
    write_image(folder / "im2.bmp", image)
    session = read_photoface(folder)
    expected = np.ones((4, 4, 5), bool)
    expected[1, 2, 3] = False
    np.testing.assert_array_equal(session.valid, expected)


# --- LightSource.m forms ----------------------------------------------------------------


def test_a_missing_light_file_is_named(tmp_path):
    path = tmp_path / "LightSource.m"
    with pytest.raises(
        InputError, match="missing: a Photoface session needs its light angles"
    ) as error:
        parse_light_source(path)
    assert error.value.path == str(path)
    assert error.value.problem == "missing: a Photoface session needs its light angles"


def test_comments_are_ignored_even_when_they_look_like_assignments(tmp_path):
    zenith, azimuth = parse(
        tmp_path,
        "zenith = [20 20 20 20]; % was: zenith = [10 10 10 10 10];\n"
        "% azimuth = [0 0 0 0];\n"
        "azimuth = [45 135 225 315];\n",
    )
    np.testing.assert_array_equal(zenith, [20, 20, 20, 20])
    np.testing.assert_array_equal(azimuth, [45, 135, 225, 315])


def test_a_comment_after_an_unterminated_element_assignment_is_not_a_value(tmp_path):
    zenith, azimuth = parse(
        tmp_path,
        "Zenith(1) = 20 % first light\nZenith(2) = 21 % second\nZenith(3) = 22\n"
        "Azimuth(1) = 0 % right\nAzimuth(2) = 120\nAzimuth(3) = 240 % last\n",
    )
    np.testing.assert_array_equal(zenith, [20, 21, 22])
    np.testing.assert_array_equal(azimuth, [0, 120, 240])


def test_a_three_light_matrix_is_read_by_columns(tmp_path):
    zenith, azimuth = parse(tmp_path, "L = [15 0; 25 120; 35 240];\n")
    np.testing.assert_array_equal(zenith, [15, 25, 35])
    np.testing.assert_array_equal(azimuth, [0, 120, 240])


def test_a_matrix_with_a_stray_token_is_not_taken_for_the_lights(tmp_path):
    with pytest.raises(InputError, match="no zenith and azimuth angles found"):
        parse(tmp_path, "L = [20 45; 20 135; 20 225; 20 315 X];\n")


@pytest.mark.parametrize("token", ["20X", "2.0.1"])
def test_a_malformed_angle_is_refused_not_trimmed(tmp_path, token):
    path = tmp_path / "LightSource.m"
    path.write_text(f"zenith = [20 20 20 {token}];\nazimuth = [45 135 225 315];\n")
    with pytest.raises(InputError, match=f"zenith value '{token}' is not a number") as error:
        parse_light_source(path)
    assert error.value.path == str(path)


def test_string_settings_named_after_the_angles_are_skipped(tmp_path):
    zenith, azimuth = parse(
        tmp_path,
        "zenith_units = 'degrees';\nazimuth_units = \"degrees\";\n" + DEGREES_RIG,
    )
    np.testing.assert_array_equal(zenith, [20, 20, 20, 20])
    np.testing.assert_array_equal(azimuth, [45, 135, 225, 315])


def test_zero_padded_six_digit_light_numbers_are_accepted(tmp_path):
    text = "".join(f"zenith({k:06d}) = 20; azimuth({k:06d}) = {90 * k};\n" for k in range(1, 5))
    zenith, azimuth = parse(tmp_path, text)
    np.testing.assert_array_equal(zenith, [20, 20, 20, 20])
    np.testing.assert_array_equal(azimuth, [90, 180, 270, 360])


def test_a_light_number_of_seven_digits_is_refused_and_shown_cut_short(tmp_path):
    path = tmp_path / "LightSource.m"
    path.write_text("zenith(12345678901234567890) = 20;\n" + DEGREES_RIG)
    with pytest.raises(
        InputError, match=re.escape("zenith(123456789012...) is not a light number")
    ) as error:
        parse_light_source(path)
    assert error.value.path == str(path)
    path.write_text("azimuth(1234567) = 20;\n" + DEGREES_RIG)
    with pytest.raises(InputError, match=re.escape("azimuth(1234567...) is not a light number")):
        parse_light_source(path)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("zenith = [20 20 20 20];\n", id="zenith-only"),
        pytest.param("azimuth = [45 135 225 315];\n", id="azimuth-only"),
        pytest.param("units = 'degrees';\n", id="nothing"),
    ],
)
def test_a_file_without_both_angle_sets_is_refused(tmp_path, text):
    path = tmp_path / "LightSource.m"
    path.write_text(text)
    with pytest.raises(
        InputError,
        match=re.escape("no zenith and azimuth angles found (expected e.g. zenith = [...];)"),
    ) as error:
        parse_light_source(path)
    assert error.value.path == str(path)
    assert error.value.problem.startswith("no zenith")
    assert error.value.problem.endswith("zenith = [...];)")


def test_one_angle_set_with_a_matrix_beside_it_uses_the_matrix(tmp_path):
    zenith, azimuth = parse(tmp_path, "zenith = [1 2 3 4];\nL = [20 45; 20 135; 20 225; 20 315];\n")
    np.testing.assert_array_equal(zenith, [20, 20, 20, 20])
    np.testing.assert_array_equal(azimuth, [45, 135, 225, 315])


@pytest.mark.parametrize("kind", ["zenith", "azimuth"])
def test_a_gap_in_the_light_numbers_is_refused_naming_the_angle(tmp_path, kind):
    other = "azimuth" if kind == "zenith" else "zenith"
    path = tmp_path / "LightSource.m"
    path.write_text(f"{kind}(1) = 20; {kind}(2) = 30; {kind}(4) = 40;\n{other} = [10 20 30];\n")
    problem = f"{kind} angles are not numbered 1..3"
    with pytest.raises(InputError, match=re.escape(problem)) as error:
        parse_light_source(path)
    assert error.value.path == str(path)


def test_unequal_angle_counts_are_refused(tmp_path):
    path = tmp_path / "LightSource.m"
    path.write_text("zenith = [20 20 20];\nazimuth = [45 135 225 315];\n")
    with pytest.raises(InputError, match="3 zenith angles but 4 azimuths") as error:
        parse_light_source(path)
    assert error.value.path == str(path)


def test_angles_up_to_a_full_turn_are_accepted_and_beyond_it_refused(tmp_path):
    _, azimuth = parse(tmp_path, "zenith = [20 20 20 20];\nazimuth = [0 90 -360 360];\n")
    np.testing.assert_array_equal(azimuth, [0, 90, -360, 360])
    path = tmp_path / "LightSource.m"
    path.write_text("zenith = [20 20 20 20];\nazimuth = [0 360.5 180 270];\n")
    with pytest.raises(
        InputError, match=re.escape("azimuth angle 2 is 360.5: not a finite angle within -360..360")
    ) as error:
        parse_light_source(path)
    assert error.value.path == str(path)


def test_an_unreadable_light_file_is_refused_with_the_reason(tmp_path, monkeypatch):
    path = tmp_path / "LightSource.m"
    path.write_text(DEGREES_RIG)
    real = Path.read_bytes

    def read_bytes(self):
        if self == path:
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    with pytest.raises(InputError, match=re.escape("cannot be read (Permission denied)")) as error:
        parse_light_source(path)
    assert error.value.path == str(path)


# --- metadataII.txt ---------------------------------------------------------------------


def test_attribute_values_keep_their_spaces_and_empty_values(tmp_path):
    path = tmp_path / "metadataII.txt"
    path.write_text("Emotion: very positive\nOcclusion:\nQuality = not so good\n: orphan\n")
    assert parse_attributes(path) == {
        "expression": "very positive",
        "occlusion": "",
        "quality": "not so good",
    }


def test_hyphenated_attribute_keys_map_like_underscored_ones(tmp_path):
    path = tmp_path / "metadataII.txt"
    path.write_text("Facial-Hair: beard\nEye-Colour: blue\n")
    assert parse_attributes(path) == {"facial_hair": "beard", "eye_colour": "blue"}


def test_two_word_attribute_keys_stay_whole_before_a_separator(tmp_path):
    """ "Facial Hair: none" is the key facial_hair (it was split at the space into
    "facial" = "Hair: none"); a line with no separator still splits at its first space."""
    path = tmp_path / "metadataII.txt"
    path.write_text("Facial Hair: none\nEye Colour = brown\nGender male\nTaken: 12:30:05\n")
    assert parse_attributes(path) == {
        "facial_hair": "none",
        "eye_colour": "brown",
        "gender": "male",
        "taken": "12:30:05",  # split at the first separator only
    }
