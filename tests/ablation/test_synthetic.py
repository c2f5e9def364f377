"""The synthetic ablation measures what physics demands of each factor.

Every cell renders the same 3 people x 2 sessions, cropped to 64 px (seed 0, repeat 0); the
figures in the docstrings were measured so (``pytest -s`` prints them).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from ablation.factors import Conditions
from ablation.maps import cone_rig, session_maps, told_calibration
from ablation.synthetic import SynthData, captured, parse_synth, score, truth_in_crop
from psbase.errors import ConfigError
from synthetic_faces.generate import SynthConfig, render_visit
from synthetic_faces.render import RenderSettings

DATA = SynthData(people=3, sessions=2)
#: The default cell at 64 px.
BASE = Conditions(size=64)
#: Photometric stereo's exact conditions: no noise, room light, shadows, shine or bounce.
EXACT = Conditions(
    size=64, noise=0.0, ambient=0.0, shadows=False, specular=0.0, bounce=0.0, solver="plain"
)


@cache
def measures(conditions: Conditions) -> dict[str, float]:
    return DATA.evaluate(conditions, 0, [])


def errors(name: str, low: object, high: object, base: Conditions = BASE) -> tuple[float, float]:
    """The mean normal error (degrees) of the cells ``name=low`` and ``name=high``."""
    a, b = (measures(base.with_cell({name: v}))["normal_error_deg"] for v in (low, high))
    print(f"\n{name} {low} -> {high}: normal error {a:.2f} -> {b:.2f} deg")
    return a, b


def test_more_lights_lower_the_error_under_noise():
    """3 -> 8 lights: 7.21 -> 5.70 deg (noise 0.02). More lights average the noise and
    leave fewer pixels short of three unshadowed lights. At the default noise (0.002)
    the systematic errors (shine, room light, bounce) dominate and 8 lights gain little
    (5.36 -> 4.93 deg), so the cell is noisy to show what lights can do."""
    three, eight = errors("lights", 3, 8, BASE.with_cell({"noise": 0.02}))
    assert eight < 0.85 * three


def test_calibration_error_raises_the_error():
    """calib_deg 0 -> 10: 4.70 -> 10.92 deg; a told direction 10 degrees off tilts the
    normals by about as much."""
    exact, off = errors("calib_deg", 0.0, 10.0)
    assert off > exact + 4.0


def test_noise_raises_the_error():
    """noise 0 -> 0.05 (read; shot 0.075): 4.64 -> 9.54 deg."""
    clean, noisy = errors("noise", 0.0, 0.05)
    assert noisy > clean + 3.0


def test_room_light_raises_the_error_with_shadows():
    """ambient 0 -> 0.5, cast shadows on: 4.31 -> 9.67 deg; room light is an offset the
    Lambertian model has no term for."""
    dark, lit = errors("ambient", 0.0, 0.5, BASE.with_cell({"shadows": True}))
    assert lit > dark + 4.0


def test_a_narrow_cone_raises_the_error_under_noise():
    """spread 45 -> 8 degrees, plain least squares, noise 0.02: 6.52 -> 14.77 deg: close
    lights make an ill-conditioned system that amplifies noise. The shadow solver's pull
    toward the neighbours removes much of that noise (6.30 -> 8.74 deg), and without
    noise a narrow cone casts fewer shadows and can even do better."""
    wide, narrow = errors("spread", 45.0, 8.0, BASE.with_cell({"noise": 0.02, "solver": "plain"}))
    assert narrow > wide + 2.0


def test_exact_conditions_recover_normals_albedo_and_depth():
    """Noise-free, matt, unshadowed, told exactly, plain solver: 0.17 deg normal error
    (8-bit quantisation about 0.25 deg; under the 0.5 deg noise-free bound of
    tests/test_solvers.py), 0.15% albedo error, nothing unsolved, and depth error 0.13 of
    the true depth's spread: the masked integrator joins the face to the lit backdrop
    around it across the silhouette's depth step."""
    figures = measures(EXACT)
    print(f"\nexact conditions: {figures}")
    assert figures["normal_error_deg"] < 0.5
    assert figures["albedo_error"] < 0.02
    assert figures["unsolved"] == 0.0
    assert figures["depth_error"] < 0.3


def test_recovered_depth_is_in_the_units_of_the_ground_truth():
    """The least-squares scale from recovered to true depth over the face is 1.05 (ideal
    render, 4 lights 30 degrees off axis): both are in crop pixels."""
    config = SynthConfig(
        subjects=1, sessions=1, rig="ring:4", size=64, settings=RenderSettings.ideal()
    )
    visit = render_visit(config, 0, 0)
    _, rec, matrix = session_maps(
        captured(visit, visit.directions, visit.intensities), EXACT, visit.subject, 0
    )
    truth = truth_in_crop(visit, matrix, 64)
    both = truth["mask"] & rec.mask
    found = rec.depth[both] - rec.depth[both].mean()
    true = truth["depth"][both] - truth["depth"][both].mean()
    scale = float(found @ true / (found @ found))
    print(f"\ndepth scale {scale:.3f}, {score(rec, truth)}")
    assert scale == pytest.approx(1.0, abs=0.08)


def test_a_cell_is_the_same_every_time():
    """Common random numbers: every draw is keyed by (seed, repeat, person, session)."""
    assert DATA.evaluate(EXACT, 0, []) == measures(EXACT)


def test_told_calibration_turns_by_the_asked_rms():
    """10 degrees RMS over 4000 lights: unit directions turned 10 degrees RMS, intensity
    gains of RMS 0.1 about 1, all positive; with no error the inputs come back as given."""
    directions = cone_rig(4000, 30.0, 12.0)
    intensities = np.linspace(0.5, 1.5, 4000, dtype=np.float32)
    same = told_calibration(directions, intensities, 0.0, 0.0, np.random.default_rng(1))
    np.testing.assert_array_equal(same[0], directions)
    np.testing.assert_array_equal(same[1], intensities)
    told, gains = told_calibration(directions, intensities, 10.0, 0.1, np.random.default_rng(1))
    angles = np.degrees(np.arccos(np.clip(np.einsum("kc,kc->k", told, directions), -1, 1)))
    np.testing.assert_allclose(np.linalg.norm(told, axis=1), 1.0, atol=1e-6)
    assert np.sqrt(np.mean(angles**2)) == pytest.approx(10.0, rel=0.05)
    assert np.std(gains / intensities) == pytest.approx(0.1, rel=0.05)
    assert (gains > 0).all()


def test_cone_rig_is_an_even_ring_at_the_spread():
    rig = cone_rig(6, 20.0, 15.0)
    np.testing.assert_allclose(np.degrees(np.arccos(rig[:, 2])), 20.0, atol=1e-4)
    azimuths = np.degrees(np.arctan2(rig[:, 1], rig[:, 0])) % 360
    np.testing.assert_allclose(np.sort(azimuths), 15.0 + 60.0 * np.arange(6), atol=1e-4)


@pytest.mark.parametrize(
    ("text", "people", "sessions"),
    [("synth:20x3", 20, 3), ("synth: 4 X 2", 4, 2), ("SYNTH:4×2", 4, 2), (" synth:1x5 ", 1, 5)],
)
def test_parse_synth_reads_people_and_sessions(text, people, sessions):
    data = parse_synth(text)
    assert (data.people, data.sessions, data.seed, data.kind) == (people, sessions, 0, "synth")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("synth:20x1", "2 sessions"),
        ("synth:0x3", "1 person"),
        ("synth:20", "synth:PEOPLExSESSIONS"),
        ("synth:20x3x2", "synth:PEOPLExSESSIONS"),
        ("synth:ax3", "synth:PEOPLExSESSIONS"),
        ("real:yaleb", "synth:PEOPLExSESSIONS"),
    ],
)
def test_parse_synth_refuses_other_spellings(text, says):
    with pytest.raises(ConfigError, match=says) as error:
        parse_synth(text)
    assert "\n" not in str(error.value)
