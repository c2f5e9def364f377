"""The generator is no kinder than a real camera: room light, cast shadows, highlights, response."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from photostereo.io.canonical import read_canonical
from photostereo.io.images import read_image
from photostereo.lights import from_zenith_azimuth
from photostereo.response import from_linear, parse_response
from synthetic_faces.face import face_fields, sample_identity
from synthetic_faces.generate import SynthConfig, build_scene, generate, render_visit
from synthetic_faces.grid import FaceGrid
from synthetic_faces.render import (
    RenderSettings,
    miscalibrate,
    shading_terms,
    specular_lobe,
)
from synthetic_faces.rigs import parse_rig
from tests.scenes import dimmed_patch_scene, face_like_scene

#: Four lamps 45 degrees off the camera, from the right, top, left and bottom.
SIDE_RIG = np.vstack([from_zenith_azimuth(45.0, a) for a in (0.0, 90.0, 180.0, 270.0)])


def test_cast_shadows_are_lifted_to_10_to_30_percent_of_the_lit_level():
    floors = np.concatenate([face_like_scene(SIDE_RIG, seed=s).shadow_floor() for s in range(3)])
    print(f"cast-shadow floor / lit level: {np.percentile(floors, [10, 50, 90]).round(3)}")
    assert floors.size > 50  # measured 156 umbra observations over three faces
    assert 0.1 <= np.median(floors) <= 0.3  # measured 0.22


def test_cast_shadows_sit_above_the_dark_floors_so_a_threshold_cannot_find_them():
    """Every cast-shadowed observation is above a dark floor of 1% of full scale and of
    5% of the pixel's brightest observation (the shadow solver's two thresholds): it is
    not dark, only wrong, so only a fit can expose it."""
    scene = face_like_scene(SIDE_RIG, seed=0, exposure=1.2)
    shadowed = scene.cast_shadow & (scene.terms.visibility < 0.05)
    brightest = scene.images.max(axis=0, keepdims=True)
    above = (scene.images > 0.01) & (scene.images > 0.05 * brightest)
    print(f"{shadowed.sum()} umbra observations, {above[shadowed].mean():.1%} above both floors")
    assert shadowed.sum() > 50  # measured 110
    assert above[shadowed].all()
    # Without the room light they sit at the dark floor, where the old scenes left them.
    dark = face_like_scene(SIDE_RIG, seed=0, ambient=0.0, interreflection=0.0, exposure=1.2)
    assert (dark.images[shadowed] <= 0.01).mean() > 0.9  # measured 1.0


def test_the_nose_shadows_the_cheek_under_a_side_light_and_the_room_lifts_it():
    config = SynthConfig(subjects=1, size=128, seed=3)
    scene, _, _ = build_scene(config, 0, 0)
    side = from_zenith_azimuth(60.0, 180.0)[None]  # from the image's left
    terms = shading_terms(
        scene.normal,
        scene.albedo[..., :1],
        side,
        np.ones(1),
        depth=scene.depth,
        receivers=scene.person > 0.5,
        specular_map=scene.specular,
    )
    umbra = (terms.visibility[0] < 0.05) & terms.facing[0] & scene.mask
    level = terms.radiance()[0, ..., 0]
    assert umbra.sum() > 20
    assert (level[umbra] > 0.02).all()  # the room light and bounced light reach it


def _region_shine(seed: int) -> dict[str, float]:
    """Median shine of the nose, the forehead and the cheeks of one person's bare skin."""
    ident = sample_identity(np.random.default_rng(seed))
    grid = FaceGrid(160, 40.0)
    fields = face_fields(ident, grid)
    u, v = grid.uv()
    skin = fields.face > 0.5
    cheek_u, cheek_v = ident.eye_u + 0.12, ident.cheek_v - 0.04
    regions = {
        "nose": (np.abs(u) < 0.04) & (v > ident.nose_tip_v) & (v < ident.eye_v),
        "forehead": (np.abs(u) < 0.3) & (v > ident.eye_v + 0.3) & (v < ident.eye_v + 0.5),
        "cheeks": (np.abs(np.abs(u) - cheek_u) < 0.08) & (np.abs(v - cheek_v) < 0.06),
    }
    return {
        name: float(np.median(fields.specular[where & skin])) for name, where in regions.items()
    }


def test_highlights_are_strongest_on_the_t_zone():
    shine = [_region_shine(seed) for seed in range(12)]
    nose, forehead = (np.median([s[k] / s["cheeks"] for s in shine]) for k in ("nose", "forehead"))
    print(f"shine over the cheeks': nose {nose:.2f}, forehead {forehead:.2f} (medians, 12 people)")
    assert nose > 2.0  # measured 2.4
    assert forehead > 1.4  # measured 1.7


def test_the_highlight_is_white():
    rgb = face_like_scene("photoface", seed=2)
    peak = np.unravel_index(np.argmax(rgb.terms.specular), rgb.terms.specular.shape)
    assert rgb.terms.specular[peak] > 0.05
    settings = RenderSettings(cast_shadows=False, ambient=0.0, interreflection=0.0)
    colour = np.broadcast_to(np.array([0.6, 0.4, 0.3], np.float32), (*rgb.mask.shape, 3))
    terms = shading_terms(
        rgb.normals,
        colour,
        rgb.directions,
        rgb.intensities,
        settings=settings,
        specular_map=np.ones(rgb.mask.shape, np.float32),
    )
    radiance = terms.radiance()
    extra = radiance - terms.diffuse  # the highlight alone, in each channel
    np.testing.assert_allclose(extra[..., 0], extra[..., 2], atol=1e-6)
    assert extra.max() > 0.05


def test_highlights_reach_over_half_the_diffuse_level_and_clip_rarely():
    scene = face_like_scene("photoface", seed=1)
    diffuse = scene.terms.diffuse[..., 0] + scene.terms.ambient[None, ..., 0]
    ratio = scene.terms.specular[:, scene.mask] / diffuse[:, scene.mask]
    print(
        f"highlight / diffuse on the face: 90th {np.percentile(ratio, 90):.2f}, "
        f"99th {np.percentile(ratio, 99):.2f}; "
        f"highlights >= 10%: {scene.specular[:, scene.mask].mean():.1%}"
    )
    assert np.percentile(ratio, 99) > 0.3  # measured 0.70
    assert 0.02 < scene.specular[:, scene.mask].mean() < 0.5  # measured 0.09
    assert scene.saturated[:, scene.mask].mean() < 0.01  # measured 0.04%


def test_torrance_sparrow_lobe_peaks_just_beyond_the_half_vector():
    light = from_zenith_azimuth(40.0, 0.0)
    half = (light + np.array([0, 0, 1.0])) / np.linalg.norm(light + np.array([0, 0, 1.0]))
    tilts = np.radians(np.linspace(0.0, 40.0, 81))
    normals = np.stack([np.sin(tilts), 0 * tilts, np.cos(tilts)], axis=-1)[None].astype(np.float32)
    lobe = specular_lobe(normals, light, roughness=0.3)[0]
    # Torrance and Sparrow's off-specular peak: a little beyond the half-vector (here
    # 20 degrees), pushed out by the 1 / (n.v) foreshortening.
    offset = np.degrees(tilts[np.argmax(lobe)]) - np.degrees(np.arccos(half[2]))
    assert 0.0 <= offset <= 2.0  # measured 1.0
    away = specular_lobe(np.array([[[-1.0, 0.0, 0.0]]], np.float32), light, 0.3)
    assert away[0, 0] == 0.0  # no highlight on a surface facing away from the lamp


def test_ground_truth_is_the_same_whatever_the_render_settings():
    ideal = render_visit(
        SynthConfig(subjects=1, size=64, seed=8, settings=RenderSettings.ideal()), 0, 0
    )
    real = render_visit(SynthConfig(subjects=1, size=64, seed=8), 0, 0)
    for key in ("normal", "albedo", "mask"):
        np.testing.assert_array_equal(ideal.ground_truth[key], real.ground_truth[key])
    np.testing.assert_array_equal(ideal.ground_truth["depth"], real.ground_truth["depth"])
    assert not np.allclose(ideal.images, real.images, atol=0.01)


@pytest.mark.parametrize("response", ["linear", "srgb", "gamma:2.2"])
def test_the_response_is_applied_to_the_files_and_declared_for_the_reader(tmp_path, response):
    settings = replace(RenderSettings(), response=response)
    config = SynthConfig(subjects=1, sessions=1, size=48, seed=2, bits=16, settings=settings)
    (folder,) = generate(tmp_path, config)
    spec = json.loads((folder / "lights.json").read_text())
    assert spec["response"] == response
    visit = render_visit(config, 0, 0)
    stored = read_image(folder / "l0.png")[0]
    expected = from_linear(visit.images[0], parse_response(response))
    np.testing.assert_allclose(stored, expected, atol=1.5 / 65535)
    np.testing.assert_allclose(visit.stored()[0], expected)
    # The reader undoes it: the session's captures are the linear renders.
    np.testing.assert_allclose(read_canonical(folder).images, visit.images, atol=2e-4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"response": "log"}, "log"),
        ({"ambient": -0.1}, "ambient"),
        ({"roughness": 0.0}, "roughness"),
        ({"ambient_jitter": 1.0}, "ambient_jitter"),
    ],
)
def test_bad_render_settings_are_refused_with_a_sentence(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RenderSettings(**kwargs)


def test_face_like_scene_marks_each_failure_mode():
    lambert = face_like_scene("ring:6", ambient=0.0, specular=0.0, interreflection=0.0)
    real = face_like_scene("ring:6")
    assert real.mask.sum() > 1000
    for marks in (real.specular, real.cast_shadow, real.attached, real.saturated):
        assert not marks[:, ~real.mask].any()  # marked inside the face only
    assert real.specular.any() and not lambert.specular.any()
    assert real.cast_shadow.any()
    np.testing.assert_array_equal(real.cast_shadow, lambert.cast_shadow)
    np.testing.assert_array_equal(real.normals, lambert.normals)


def test_dimmed_patch_scene_dims_each_light_on_its_own_patch():
    scene = dimmed_patch_scene()
    assert scene.dimmed is not None and scene.dimmed.shape == scene.images.shape
    counts = scene.dimmed.sum(axis=(1, 2))
    assert (counts > 100).all()  # measured 133-144 of 144 per light
    assert scene.dimmed.sum(axis=0).max() == 1  # one light per patch
    clean = face_like_scene(
        "photoface", ambient=0.0, cast_shadows=False, specular=0.0, interreflection=0.0
    )
    np.testing.assert_allclose(
        scene.images[scene.dimmed], 0.4 * clean.images[scene.dimmed], rtol=1e-6
    )
    np.testing.assert_array_equal(scene.images[~scene.dimmed], clean.images[~scene.dimmed])


def test_the_lamps_are_a_degree_from_where_the_session_records_them():
    settings = RenderSettings()
    recorded = np.repeat(from_zenith_azimuth(30.0, 45.0)[None], 4000, axis=0)
    true, power = miscalibrate(recorded, np.ones(4000), np.random.default_rng(0), settings)
    angles = np.degrees(np.arccos(np.clip(np.einsum("kc,kc->k", true, recorded), -1, 1)))
    rms = float(np.sqrt(np.mean(angles**2)))
    print(f"lamp direction error RMS {rms:.2f} deg, intensity error RMS {np.std(power):.3f}")
    assert abs(rms - settings.direction_error) < 0.05  # measured 1.00
    assert abs(np.std(power) - settings.intensity_error) < 0.003  # measured 0.030
    np.testing.assert_allclose(np.linalg.norm(true, axis=1), 1.0, atol=1e-6)
    visit = render_visit(SynthConfig(subjects=1, size=48, seed=1), 0, 0)
    np.testing.assert_allclose(visit.directions, parse_rig("photoface").directions)
