"""Readers of the three layouts, on small sphere sessions written in each."""

import json

import numpy as np
import pytest

from photostereo.io import find_sessions, load_session, read_canonical, read_photoface, read_yaleb
from photostereo.io.images import read_image, write_image
from photostereo.io.photoface import parse_light_source
from photostereo.lights import from_zenith_azimuth
from photostereo.solvers import solve_shadow_aware
from tests.fixtures import (
    PHOTOFACE_AZIMUTH,
    PHOTOFACE_ZENITH,
    sphere_session,
    write_canonical_sphere,
    write_photoface_sphere,
    write_yaleb_sphere,
)
from tests.scenes import angular_error_deg, sphere


def solved_error(session) -> float:
    normals, mask = sphere(session.images.shape[1])
    result = solve_shadow_aware(session.images, session.directions, mask=mask)
    return angular_error_deg(result.normals, normals, mask & result.mask)


def test_canonical_round_trip_keeps_lights_labels_and_pixels(tmp_path):
    original, _, _ = sphere_session(subject="p7", session="2026-01-05_a")
    folder = tmp_path / "p7" / "2026-01-05_a"
    from photostereo.io import write_canonical

    write_canonical(folder, original, bits=16)
    back = read_canonical(folder)
    assert (back.subject, back.session, back.n_lights) == ("p7", "2026-01-05_a", 4)
    np.testing.assert_allclose(back.directions, original.directions, atol=1e-6)
    np.testing.assert_allclose(back.images, original.images, atol=1.0 / 65535)
    assert solved_error(back) < 0.5


def test_canonical_folder_names_stand_in_for_missing_labels_and_direction_is_normalised(tmp_path):
    folder = write_canonical_sphere(tmp_path / "alice" / "morning")
    spec = json.loads((folder / "lights.json").read_text())
    del spec["subject"], spec["session"]
    for light in spec["lights"]:
        light["direction"] = [3 * v for v in light["direction"]]
        light.pop("intensity")
    (folder / "lights.json").write_text(json.dumps(spec))
    session = read_canonical(folder)
    assert (session.subject, session.session) == ("alice", "morning")
    np.testing.assert_allclose(np.linalg.norm(session.directions, axis=1), 1.0, atol=1e-6)
    assert (session.intensities == 1).all()


def test_rgb_and_8_bit_captures_read_as_luminance_in_unit_range(tmp_path):
    rgb = np.zeros((4, 5, 3), np.float32)
    rgb[..., 0] = 1.0
    write_image(tmp_path / "red.png", rgb)
    image, full = read_image(tmp_path / "red.png")
    assert full == 1.0 and image.shape == (4, 5)
    np.testing.assert_allclose(image, 0.299, atol=2 / 255)


def test_photoface_reader_takes_angles_and_attributes(tmp_path):
    folder = write_photoface_sphere(tmp_path / "1001" / "2008-02-23_12-21-31")
    session = read_photoface(folder)
    assert (session.subject, session.session) == ("1001", "2008-02-23_12-21-31")
    np.testing.assert_allclose(
        session.directions, from_zenith_azimuth(PHOTOFACE_ZENITH, PHOTOFACE_AZIMUTH), atol=1e-6
    )
    assert session.attributes["gender"] == "female"
    assert session.attributes["expression"] == "positive"
    assert session.attributes["pose"] == 1
    assert solved_error(session) < 1.0


def test_photoface_captures_pair_with_lights_in_natural_name_order(tmp_path):
    folder = write_photoface_sphere(tmp_path / "1001" / "s1")
    (folder / "im4.bmp").rename(folder / "im10.bmp")
    session = read_photoface(folder)
    assert session.image_names == ("im1.bmp", "im2.bmp", "im3.bmp", "im10.bmp")
    assert solved_error(session) < 1.0  # im10 still pairs with the fourth light


@pytest.mark.parametrize(
    "text",
    [
        "Zenith(1) = 20; Zenith(2) = 20; Zenith(3) = 20; Zenith(4) = 20;\n"
        "Azimuth(1) = 45; Azimuth(2) = 135; Azimuth(3) = 225; Azimuth(4) = 315;\n",
        "LightSource = [20 45; 20 135; 20 225; 20 315];  % zenith, azimuth\n",
        "zenith = [0.349066 0.349066 0.349066 0.349066];\n"
        "azimuth = [0.785398 2.356194 3.926991 5.497787];  % radians\n",
        "units = 'degrees';\nzenith = [20, 20, ...\n 20, 20]';\nazimuth = [45; 135; 225; 315];\n",
    ],
)
def test_photoface_light_file_forms_agree(tmp_path, text):
    path = tmp_path / "LightSource.m"
    path.write_text(text)
    zenith, azimuth = parse_light_source(path)
    directions = from_zenith_azimuth(zenith, azimuth, degrees=zenith.max() > np.pi / 2)
    expected = from_zenith_azimuth(PHOTOFACE_ZENITH, PHOTOFACE_AZIMUTH)
    np.testing.assert_allclose(directions, expected, atol=1e-5)


def test_yaleb_reader_takes_angles_from_names_skips_bad_and_subtracts_ambient(tmp_path):
    folder = write_yaleb_sphere(tmp_path / "yaleB99", ambient=0.1)
    (folder / "yaleB99_P00A+000E+45.pgm.bad").write_bytes(b"not an image")
    session = read_yaleb(folder)
    assert (session.subject, session.session, session.n_lights) == ("yaleB99", "P00", 7)
    assert solved_error(session) < 1.0


def test_find_sessions_walks_a_mixed_tree_in_a_stable_order(tmp_path):
    write_canonical_sphere(tmp_path / "b" / "v1")
    write_canonical_sphere(tmp_path / "a" / "v2")
    write_photoface_sphere(tmp_path / "pf" / "1001" / "s1")
    write_yaleb_sphere(tmp_path / "yale" / "yaleB05")
    refs = find_sessions(tmp_path)
    assert [r.layout for r in refs] == ["canonical", "canonical", "photoface", "yaleb"]
    assert [r.path.name for r in refs] == ["v2", "v1", "s1", "yaleB05"]
    assert all(load_session(r).n_lights >= 4 for r in refs)


@pytest.mark.skipif(
    not __import__("pathlib").Path(__file__).parents[2].joinpath("shared/data/yaleb").is_dir(),
    reason="the real Yale B sample (../shared/data/yaleb) is not in this checkout",
)
def test_real_yaleb_nose_protrudes_toward_the_camera():
    from pathlib import Path

    from photostereo.reconstruct import reconstruct

    root = Path(__file__).parents[2] / "shared" / "data" / "yaleb"
    for subject in ("yaleB01", "yaleB05", "yaleB09"):
        rec = reconstruct(load_session(root / subject))
        depth = rec.depth
        h, w = depth.shape
        # the cropped set centres the face: the nose tip lies on the middle column,
        # a little below the middle row; the cheeks lie a quarter width to each side
        rows = slice(int(0.50 * h), int(0.62 * h))
        nose = np.nanmax(depth[rows, int(0.42 * w) : int(0.58 * w)])
        cheeks = np.nanmedian(
            np.concatenate(
                [
                    depth[rows, int(0.15 * w) : int(0.25 * w)].ravel(),
                    depth[rows, int(0.75 * w) : int(0.85 * w)].ravel(),
                ]
            )
        )
        print(f"{subject}: nose {nose:.1f} px above the cheeks' {cheeks:.1f}")
        assert nose - cheeks > 5.0
