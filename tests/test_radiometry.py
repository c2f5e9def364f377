"""Issue 10, radiometry: captures decoded to linear radiance, saturation found on the raw
captures (before ambient subtraction and before any warp), and carried through alignment.
"""

import json
import math

import cv2
import numpy as np
import pytest

import photostereo.reconstruct as reconstruct_module
from photostereo.align import align_session, warp_image, warp_valid
from photostereo.io import load_session, read_canonical, read_yaleb, write_canonical
from photostereo.io.images import read_captures
from photostereo.preprocess import PreprocessConfig
from photostereo.response import (
    LINEAR,
    SRGB,
    Response,
    from_linear,
    parse_response,
    to_linear,
)
from photostereo.session import CaptureSession
from psbase.errors import ConfigError, InputError
from psface.cli import main
from tests.fixtures import sphere_session, write_yaleb_sphere

# 1. Response curves -------------------------------------------------------------------


def test_srgb_decodes_to_the_iec_61966_2_1_values():
    encoded = np.array([0.0, 0.04045, 128 / 255, 0.5, 1.0], np.float32)
    expected = [0.0, 0.0031308, 0.2158605, 0.2140411, 1.0]  # IEC 61966-2-1 tables
    np.testing.assert_allclose(to_linear(encoded, SRGB), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(from_linear(np.float32(0.18), SRGB), 0.4613561, rtol=1e-5)
    below, above = to_linear(np.array([0.04045, 0.04046], np.float32), SRGB)
    assert 0 < above - below < 1e-5  # the two segments meet at the knee


def test_gamma_and_linear_decode_as_powers():
    values = np.array([0.0, 0.25, 0.5, 1.0], np.float32)
    np.testing.assert_allclose(to_linear(values, parse_response("gamma:2.2")), values**2.2)
    np.testing.assert_allclose(to_linear(0.5, parse_response("gamma:2.2")), 0.2176376, rtol=1e-6)
    assert to_linear(values, LINEAR) is values  # nothing copied for linear captures


@pytest.mark.parametrize("text", ["srgb", "gamma:2.2", "gamma:0.45"])
def test_encoding_then_decoding_gives_the_radiance_back(text):
    response = parse_response(text)
    radiance = np.linspace(-0.2, 1.2, 2001, dtype=np.float32)  # float captures may leave [0, 1]
    back = to_linear(from_linear(radiance, response), response)
    assert np.isfinite(back).all()
    np.testing.assert_allclose(back, radiance, rtol=2e-5, atol=1e-6)


def test_response_names_parse_and_print_back():
    assert parse_response(" sRGB ") == SRGB
    assert parse_response("linear") == LINEAR
    assert parse_response("gamma:1") == LINEAR  # the same curve is one response
    gamma = parse_response("gamma:2.2")
    assert (gamma.kind, gamma.gamma, str(gamma)) == ("gamma", 2.2, "gamma:2.2")
    assert parse_response(str(Response("gamma", 1 / 3))).gamma == 1 / 3
    for bad in ("gamma:0", "gamma:-1", "gamma:nan", "gamma:inf", "gamma:", "log", "", 2.2):
        with pytest.raises(ValueError):
            parse_response(bad)


# 2. Declared responses ----------------------------------------------------------------


def test_a_session_declaring_srgb_reads_back_linear_within_quantisation(tmp_path):
    original, _, _ = sphere_session(size=40)
    folder = write_canonical(tmp_path / "s01" / "v1", original, response="srgb")
    spec = json.loads((folder / "lights.json").read_text())
    assert spec["response"] == "srgb"
    session = read_canonical(folder)
    assert session.response == SRGB
    # Half an 8-bit step, through the curve's steepest slope (2.4 / 1.055 at white).
    step = 0.5 / 255 * 2.4 / 1.055
    np.testing.assert_allclose(session.images, original.images, atol=step)
    # The same files taken as linear are far from the Lambertian values: the test bites.
    as_stored = read_captures(sorted(folder.glob("l*.png"))).images
    assert np.abs(as_stored - original.images).max() > 0.1


def test_a_declared_response_that_the_command_contradicts_is_one_line(tmp_path, capfd):
    original, _, _ = sphere_session(size=32)
    folder = write_canonical(tmp_path / "s01" / "v1", original, response="srgb")
    assert read_canonical(folder, response=SRGB).response == SRGB  # agreeing is fine
    capfd.readouterr()
    out = tmp_path / "out"
    assert main(["reconstruct", str(folder), "-o", str(out), "--response", "gamma:2.2"]) == 1
    lines = capfd.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    assert str(folder / "lights.json") in lines[0]
    assert '"response": "srgb"' in lines[0] and "--response gamma:2.2" in lines[0]
    assert not out.exists()


def test_a_bad_response_is_refused_where_it_is_written(tmp_path, capfd):
    original, _, _ = sphere_session(size=32)
    folder = write_canonical(tmp_path / "s01" / "v1", original, response="srgb")
    spec = json.loads((folder / "lights.json").read_text())
    spec["response"] = "gamma:zero"
    (folder / "lights.json").write_text(json.dumps(spec))
    with pytest.raises(InputError, match=r'lights\.json: "response" .*gamma:zero'):
        load_session(folder)
    capfd.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["reconstruct", str(folder), "-o", str(tmp_path / "o"), "--response", "gamma:-2"])
    assert exit_.value.code == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--response" in err[0] and "positive" in err[0], err


def test_the_command_decodes_undeclared_sessions_and_records_the_response(tmp_path, capfd):
    original, _, _ = sphere_session(size=40)
    folder = write_canonical(tmp_path / "s01" / "v1", original, response="gamma:2.2")
    spec = json.loads((folder / "lights.json").read_text())
    del spec["response"]  # a rig that does not say
    (folder / "lights.json").write_text(json.dumps(spec))
    session = load_session(folder, response=parse_response("gamma:2.2"))
    np.testing.assert_allclose(session.images, original.images, atol=0.5 / 255 * 2.2)
    out = tmp_path / "out"
    assert main(["reconstruct", str(folder), "-o", str(out), "--response", "gamma:2.2"]) == 0
    assert json.loads((out / "summary.json").read_text())["response"] == "gamma:2.2"


def test_preprocess_config_stores_the_response_only_when_asked():
    # Exactly the configuration files made before --response hold, so they still resume.
    old = '{"detect": true, "integrator": "masked", "size": 112, "solver": "shadow"}'
    assert PreprocessConfig().to_json() == old
    config = PreprocessConfig(response="sRGB")
    assert json.loads(config.to_json())["response"] == "srgb"
    assert config.camera_response == SRGB
    with pytest.raises(ConfigError, match="--response"):
        PreprocessConfig(response="gamma:0")


# 3. Saturation on the raw captures ----------------------------------------------------


def test_the_saturation_threshold_is_on_the_stored_integers(tmp_path):
    paths = []
    cases = [
        (np.uint8, 249, 250),  # 0.98 x 255 = 249.9
        (np.uint16, 64224, 64225),  # 0.98 x 65535 = 64224.3
    ]
    for dtype, below, at in cases:
        pixels = np.full((4, 4), below, dtype)
        pixels[1, 2] = at
        paths.append(tmp_path / f"{np.dtype(dtype).name}.png")
        cv2.imwrite(str(paths[-1]), pixels)
    captures = read_captures(paths, SRGB)
    expected = np.ones((2, 4, 4), bool)
    expected[:, 1, 2] = False
    np.testing.assert_array_equal(captures.valid, expected)
    assert captures.saturation == pytest.approx(float(to_linear(0.98, SRGB)))


def test_one_clipped_colour_channel_makes_the_pixel_invalid(tmp_path):
    bgr = np.full((4, 4, 3), 100, np.uint8)
    bgr[2, 1, 2] = 255  # red clipped; luminance (about 0.5) is far below the threshold
    cv2.imwrite(str(tmp_path / "c.png"), bgr)
    captures = read_captures([tmp_path / "c.png"])
    assert captures.images[0, 2, 1] < 0.6
    assert captures.valid[0, 2, 1] == 0 and captures.valid.sum() == 15


def test_float_captures_have_no_saturation(tmp_path):
    cv2.imwrite(str(tmp_path / "f.tif"), np.full((4, 4), 5.0, np.float32))
    captures = read_captures([tmp_path / "f.tif"])
    assert captures.valid is None and math.isinf(captures.saturation)


def test_yaleb_pixel_saturated_in_the_raw_capture_stays_invalid_after_ambient(tmp_path):
    folder = write_yaleb_sphere(tmp_path / "yaleB99", ambient=0.1)
    capture = folder / "yaleB99_P00A+000E+00.pgm"
    pixels = cv2.imread(str(capture), cv2.IMREAD_UNCHANGED)
    pixels[24, 24] = 255  # clipped, the rest of the sphere is not
    cv2.imwrite(str(capture), pixels)
    ambient_path = folder / "yaleB99_P00_Ambient.pgm"
    ambient = cv2.imread(str(ambient_path), cv2.IMREAD_UNCHANGED)
    ambient[3, 5] = 255  # clipped in the ambient image: no capture there is usable
    cv2.imwrite(str(ambient_path), ambient)

    session = read_yaleb(folder)
    k = session.image_names.index(capture.name)
    assert session.images[k, 24, 24] == pytest.approx(1.0 - 26 / 255)  # 255 - ambient 26
    assert session.images[k, 24, 24] < session.saturation  # the old test would trust it
    expected = np.ones(session.images.shape, bool)
    expected[k, 24, 24] = False
    expected[:, 3, 5] = False
    np.testing.assert_array_equal(session.valid, expected)


def test_reconstruct_hands_the_validity_mask_to_the_solver(monkeypatch):
    session, _, _ = sphere_session(size=24)
    valid = np.ones(session.images.shape, bool)
    valid[0, 12, 12] = False
    session = CaptureSession(
        session.images, session.directions, session.intensities, "s", "v", valid=valid
    )
    seen = {}
    real_solve = reconstruct_module.solve

    def solve(*args, **kwargs):
        seen.update(kwargs)
        return real_solve(*args, **kwargs)

    monkeypatch.setattr(reconstruct_module, "solve", solve)
    reconstruct_module.reconstruct(session)
    np.testing.assert_array_equal(seen["valid"], valid)


# 4. Alignment -------------------------------------------------------------------------


def warp_case(scale: float):
    """A session whose second capture is clipped at one pixel, and a similarity that
    turns it 12 degrees, scales it by ``scale`` and shifts it partly off the frame."""
    size = 40
    images = np.full((3, size, size), 0.5, np.float32)
    images[1, 20, 17] = 1.0
    valid = np.ones(images.shape, bool)
    valid[1, 20, 17] = False
    base, _, _ = sphere_session(size=8, n_lights=3)
    session = CaptureSession(
        images, base.directions, base.intensities, "s", "v", valid=valid, saturation=0.98
    )
    angle = np.deg2rad(12.0)
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = np.hstack([rotation, [[6.3], [-4.6]]])
    return session, matrix, size


def source_of(matrix: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each crop pixel comes from in the capture: (x, y) arrays of (size, size)."""
    inverse = cv2.invertAffineTransform(matrix)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    x = inverse[0, 0] * cols + inverse[0, 1] * rows + inverse[0, 2]
    y = inverse[1, 0] * cols + inverse[1, 1] * rows + inverse[1, 2]
    return x, y


def test_a_saturated_pixel_stays_invalid_after_alignment_and_off_frame_pixels_are_invalid():
    session, matrix, size = warp_case(scale=1.0)
    aligned = align_session(session, matrix, size)
    clipped = warp_image(session.images[1], matrix, size)
    touches = np.abs(clipped - warp_image(np.full((size, size), 0.5), matrix, size)) > 1e-6
    x, y = source_of(matrix, size)
    assert touches.sum() == 4  # the bilinear neighbours of (17, 20)
    outside = (x < 0) | (x > size - 1) | (y < 0) | (y > size - 1)
    assert touches.any() and outside.any() and (~outside).any()
    # Warping pulled the clipped value below the threshold, yet it is not trusted.
    assert aligned.images[1][touches].max() < aligned.saturation
    assert not aligned.valid[1][touches].any()
    assert aligned.valid[[0, 2]][:, touches].all()
    assert not aligned.valid[:, outside].any()
    clear = ~outside & ~touches & (x > 1) & (x < size - 2) & (y > 1) & (y < size - 2)
    assert aligned.valid[:, clear].all()


def test_a_downscaling_warp_invalidates_every_pixel_the_clipped_one_reaches():
    session, matrix, size = warp_case(scale=0.5)  # pre-blurred: a wider footprint
    valid = warp_valid(session.valid, matrix, size, session.shape)
    clipped = warp_image(session.images[1], matrix, size)
    unclipped = warp_image(np.full_like(session.images[1], 0.5), matrix, size)
    reached = np.abs(clipped - unclipped) > 1e-6
    assert reached.sum() > 4  # the blur spreads it beyond the bilinear neighbours
    assert not valid[1][reached].any()
    x, y = source_of(matrix, size)
    assert valid[1][(np.hypot(x - 17, y - 20) > 6) & (x > 3) & (x < 36) & (y > 3) & (y < 36)].all()


def test_validity_costs_nothing_when_every_observation_is_inside_and_unclipped():
    session, _, size = warp_case(scale=1.0)
    clean = CaptureSession(session.images, session.directions, session.intensities, "s", "v")
    inside = np.array([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]])  # 40 px onto 20, all inside
    assert align_session(clean, inside, size // 2).valid is None
    shifted = align_session(clean, np.array([[1.0, 0.0, 3.0], [0.0, 1.0, 0.0]]), size)
    assert shifted.valid.shape == shifted.images.shape
    assert shifted.valid.strides[0] == 0  # one mask shared by every capture
    assert not shifted.valid[:, :, :3].any() and shifted.valid[:, :, 3:].all()
