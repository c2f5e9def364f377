"""The canonical layout in detail: every field written and read back, and every refusal
naming the file to fix with the problem in words (mutation testing, issue 17)."""

import errno
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from photostereo.io import read_canonical, write_canonical
from photostereo.io.canonical import canonical_labels
from photostereo.io.images import read_image
from photostereo.response import LINEAR, SRGB, from_linear, parse_response, to_linear
from photostereo.session import CaptureSession
from psbase.errors import InputError, LightGeometryError
from tests.fixtures import sphere_session, write_canonical_sphere

SIZE = 16


@pytest.fixture
def folder(tmp_path) -> Path:
    """A small four-light sphere session, written at a path with no links in it."""
    return write_canonical_sphere(tmp_path.resolve() / "s01" / "v1", size=SIZE)


def spec_of(folder: Path) -> dict:
    return json.loads((folder / "lights.json").read_text(encoding="utf-8"))


def edit_lights(folder: Path, change) -> Path:
    """Apply ``change`` to the parsed ``lights.json`` and write it back; return its path."""
    path = folder / "lights.json"
    spec = json.loads(path.read_text(encoding="utf-8"))
    change(spec)
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def refusal(folder: Path, **kwargs) -> InputError:
    with pytest.raises(InputError) as caught:
        read_canonical(folder, **kwargs)
    return caught.value


# Reading: what comes back ---------------------------------------------------------------


def test_read_session_knows_its_folder_names_and_attributes(tmp_path):
    original, _, _ = sphere_session(size=SIZE, subject="p7", session="visit-2")
    original = CaptureSession(
        original.images,
        original.directions,
        original.intensities,
        "p7",
        "visit-2",
        attributes={"gender": "female", "pose": 1, "spectacles": "yes"},
    )
    folder = write_canonical(tmp_path.resolve() / "p7" / "visit-2", original)
    back = read_canonical(folder)
    assert back.source == folder
    assert back.image_names == ("l0.png", "l1.png", "l2.png", "l3.png")
    assert dict(back.attributes) == {"gender": "female", "pose": 1, "spectacles": "yes"}
    assert spec_of(folder)["attributes"] == {"gender": "female", "pose": 1, "spectacles": "yes"}


@pytest.mark.parametrize("attributes", [None, {}], ids=["null", "empty"])
def test_absent_attributes_read_as_an_empty_mapping(folder, attributes):
    edit_lights(folder, lambda spec: spec.update(attributes=attributes))
    assert dict(read_canonical(folder).attributes) == {}


def test_captures_pair_with_lights_by_name_in_lights_json_order(folder):
    forward = read_canonical(folder)
    edit_lights(folder, lambda spec: spec["lights"].reverse())
    back = read_canonical(folder)
    assert back.image_names == ("l3.png", "l2.png", "l1.png", "l0.png")
    np.testing.assert_array_equal(back.images, forward.images[::-1])
    np.testing.assert_allclose(back.directions, forward.directions[::-1], atol=1e-7)


def test_saturated_pixels_are_marked_invalid_and_no_others(tmp_path):
    session, _, _ = sphere_session(size=SIZE)
    images = session.images.copy()
    images[2, 5, 7] = 1.0  # clipped at full scale in the stored 8-bit file
    clipped = CaptureSession(images, session.directions, session.intensities, "s01", "v1")
    folder = write_canonical(tmp_path / "s01" / "v1", clipped)
    back = read_canonical(folder)
    assert back.valid is not None and back.valid.shape == back.images.shape
    assert not back.valid[2, 5, 7]
    assert back.valid.sum() == back.valid.size - 1


def test_unsaturated_session_has_every_observation_valid(folder):
    assert read_canonical(folder).valid is None


def test_intensities_read_back_per_light_and_default_to_one(folder):
    def change(spec):
        spec["lights"][0]["intensity"] = 2.5
        spec["lights"][1]["intensity"] = 0.5
        del spec["lights"][2]["intensity"]

    edit_lights(folder, change)
    back = read_canonical(folder)
    assert back.intensities.dtype == np.float32
    np.testing.assert_allclose(back.intensities, [2.5, 0.5, 1.0, 1.0])


def test_integer_labels_are_read_as_text(folder):
    edit_lights(folder, lambda spec: spec.update(subject=7, session=2024))
    back = read_canonical(folder)
    assert (back.subject, back.session) == ("7", "2024")
    assert canonical_labels(folder) == ("7", "2024")


@pytest.mark.parametrize(
    ("key", "value", "kind"),
    [("subject", True, "bool"), ("session", 1.5, "float"), ("subject", ["a"], "list")],
)
def test_labels_that_are_not_text_are_refused_by_type(folder, key, value, kind):
    path = edit_lights(folder, lambda spec: spec.update({key: value}))
    error = refusal(folder)
    assert error.path == str(path)
    assert error.problem == f'"{key}" must be a string, not {kind}'


# Values at the edges of what lights.json may hold --------------------------------------


def test_direction_components_up_to_the_limit_are_accepted(folder):
    edit_lights(folder, lambda spec: spec["lights"][0].update(direction=[0, 0, 1e6]))
    back = read_canonical(folder)
    np.testing.assert_allclose(back.directions[0], [0, 0, 1], atol=1e-7)


@pytest.mark.parametrize("intensity", [1e-6, 1e6], ids=["smallest", "largest"])
def test_intensities_at_either_end_of_the_range_are_accepted(folder, intensity):
    edit_lights(folder, lambda spec: spec["lights"][1].update(intensity=intensity))
    back = read_canonical(folder)
    assert back.intensities[1] == pytest.approx(intensity, rel=1e-6)


def test_bad_direction_message_quotes_what_was_written(folder):
    path = edit_lights(folder, lambda spec: spec["lights"][1].update(direction=[0, 0, 0]))
    error = refusal(folder)
    assert error.path == str(path)
    assert error.problem.startswith("light 1 (l1.png): direction must be three finite numbers")
    assert error.problem.endswith("got [0, 0, 0]")


@pytest.mark.parametrize(("value", "shown"), [("bright", "'bright'"), (1e-30, "1e-30")])
def test_bad_intensity_message_quotes_what_was_written(folder, value, shown):
    path = edit_lights(folder, lambda spec: spec["lights"][3].update(intensity=value))
    error = refusal(folder)
    assert error.path == str(path)
    assert error.problem.startswith("light 3 (l3.png): intensity must be a number from")
    assert error.problem.endswith(f"got {shown}")


# Refusals of lights.json: the file named, the problem in words -------------------------


def test_missing_lights_json_is_named(folder):
    (folder / "lights.json").unlink()
    error = refusal(folder)
    assert error.path == str(folder / "lights.json")
    assert error.problem == "missing: a canonical session folder needs lights.json"


def test_unreadable_lights_json_is_named_with_the_system_reason(folder, monkeypatch):
    spec_path = folder / "lights.json"
    real_read_bytes = Path.read_bytes

    def read_bytes(self):
        if self == spec_path:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    with pytest.raises(InputError) as caught:
        canonical_labels(folder)
    assert caught.value.path == str(spec_path)
    assert caught.value.problem == "cannot be read (Permission denied)"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"lights": [' + "1" * 5000 + "]}", "not usable JSON (a number has thousands of digits)"),
        ("[" * 100_000, "not usable JSON (nested too deeply)"),
        ("[]", 'must be an object with a "lights" list'),
        ('{"lights": {}}', 'must be an object with a "lights" list'),
        ('{"lights": [], "attributes": [1, 2]}', '"attributes" must be an object'),
    ],
    ids=["huge-number", "deep", "array", "lights-not-list", "attributes-not-object"],
)
def test_unusable_lights_json_is_named_with_its_problem(folder, text, problem):
    path = folder / "lights.json"
    path.write_text(text, encoding="utf-8")
    error = refusal(folder)
    assert error.path == str(path)
    assert error.problem == problem


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("l1.png", "light 1 must be an object"),
        ({"direction": [0, 0, 1]}, "light 1 has no image: every light needs its capture"),
        ({"image": "", "direction": [0, 0, 1]}, "light 1 has no image: every light needs"),
    ],
    ids=["not-object", "no-image", "empty-image"],
)
def test_malformed_light_entries_are_named_by_index(folder, entry, problem):
    path = edit_lights(folder, lambda spec: spec["lights"].__setitem__(1, entry))
    error = refusal(folder)
    assert error.path == str(path)
    assert error.problem.startswith(problem)


def test_coplanar_lights_are_refused_naming_lights_json(folder):
    flat = [[1, 0, 0], [0, 1, 0], [1, 1, 0], [1, -1, 0]]

    def change(spec):
        for light, direction in zip(spec["lights"], flat, strict=True):
            light["direction"] = direction

    path = edit_lights(folder, change)
    with pytest.raises(LightGeometryError, match="coplanar") as caught:
        read_canonical(folder)
    assert caught.value.path == str(path)


# Refusals about the captures ------------------------------------------------------------


def test_image_outside_the_session_folder_is_refused(folder):
    (folder.parent / "outside.png").write_bytes((folder / "l0.png").read_bytes())
    path = edit_lights(folder, lambda spec: spec["lights"][0].update(image="../outside.png"))
    error = refusal(folder)
    assert error.path == str(path)
    assert error.problem == "image '../outside.png' points outside the session folder"


def test_image_name_that_loops_is_refused_by_name(folder):
    (folder / "loop.png").symlink_to(folder / "loop.png")
    path = edit_lights(folder, lambda spec: spec["lights"][0].update(image="loop.png"))
    error = refusal(folder)
    assert error.path == str(path)
    assert error.problem == (
        "light 0: image 'loop.png' is not a usable file name "
        "(too long, or a symbolic link that loops)"
    )


def test_image_listed_for_two_lights_is_refused(folder):
    path = edit_lights(folder, lambda spec: spec["lights"][2].update(image="l0.png"))
    error = refusal(folder)
    assert error.path == str(path)
    assert error.problem == "image l0.png is listed for two lights"


def test_missing_capture_is_named_itself(folder):
    (folder / "l2.png").unlink()
    error = refusal(folder)
    assert error.path == str(folder / "l2.png")
    assert error.problem == "light 2 names this image, but the file is missing"


def test_capture_without_a_light_is_named_itself(folder):
    (folder / "l4.png").write_bytes((folder / "l0.png").read_bytes())
    error = refusal(folder)
    assert error.path == str(folder / "l4.png")
    assert error.problem == (
        "image has no light in lights.json: add an entry for it or move it away"
    )


# Camera response --------------------------------------------------------------------------


def test_declared_response_is_written_and_decoded_on_reading(tmp_path):
    original, _, _ = sphere_session(size=SIZE)
    folder = write_canonical(tmp_path / "s01" / "v1", original, bits=16, response="srgb")
    assert spec_of(folder)["response"] == "srgb"
    stored, _ = read_image(folder / "l1.png")  # the file's values, not decoded
    np.testing.assert_allclose(stored, from_linear(original.images[1], SRGB), atol=1e-4)
    back = read_canonical(folder)
    assert back.response == SRGB
    np.testing.assert_allclose(back.images, original.images, atol=1e-4)
    assert back.saturation == pytest.approx(float(to_linear(np.float32(0.98), SRGB)))


def test_response_object_is_declared_by_its_text(tmp_path):
    original, _, _ = sphere_session(size=SIZE)
    gamma = parse_response("gamma:2.2")
    folder = write_canonical(tmp_path / "s01" / "v1", original, bits=16, response=gamma)
    assert spec_of(folder)["response"] == "gamma:2.2"
    assert read_canonical(folder).response == gamma


def test_without_a_response_nothing_is_declared_and_pixels_are_as_given(tmp_path):
    original, _, _ = sphere_session(size=SIZE)
    folder = write_canonical(tmp_path / "s01" / "v1", original, bits=16)
    assert "response" not in spec_of(folder)
    back = read_canonical(folder)
    assert back.response == LINEAR
    np.testing.assert_allclose(back.images, original.images, atol=1 / 65535)


def test_asked_response_decodes_a_session_that_declares_none(folder):
    stored = read_canonical(folder)
    back = read_canonical(folder, response=SRGB)
    assert back.response == SRGB
    np.testing.assert_allclose(back.images, to_linear(stored.images, SRGB), atol=1e-6)
    assert back.saturation < stored.saturation  # the clip level is decoded too


def test_asked_response_that_agrees_with_the_declared_one_is_accepted(tmp_path):
    original, _, _ = sphere_session(size=SIZE)
    folder = write_canonical(tmp_path / "s01" / "v1", original, response="srgb")
    assert read_canonical(folder, response=SRGB).response == SRGB


def test_asked_response_that_contradicts_the_declared_one_is_refused(tmp_path):
    original, _, _ = sphere_session(size=SIZE)
    folder = write_canonical(tmp_path.resolve() / "s01" / "v1", original, response="srgb")
    error = refusal(folder, response=parse_response("gamma:2.2"))
    assert error.path == str(folder / "lights.json")
    assert error.problem == (
        'declares "response": "srgb" but --response gamma:2.2 was asked for; '
        "drop --response or correct the file"
    )


@pytest.mark.parametrize(
    ("declared", "problem"),
    [("sepia", "\"response\" 'sepia' is not one of"), (3, '"response" must be a string')],
)
def test_unknown_declared_response_is_refused_naming_lights_json(folder, declared, problem):
    path = edit_lights(folder, lambda spec: spec.update(response=declared))
    error = refusal(folder)
    assert error.path == str(path)
    assert error.problem.startswith(problem)


# Writing -------------------------------------------------------------------------------


def test_ground_truth_is_written_beside_the_captures_and_not_taken_for_one(tmp_path):
    session, normals, mask = sphere_session(size=SIZE)
    albedo = np.where(mask, 0.7, 0.0).astype(np.float32)
    folder = write_canonical(
        tmp_path / "s01" / "v1",
        session,
        ground_truth={"normal": normals, "albedo": albedo, "mask": mask},
    )
    np.testing.assert_array_equal(np.load(folder / "gt_normal.npy"), normals)
    np.testing.assert_array_equal(np.load(folder / "gt_albedo.npy"), albedo)
    stored_mask, _ = read_image(folder / "gt_mask.png")
    assert 0 < mask.sum() < mask.size
    np.testing.assert_array_equal(stored_mask > 0.5, mask)
    assert read_canonical(folder).n_lights == 4


def test_fractional_ground_truth_mask_keeps_every_positive_pixel(tmp_path):
    session, _, mask = sphere_session(size=SIZE)
    weights = np.where(mask, 0.25, 0.0)
    folder = write_canonical(tmp_path / "s01" / "v1", session, ground_truth={"mask": weights})
    stored_mask, _ = read_image(folder / "gt_mask.png")
    np.testing.assert_array_equal(stored_mask > 0.5, mask)


def test_rgb_captures_are_written_in_place_of_the_grey_ones(tmp_path):
    session, _, _ = sphere_session(size=SIZE)
    rgb = np.zeros((session.n_lights, SIZE, SIZE, 3), np.float32)
    rgb[..., 0] = 1.0  # pure red, which the grey captures are not
    rgb[..., 2] = 0.2
    folder = write_canonical(tmp_path / "s01" / "v1", session, rgb_images=rgb)
    stored = cv2.imread(str(folder / "l0.png"), cv2.IMREAD_UNCHANGED)
    assert stored.shape == (SIZE, SIZE, 3)
    np.testing.assert_array_equal(stored[..., ::-1], np.rint(rgb[0] * 255))


@pytest.mark.parametrize("extra", [-1, 1], ids=["fewer", "more"])
def test_rgb_stack_of_another_length_is_refused_and_no_session_is_left(tmp_path, extra):
    session, _, _ = sphere_session(size=SIZE)
    rgb = np.zeros((session.n_lights + extra, SIZE, SIZE, 3), np.float32)
    folder = tmp_path / "s01" / "v1"
    with pytest.raises(ValueError):
        write_canonical(folder, session, rgb_images=rgb)
    assert not (folder / "lights.json").exists()


def test_lights_json_is_laid_out_one_field_per_line_for_editing(folder):
    lines = (folder / "lights.json").read_text(encoding="utf-8").splitlines()
    assert '"subject": "s01",' in [line.strip() for line in lines]
    assert len(lines) > 4 * 3  # each light spans several lines
