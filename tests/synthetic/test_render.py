"""Shading and shadows against known answers."""

from __future__ import annotations

import numpy as np

from photostereo.lights import from_zenith_azimuth
from synthetic_faces.generate import SynthConfig, build_scene
from synthetic_faces.render import RenderSettings, cast_shadow, shade


def test_a_block_casts_a_shadow_of_the_predicted_length():
    depth = np.zeros((64, 64), np.float32)
    depth[20:44, 10:20] = 10.0  # a 10 px tall block
    light = from_zenith_azimuth(45.0, 180.0)  # from the left, 45 degrees up: shadow 10 px long
    vis = cast_shadow(depth, light, penumbra=0.5)
    row = vis[32]
    assert (row[10:20] == 1).all()  # the block's top is lit
    assert (row[21:29] == 0).all()  # shadow on the floor to its right, within its length
    assert (row[32:] == 1).all()  # and none beyond it
    assert (vis[:18] == 1).all()


def test_a_light_along_the_axis_casts_no_shadow():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0, 30, (32, 32)).astype(np.float32)
    assert (cast_shadow(depth, np.array([0, 0, 1.0])) == 1).all()


def test_shading_without_shadows_is_albedo_times_cosine():
    rng = np.random.default_rng(1)
    n = rng.normal(size=(8, 8, 3)).astype(np.float32)
    n[..., 2] = np.abs(n[..., 2]) + 1
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    albedo = rng.uniform(0.2, 0.9, (8, 8, 1)).astype(np.float32)
    lights = from_zenith_azimuth(np.array([20.0, 30.0]), np.array([0.0, 120.0]))
    out = shade(n, albedo, lights, np.array([1.0, 0.5]), settings=RenderSettings.ideal())
    expected = albedo[None, ..., 0] * np.maximum(n @ lights.T, 0).transpose(2, 0, 1)
    expected[1] *= 0.5
    np.testing.assert_allclose(out[..., 0], expected, atol=1e-6)


def test_the_nose_shadows_the_cheek_under_a_side_light():
    config = SynthConfig(subjects=1, size=128, seed=3)
    scene, _, _ = build_scene(config, 0, 0)
    side = from_zenith_azimuth(60.0, 180.0)  # from the image's left
    vis = cast_shadow(scene.depth, side, receivers=scene.person > 0.5)
    shadowed = (vis < 0.5) & scene.mask
    _, cols = np.nonzero(scene.mask)
    centre = cols.mean()
    # Shadow inside the face lands right of the nose (away from the light), not left of it.
    right = shadowed[:, int(centre) :].sum()
    left = shadowed[:, : int(centre) - 4].sum()
    assert right > 20 and right > 5 * left
