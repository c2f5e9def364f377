"""Presentation attacks: what each medium is, and that the label travels to the maps."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from photostereo.io.canonical import read_canonical
from photostereo.lights import ring_directions
from photostereo.maps_file import MapsFile
from photostereo.solvers import solve_lambertian
from synthetic_faces.attacks import ATTACKS, attack_from_capture, render_attack
from synthetic_faces.generate import SynthConfig, render_visit

CONFIG = SynthConfig(subjects=3, sessions=1, seed=5, size=96)


@pytest.fixture(scope="module")
def attacks():
    return {kind: render_attack(CONFIG, 1, kind) for kind in ATTACKS}


def test_attacks_claim_the_victim_and_are_labelled(attacks):
    for kind, visit in attacks.items():
        assert visit.subject == "s0002" and visit.session == f"{kind}-00"
        assert visit.attack == kind
        assert visit.images.shape == (4, 96, 96) and visit.images.dtype == np.float32
        assert 0.0 <= visit.images.min() and visit.images.max() <= 1.0


def test_an_attack_depends_on_its_key_only():
    again = render_attack(CONFIG, 1, "print")
    np.testing.assert_array_equal(again.images, render_attack(CONFIG, 1, "print").images)
    assert not np.array_equal(again.images, render_attack(CONFIG, 1, "print", 1).images)
    assert not np.array_equal(again.images, render_attack(CONFIG, 2, "print").images)


def test_a_print_is_a_tilted_plane_and_bent_paper_a_cylinder(attacks):
    flat = attacks["print"].ground_truth["normal"].reshape(-1, 3)
    assert np.ptp(flat, axis=0).max() < 1e-6  # one normal everywhere
    assert flat[0, 2] < 0.9999  # held at a tilt
    bent = attacks["curved-print"].ground_truth["normal"].reshape(-1, 3)
    spread = np.linalg.eigvalsh(np.cov(bent.T))
    assert spread[0] < 1e-6 < spread[2]  # normals on a great circle: curved one way


def test_the_flashes_barely_change_a_screen(attacks):
    """A screen lights itself: across the lamps its picture changes less than half as
    much as a live face's (the relative spread of each pixel's captures)."""
    live = render_visit(CONFIG, 1, 0).images

    def spread(images: np.ndarray) -> float:
        centre = images[:, 24:72, 24:72]
        return float(np.median(centre.std(axis=0) / np.maximum(centre.mean(axis=0), 1e-3)))

    assert spread(attacks["screen"].images) < 0.5 * spread(live)


def test_a_mask_wears_someone_elses_shape():
    mask = render_attack(SynthConfig(subjects=3, sessions=1, seed=5, size=96), 0, "mask")
    truth = mask.ground_truth
    assert truth["mask"].sum() > 0.1 * truth["mask"].size
    assert np.ptp(truth["normal"][truth["mask"]], axis=0).min() > 0.5  # a face's relief


def test_an_attack_from_a_real_capture_is_lit_by_the_session_lamps():
    """A print made from a capture: photometric stereo of its captures finds one plane
    whose albedo is the picture."""
    rng = np.random.default_rng(0)
    picture = rng.uniform(0.2, 0.8, (40, 50)).astype(np.float32)
    lights = ring_directions(4, 30.0)
    images = attack_from_capture(picture, "print", lights, np.ones(4), rng)
    assert images.shape == (4, 40, 50)
    result = solve_lambertian(images, lights)
    normals = result.normals[result.mask]
    assert np.degrees(np.arccos(np.clip(normals @ normals.mean(0), -1, 1))).max() < 10
    albedo = result.albedo[result.mask]
    assert np.corrcoef(albedo, picture[result.mask])[0, 1] > 0.9


def test_synth_attack_writes_labelled_sessions_that_preprocess_carries(tmp_path):
    out = tmp_path / "sessions"
    command = [sys.executable, "-m", "psface", "synth", str(out), "--subjects", "2"]
    command += ["--sessions", "1", "--size", "96", "--attack", "print,screen", "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "4 attack sessions (print, screen)" in done.stdout
    spec = json.loads((out / "s0001" / "print-00" / "lights.json").read_text())
    assert spec["attack"] == "print"
    assert "attack" not in json.loads((out / "s0001" / "v00" / "lights.json").read_text())
    assert read_canonical(out / "s0002" / "screen-00").attack == "screen"
    maps = tmp_path / "maps.h5"
    command = [sys.executable, "-m", "psface", "preprocess", str(out), "-o", str(maps)]
    subprocess.run([*command, "--no-detect", "--size", "48"], capture_output=True, check=True)
    with MapsFile(maps) as handle:
        labels = dict(zip(handle.sources(), handle.attacks(), strict=True))
        scores = handle.liveness()
    assert labels == {
        "s0001/print-00": "print",
        "s0001/screen-00": "screen",
        "s0001/v00": "",
        "s0002/print-00": "print",
        "s0002/screen-00": "screen",
        "s0002/v00": "",
    }
    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()


def test_unknown_attack_kinds_are_refused(tmp_path):
    command = [sys.executable, "-m", "psface", "synth", str(tmp_path / "x"), "--attack", "wax"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 2
    assert "--attack takes 'all' or kinds joined by commas" in done.stderr
    assert "Traceback" not in done.stderr
