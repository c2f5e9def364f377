"""Writing data sets: layout, determinism across workers, people stay themselves."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from photostereo.io.canonical import read_canonical
from synthetic_faces.generate import SynthConfig, generate, render_visit, visit_plan


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_output_is_identical_whatever_the_number_of_workers(tmp_path):
    config = SynthConfig(subjects=3, sessions=2, size=64, seed=4)
    generate(tmp_path / "one", config, workers=1)
    generate(tmp_path / "two", config, workers=2)
    one, two = _digest(tmp_path / "one"), _digest(tmp_path / "two")
    assert len(one) == 3 * 2 * (4 + 5)  # 4 captures, lights.json, 4 ground-truth files
    assert one == two


def test_sessions_are_readable_canonical_folders_with_ground_truth(tmp_path):
    config = SynthConfig(subjects=1, sessions=1, size=64, seed=2, bits=16, color="rgb")
    (folder,) = generate(tmp_path, config)
    session = read_canonical(folder)
    assert session.images.shape == (4, 64, 64)
    assert session.subject == "s0001" and session.session == "v00"
    assert set(session.attributes) >= {
        "gender",
        "spectacles",
        "facial_hair",
        "pose",
        "expression",
        "quality",
        "occlusion",
    }
    normal = np.load(folder / "gt_normal.npy")
    assert normal.shape == (64, 64, 3) and normal.dtype == np.float32
    assert np.load(folder / "gt_depth.npy").dtype == np.float32
    assert (folder / "gt_mask.png").is_file()
    visit = render_visit(config, 0, 0)
    np.testing.assert_allclose(session.images, visit.images, atol=1.5 / 65535 + 1e-3)


def test_a_session_does_not_depend_on_how_many_others_are_asked_for():
    small = render_visit(SynthConfig(subjects=2, sessions=1, size=64, seed=9), 1, 0)
    large = render_visit(SynthConfig(subjects=40, sessions=5, size=64, seed=9), 1, 0)
    np.testing.assert_array_equal(small.images, large.images)


def test_people_differ_in_shape_and_albedo_and_seeds_differ():
    config = SynthConfig(subjects=2, sessions=1, size=64, seed=1)
    a, b = render_visit(config, 0, 0), render_visit(config, 1, 0)
    other = render_visit(SynthConfig(subjects=2, sessions=1, size=64, seed=2), 0, 0)
    both = a.ground_truth["mask"] & b.ground_truth["mask"]
    assert np.abs(a.ground_truth["albedo"] - b.ground_truth["albedo"])[both].mean() > 0.01
    assert np.abs(a.ground_truth["normal"] - b.ground_truth["normal"])[both].mean() > 0.01
    assert not np.array_equal(a.images, other.images)


def test_photoface_session_counts_have_a_long_tail():
    config = SynthConfig(subjects=200, sessions="photoface", seed=0)
    counts = np.bincount([i for i, _ in visit_plan(config)], minlength=200)
    assert (counts == 1).mean() > 0.2 and counts.max() >= 8


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"subjects": 0}, "subjects"),
        ({"bits": 12}, "bits"),
        ({"rig": "dome"}, "rig"),
        ({"sessions": "many"}, "sessions"),
        ({"color": "cmyk"}, "color"),
    ],
)
def test_bad_configs_are_refused_with_a_sentence(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SynthConfig(**kwargs)
