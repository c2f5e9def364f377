"""Light rigs: directions, counts and the names accepted."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from synthetic_faces.rigs import parse_rig
from tests.geometry import to_azimuth_elevation, to_zenith_azimuth

YALE_SAMPLE = Path(__file__).parents[3] / "shared" / "data" / "yaleb" / "yaleB01"


def test_photoface_has_four_lights_around_the_camera():
    rig = parse_rig("photoface")
    assert rig.n_lights == 4
    angles = to_zenith_azimuth(rig.directions)
    np.testing.assert_allclose(angles[:, 0], 20.0, atol=1e-4)
    quadrants = {(bool(d[0] > 0), bool(d[1] > 0)) for d in rig.directions}
    assert len(quadrants) == 4


@pytest.mark.parametrize("k", [3, 8, 12])
def test_ring_spaces_k_lights_evenly(k):
    rig = parse_rig(f"ring:{k}")
    assert rig.n_lights == k
    az = np.sort(to_zenith_azimuth(rig.directions)[:, 1] % 360)
    np.testing.assert_allclose(np.diff(az), 360 / k, atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(rig.directions, axis=1), 1, atol=1e-6)


@pytest.mark.skipif(not YALE_SAMPLE.is_dir(), reason="the real Yale B sample is not here")
def test_yale_rig_has_the_dome_angles_of_the_real_file_names():
    rig = parse_rig("yale")
    names = [p.name for p in YALE_SAMPLE.glob("*_P00A*.pgm")]
    found = re.findall(r"A([+-]\d{3})E([+-]\d{2})", " ".join(names))
    real = sorted((float(a), float(e)) for a, e in found)
    back = sorted(map(tuple, np.round(to_azimuth_elevation(rig.directions), 3)))
    assert rig.n_lights == 64 == len(real)
    np.testing.assert_allclose(back, real, atol=1e-3)


def test_a_rig_file_of_vectors_is_read_and_normalised(tmp_path):
    path = tmp_path / "desk.json"
    lights = [[1, 0, 2], [0, 1, 2], [-1, -1, 2]]
    path.write_text(json.dumps({"name": "desk", "convention": "vector", "lights": lights}))
    rig = parse_rig(str(path))
    assert rig.name == "desk" and rig.n_lights == 3
    expected = np.array(lights, float) / np.linalg.norm(lights, axis=1, keepdims=True)
    np.testing.assert_allclose(rig.directions, expected, atol=1e-6)


def test_a_bad_rig_file_is_refused_with_its_name(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"convention": "vector", "lights": [[0, 0, 1]]}))
    with pytest.raises(ValueError, match=r"bad.json.*at least 3"):
        parse_rig(str(path))


@pytest.mark.parametrize("name", ["ring:2", "ring:x", "dome", ""])
def test_bad_rig_names_are_refused(name):
    with pytest.raises(ValueError, match=r"photoface|ring:K"):
        parse_rig(name)
