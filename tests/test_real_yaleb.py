"""Real-data protocol: metrics on hand-made arrays, the protocol's rules, plain on Yale B.

The metric and protocol-rule tests need nothing outside the repository. The tests marked
``needs_data`` read the Extended Yale B captures in ``../shared/data/yaleb`` and skip
only where that folder is absent (a user's clone).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from photostereo.realdata import (
    albedo_spread,
    angular_error_deg,
    area_resize_matrix,
    face_mask,
    load_protocol,
    rank1,
    recognition_vector,
    relighting_error,
    resize_area,
    run_protocol,
    session_error,
    trimmed_fit,
)
from photostereo.realdata.protocol import (
    FRONT_MAX_TILT,
    MAX_CONDITION,
    RING_ZENITHS,
    SESSION_SIZES,
    SIDES,
    build_protocol,
    condition_number,
    is_valid_session,
    light_directions,
    tilt_deg,
)
from photostereo.realdata.reference import ReferenceFit
from synthetic_faces.rigs import RIGS_DIR

ROOT = Path(__file__).parents[1]
DATA = Path(__file__).parents[1].parent / "shared" / "data" / "yaleb"
PROTOCOL = ROOT / "data" / "protocols" / "yaleb.json"
SCRIPT = ROOT / "scripts" / "make_yaleb_protocol.py"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"{DATA} (Extended Yale B) is absent")


def unit(v) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def tilted(degrees: float) -> np.ndarray:
    """The camera axis tilted ``degrees`` toward +x."""
    t = np.radians(degrees)
    return np.array([np.sin(t), 0.0, np.cos(t)])


# --- metrics on hand-made arrays ---------------------------------------------------------


def test_angular_error_of_known_tilts_ignores_length_and_flags_zero():
    reference = np.broadcast_to([0.0, 0.0, 1.0], (1, 4, 3))
    normals = np.stack([tilted(0), 2 * tilted(30), tilted(90), np.zeros(3)])[None]
    error = angular_error_deg(normals, reference)
    np.testing.assert_allclose(error[0, :3], [0.0, 30.0, 90.0], atol=1e-6)
    assert np.isnan(error[0, 3])


def test_session_error_averages_solved_face_pixels_and_counts_unsolved_apart():
    reference = np.broadcast_to([0.0, 0.0, 1.0], (2, 3, 3))
    normals = np.stack([tilted(a) for a in (0, 30, 60, 10, 20, 80)]).reshape(2, 3, 3)
    face = np.array([[True, True, True], [True, False, False]])
    solved = np.array([[True, True, True], [False, True, True]])
    error, unsolved = session_error(normals, solved, reference, face)
    assert error == pytest.approx(30.0)  # (0 + 30 + 60) / 3; the 10 is unsolved, 20, 80 off face
    assert unsolved == pytest.approx(0.25)
    nothing, all_unsolved = session_error(normals, np.zeros_like(solved), reference, face)
    assert np.isnan(nothing) and all_unsolved == 1.0


def test_albedo_spread_is_std_over_mean_on_pixels_solved_everywhere():
    albedos = np.array([[[1.0, 5.0, 2.0]], [[3.0, 5.0, 9.0]]])  # (S=2, H=1, W=3)
    solved = np.array([[[True, True, True]], [[True, True, False]]])
    face = np.array([[True, True, True]])
    # pixel 0: std 1 / mean 2 = 0.5; pixel 1: 0; pixel 2 unsolved in one session
    assert albedo_spread(albedos, solved, face) == pytest.approx(0.25)
    assert np.isnan(albedo_spread(albedos, solved, np.array([[False, False, True]])))


def test_area_resize_matrix_averages_the_covered_span():
    np.testing.assert_allclose(area_resize_matrix(4, 2), [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
    np.testing.assert_allclose(area_resize_matrix(3, 2), [[2 / 3, 1 / 3, 0], [0, 1 / 3, 2 / 3]])
    np.testing.assert_allclose(area_resize_matrix(168, 64).sum(axis=1), 1.0)


def test_resize_area_matches_the_dense_product_and_keeps_constants():
    rng = np.random.default_rng(0)
    maps = rng.uniform(size=(2, 3, 192, 168))
    dense = area_resize_matrix(192, 64) @ maps @ area_resize_matrix(168, 64).T
    np.testing.assert_allclose(resize_area(maps), dense, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(resize_area(np.full((192, 168), 0.7)), 0.7, rtol=1e-6)


def test_recognition_vector_is_unit_centred_and_blind_to_gain_and_offset():
    rng = np.random.default_rng(1)
    small = rng.uniform(size=(3, 8, 8))
    mask = np.zeros((8, 8), bool)
    mask[2:7, 1:6] = True
    v = recognition_vector(small, mask)
    assert v.shape == (3 * 25,)
    assert np.linalg.norm(v) == pytest.approx(1.0)
    np.testing.assert_allclose(v.reshape(3, 25).sum(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(recognition_vector(4.0 * small + 2.0, mask), v, atol=1e-12)
    small[:, ~mask] = 99.0  # outside the mask: no say
    np.testing.assert_allclose(recognition_vector(small, mask), v, atol=1e-12)
    assert not recognition_vector(np.ones((8, 8)), mask).any()


def test_rank1_counts_probes_whose_nearest_gallery_entry_shares_their_label():
    gallery = unit([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    labels = np.array(["a", "b", "c"])
    probes = unit([[0.9, 0.1, 0], [0.2, 0.1, 0.9], [0.1, 0.9, 0.2]])
    assert rank1(gallery, labels, probes, np.array(["a", "b", "b"])) == pytest.approx(2 / 3)


def test_relighting_error_is_zero_for_the_true_surface_and_skips_shadowed_observations():
    normals = np.broadcast_to(tilted(20), (4, 5, 3)).copy()
    albedo = np.full((4, 5), 0.8)
    lights = unit([[0.3, 0.2, 1.0], [-0.4, 0.0, 1.0], [0.0, -0.5, 1.0]])
    held = np.maximum(0.0, np.einsum("kc,hwc->khw", lights, normals * albedo[..., None]))
    face, solved = np.ones((4, 5), bool), np.ones((4, 5), bool)
    assert relighting_error(normals, albedo, solved, lights, held, face) == pytest.approx(0.0)
    # 10% too bright everywhere: RMS 0.1 I over mean I is 0.1 for a constant image
    assert relighting_error(
        normals, 1.1 * albedo, solved, lights[:1], held[:1], face
    ) == pytest.approx(0.1)
    cast = held.copy()
    cast[0, :2] = 0.0  # a cast shadow the model cannot predict does not count
    assert relighting_error(normals, albedo, solved, lights, cast, face) == pytest.approx(0.0)


def sphere_scene(size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Normals (H, W, 3) of a sphere filling the frame, and its mask."""
    rows, cols = np.mgrid[0:size, 0:size]
    x = (cols + 0.5) / size * 2 - 1
    y = 1 - (rows + 0.5) / size * 2
    inside = x**2 + y**2 < 0.8
    z = np.sqrt(np.clip(1 - x**2 - y**2, 0, None))
    return np.where(inside[..., None], np.stack([x, y, z], -1), [0.0, 0.0, 1.0]), inside


def test_trimmed_fit_recovers_a_sphere_through_shadows_and_highlights():
    normals, inside = sphere_scene()
    rng = np.random.default_rng(2)
    lights = unit(rng.normal(size=(40, 3)) * [0.6, 0.6, 0.3] + [0, 0, 1])
    albedo = 0.6
    shading = np.einsum("kc,hwc->khw", lights, normals)
    images = albedo * np.maximum(0.0, shading)
    order = np.argsort(rng.uniform(size=images.shape), axis=0)  # 4 random lights per pixel
    np.put_along_axis(images, order[:2], 0.0, axis=0)  # cast shadows
    np.put_along_axis(images, order[2:4], np.take_along_axis(images, order[2:4], 0) + 1.0, 0)
    fit = trimmed_fit(images, lights)
    # trimming drops floor(0.3 K) = 12 dark: the 2 cast shadows and up to 10 attached ones
    # (and floor(0.1 K) = 4 bright, the 2 highlights among them)
    fits = inside & ((shading <= 0).sum(axis=0) <= 10)
    assert fits.sum() > 0.6 * inside.sum()
    assert np.nanmax(angular_error_deg(fit.normals, normals)[fits]) < 1e-3
    np.testing.assert_allclose(fit.albedo[fits], albedo, rtol=1e-5)
    assert np.median(fit.relative_residual[fits]) < 1e-5


def test_face_mask_keeps_bright_well_fitted_well_determined_pixels():
    shape = (1, 4)
    reference = ReferenceFit(
        normals=np.zeros((*shape, 3), np.float32),
        albedo=np.array([[1.0, 1.0, 0.2, 1.0]], np.float32),
        relative_residual=np.array([[0.05, 0.5, 0.05, 0.05]], np.float32),
        light_spread=np.array([[0.1, 0.1, 0.1, 0.001]], np.float32),
    )
    np.testing.assert_array_equal(face_mask(reference), [[True, False, False, False]])


# --- the protocol's rules, on the names of the Yale B dome --------------------------------


def yale_names(person: str) -> list[str]:
    rig = json.loads((RIGS_DIR / "yale.json").read_text(encoding="utf-8"))
    return [f"{person}_P00A{a:+04d}E{e:+03d}.pgm" for a, e in rig["lights"]]


@pytest.fixture(scope="module")
def dome_protocol() -> dict:
    return build_protocol({p: yale_names(p) for p in ("yaleB01", "yaleB02")}, seed=0)


def test_protocol_sessions_follow_their_side_rules(dome_protocol):
    for person in dome_protocol["people"].values():
        sessions = person["sessions"]
        assert sorted((s["side"], len(s["lights"])) for s in sessions) == sorted(
            (side, size) for side in SIDES for size in SESSION_SIZES
        )
        for s in sessions:
            assert set(s["lights"]) <= set(person["reference"])
            assert len(set(s["lights"])) == len(s["lights"])
            d = light_directions(s["lights"])
            assert condition_number(d) < MAX_CONDITION
            assert is_valid_session(d, s["side"])
            axis = SIDES[s["side"]]
            if axis is None:
                assert (tilt_deg(d) <= FRONT_MAX_TILT).all()
            else:
                assert (d[:, :2] @ np.asarray(axis) >= -1e-9).all()
                assert d.mean(axis=0)[:2] @ np.asarray(axis) > 0.3


def test_protocol_reference_rings_and_relight_split(dome_protocol):
    person = dome_protocol["people"]["yaleB01"]
    assert len(person["reference"]) == 41
    assert tilt_deg(light_directions(person["reference"])).max() <= 70.0
    conditions = []
    for ring, zenith in zip(person["rings"], RING_ZENITHS, strict=True):
        d = light_directions(ring["lights"])
        assert len(set(ring["lights"])) == 4
        np.testing.assert_allclose(tilt_deg(d).mean(), zenith, atol=6.0)
        conditions.append(condition_number(d))
    assert conditions[0] > conditions[1] > conditions[2]  # the 15 degree ring is the worst
    split = person["relight"]
    assert len(split["held_out"]) == 10 and len(split["fit"]) >= 20
    assert sorted(split["fit"] + split["held_out"]) == person["reference"]


def test_protocol_depends_on_the_seed_only():
    names = {p: yale_names(p) for p in ("yaleB01", "yaleB02")}
    shuffled = {p: list(reversed(n)) for p, n in reversed(names.items())}
    assert build_protocol(names, seed=0) == build_protocol(shuffled, seed=0)
    assert build_protocol(names, seed=0) != build_protocol(names, seed=1)


# --- real data ----------------------------------------------------------------------------


@needs_data
def test_protocol_file_is_what_the_script_writes_with_seed_0(tmp_path):
    out = tmp_path / "yaleb.json"
    subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(DATA), "-o", str(out), "--seed", "0"],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    assert out.read_bytes() == PROTOCOL.read_bytes()


@needs_data
def test_protocol_names_are_captures_in_the_data():
    protocol = load_protocol(PROTOCOL)
    for person, plan in protocol["people"].items():
        present = {p.name for p in (DATA / person).iterdir()}
        named = set(plan["reference"])
        named |= {n for s in plan["sessions"] + plan["rings"] for n in s["lights"]}
        assert named <= present


@pytest.fixture(scope="module")
def figures() -> dict:
    """Every figure of every solver on the whole protocol (once)."""
    return run_protocol(DATA, load_protocol(PROTOCOL), ["plain", "shadow", "robust"])


@needs_data
def test_plain_on_yaleb_measures_what_it_measured(figures):
    groups = figures["groups"]
    four = groups["4"]["plain"]
    assert 5.0 < four["mean_error"] < 13.5  # measured 13.09 (16.86 with equal intensities)
    assert groups["6"]["plain"]["mean_error"] < 11.5  # measured 11.02
    assert groups["3"]["plain"]["mean_error"] < 14.3  # measured 13.81
    for group in groups.values():
        # plain cannot solve a pixel with fewer than three unclipped observations:
        # measured 2.07%, 0.15%, 0.01% and 0.23% of the face (3, 4, 6 lights, rings)
        assert 0.0 < group["plain"]["unsolved"] < 0.03
        assert group["plain"]["empty"] == 0
    assert four["albedo_spread"] < 0.16  # measured 0.153 (the issue: 0.183, uncalibrated)
    assert four["rank1_normal"] >= 0.95  # measured 0.975
    assert four["rank1_albedo"] >= 0.95  # measured 0.975
    assert four["rank1_photo"] >= 0.7  # measured 0.750
    rings = {zenith: errors["plain"] for zenith, errors in figures["rings"].items()}
    assert max(rings.values()) < 9.5  # measured 6.8, 8.7, 6.8 at 15, 25, 35 degrees
    assert figures["relight"]["plain"]["error"] < 0.18  # measured 0.170
    assert 0.8 < figures["face_fraction"] < 0.95  # measured 0.878


@needs_data
@pytest.mark.parametrize("group", ["3", "4", "6", "ring"])
def test_the_default_solver_does_no_harm_on_real_faces(figures, group):
    """Issue 10's first targets: on every session at most 1 degree worse than plain
    least squares against the many-light reference, on average no worse, no face pixel
    left unsolved and no empty session."""
    shadow, plain = figures["groups"][group]["shadow"], figures["groups"][group]["plain"]
    # measured worst +0.31, +0.64, +0.04, -0.37 (3, 4, 6 lights, rings)
    assert shadow["worst_vs_plain"] <= 1.0
    # measured 13.42 / 13.81, 11.78 / 13.09, 9.07 / 11.02, 6.07 / 7.43
    assert shadow["mean_error"] <= plain["mean_error"]
    assert shadow["unsolved"] == 0.0 and shadow["empty"] == 0


@needs_data
def test_the_default_solver_keeps_albedo_lighting_invariant(figures):
    four, six = figures["groups"]["4"], figures["groups"]["6"]
    # measured: albedo spread 0.137 against plain's 0.153 (0.89 times; the issue asks
    # 0.9), 0.113 against 0.132 at six lights; rank-1 1.000 against plain's 0.975 and
    # the photograph's 0.750
    assert four["shadow"]["albedo_spread"] <= 0.9 * four["plain"]["albedo_spread"]
    assert six["shadow"]["albedo_spread"] <= 0.9 * six["plain"]["albedo_spread"]
    assert four["shadow"]["rank1_albedo"] >= four["plain"]["rank1_albedo"]
    assert four["shadow"]["rank1_albedo"] > four["shadow"]["rank1_photo"]
    assert four["shadow"]["rank1_albedo"] >= 0.95
    # mean error: 0.90, 0.82 and 0.82 times plain's (4, 6 lights, rings)
    assert four["shadow"]["mean_error"] < 0.91 * four["plain"]["mean_error"]
    assert six["shadow"]["mean_error"] < 0.85 * six["plain"]["mean_error"]
    rings = figures["groups"]["ring"]
    assert rings["shadow"]["mean_error"] < 0.85 * rings["plain"]["mean_error"]


@needs_data
def test_robust_relights_held_out_lights_better_than_plain(figures):
    """Issue 10: with many lights (31 fit, 10 held out) robust predicts the held-out
    captures at most 0.9 times as far off as plain least squares (measured 0.89)."""
    relight = figures["relight"]
    assert relight["robust"]["error"] <= 0.9 * relight["plain"]["error"]
    assert relight["robust"]["unsolved"] < 1e-3


@needs_data
def test_reference_fit_faces_the_camera_and_fits_the_face():
    from photostereo.io.yaleb import read_yaleb

    protocol = load_protocol(PROTOCOL)
    session = read_yaleb(DATA / "yaleB01")
    rows = [session.image_names.index(n) for n in protocol["people"]["yaleB01"]["reference"]]
    fit = trimmed_fit(session.images[rows], session.directions[rows])
    face = face_mask(fit)
    n = fit.normals
    w = n.shape[1]
    assert n[face][:, 2].mean() > 0.7
    # the image's left half of a face turns to the image's left (x < 0), the right to the right
    assert n[:, : w // 3][face[:, : w // 3]][:, 0].mean() < -0.1
    assert n[:, -w // 3 :][face[:, -w // 3 :]][:, 0].mean() > 0.1
    assert np.median(fit.relative_residual[face]) < 0.08  # measured 0.06
