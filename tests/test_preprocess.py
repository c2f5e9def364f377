"""`psface preprocess` on synthetic trees: coverage, accuracy, bad sessions, kill and
resume, local against Dask."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from photostereo.align import align_session, similarity_to_template, warp_image
from photostereo.batch import run_preprocess
from photostereo.io import load_session, write_canonical
from photostereo.maps_file import LABEL_DATASETS, MAP_DATASETS, META_DATASETS, MapsFile
from photostereo.preprocess import PreprocessConfig
from photostereo.reconstruct import reconstruct
from photostereo.session import CaptureSession
from psbase.errors import ConfigError
from psface.cli import main
from synthetic_faces.generate import SynthConfig, generate
from synthetic_faces.landmarks import visit_landmarks
from synthetic_faces.render import RenderSettings
from tests.fixtures import write_canonical_sphere
from tests.geometry import warp_normals

SIZE = 64
#: 16 synthetic sessions of 8 people, lit by the lamps alone (with noise and cast
#: shadows) so that alignment errors are not lost among the realistic defaults' room
#: light, highlights and lamp miscalibration.
TREE = SynthConfig(
    subjects=8,
    sessions=2,
    seed=5,
    size=192,
    settings=RenderSettings(
        ambient=0.0, interreflection=0.0, specular=0.0, direction_error=0.0, intensity_error=0.0
    ),
)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """:data:`TREE`, rendered once for the module."""
    root = tmp_path_factory.mktemp("synth")
    generate(root, TREE, workers=1)
    return root


@pytest.fixture(scope="module")
def maps(tree, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("maps") / "maps.h5"
    run_preprocess(tree, out, PreprocessConfig(size=SIZE), workers=1)
    return out


def angle_error(estimate: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    cos = np.clip(np.einsum("hwc,hwc->hw", estimate, truth)[mask], -1, 1)
    return float(np.degrees(np.arccos(cos)).mean())


def test_every_synthetic_session_is_in_the_file_with_the_schema(tree, maps):
    with MapsFile(maps) as data:
        assert len(data) >= 0.95 * 16
        failed = json.loads(data.handle.attrs["failed"])
        assert len(data) + len(failed) == 16
        for name in MAP_DATASETS:
            dataset = data.handle[name]
            assert dataset.shape[0] == len(data) and dataset.shape[-2:] == (SIZE, SIZE)
            assert dataset.chunks == (1, *dataset.shape[1:]) and dataset.compression == "gzip"
        assert data.handle["normal"].shape[1] == 3
        assert json.loads(data.handle.attrs["config"])["size"] == SIZE
        assert list(data.sources()) == sorted(data.sources())
        subject, _ = data.labels()
        assert set(subject) == {f"s{i:04d}" for i in range(1, 9)}
        scores = data.handle["meta/detection_score"][()]
        assert (scores > 0.9).all()


def test_aligned_normals_match_ground_truth_warped_the_same_way(tree, maps):
    errors = []
    with MapsFile(maps) as data:
        landmarks = data.handle["meta/landmarks"][()]
        for row, source in enumerate(data.sources()):
            normals = np.moveaxis(data.read("normal", np.array([row]))[0], 0, -1)
            mask = data.mask(np.array([row]))[0, 0]
            folder = tree / source
            matrix = similarity_to_template(landmarks[row], SIZE)
            truth = warp_normals(np.load(folder / "gt_normal.npy"), matrix, SIZE)
            gt_mask = cv2.imread(str(folder / "gt_mask.png"), cv2.IMREAD_GRAYSCALE) > 0
            inside = warp_image(gt_mask.astype(np.float32), matrix, SIZE) > 0.99
            errors.append(angle_error(normals, truth, inside & mask))
    print(f"aligned normals vs warped ground truth: mean {np.mean(errors):.2f} deg")
    assert np.mean(errors) < 2.0  # measured 1.0


def renderer_landmarks(source: str) -> np.ndarray:
    """(5, 2) where the renderer put the five landmarks of session ``sNNNN/vMM``."""
    person, visit = source.split("/")[:2]
    return visit_landmarks(TREE, int(person[1:]) - 1, int(visit[1:]))


def test_stored_landmarks_are_where_the_renderer_put_them(maps):
    """The landmarks preprocessing aligns on (MTCNN's, stored per sample) against the
    renderer's: median error 0.066 of the eye distance, worst 0.182 (16 sessions)."""
    with MapsFile(maps) as data:
        stored = data.handle["meta/landmarks"][()]
        truth = np.stack([renderer_landmarks(s) for s in data.sources()])
    eyes = np.linalg.norm(truth[:, 0] - truth[:, 1], axis=1)
    error = np.linalg.norm(stored - truth, axis=2) / eyes[:, None]
    print(f"landmark error / eye distance: median {np.median(error):.3f}, max {error.max():.3f}")
    assert np.median(error) < 0.08 and error.max() < 0.25


def test_a_rolled_and_zoomed_camera_gives_the_same_aligned_normals(tree):
    """Rotating and scaling the captures (and so the lights) must not change the maps."""
    session = load_session(next(tree.glob("s0001/v00")))
    h, w = session.shape
    roll = cv2.getRotationMatrix2D((w / 2, h / 2), 12.0, 0.85)
    from photostereo.align import rotate_vectors

    rolled = CaptureSession(
        images=np.stack([warp_image(i, roll, h) for i in session.images]),
        directions=rotate_vectors(session.directions, roll),
        intensities=session.intensities,
        subject=session.subject,
        session=session.session,
    )
    landmarks = np.array([[80.0, 90.0], [112.0, 90.0], [96.0, 110.0], [84.0, 126.0], [108, 126]])
    moved = landmarks @ roll[:, :2].T + roll[:, 2]
    straight = reconstruct(align_session(session, similarity_to_template(landmarks, SIZE), SIZE))
    turned = reconstruct(align_session(rolled, similarity_to_template(moved, SIZE), SIZE))
    both = straight.mask & turned.mask
    assert both.sum() > 0.5 * SIZE * SIZE
    error = angle_error(straight.normals, turned.normals, both)
    print(f"rolled 12 deg and zoomed 0.85: aligned normals differ by {error:.2f} deg")
    assert error < 2.0
    # and without rotating the lights, the maps would be wrong
    unrotated = CaptureSession(rolled.images, session.directions, session.intensities, "s", "v")
    wrong = reconstruct(align_session(unrotated, similarity_to_template(moved, SIZE), SIZE))
    assert angle_error(straight.normals, wrong.normals, both & wrong.mask) > 2 * error + 2


def two_faces(tree: Path, folder: Path) -> Path:
    """A session whose captures hold two people side by side, under the same lights."""
    a, b = load_session(tree / "s0002" / "v00"), load_session(tree / "s0003" / "v00")
    small = np.stack([cv2.resize(i, None, fx=0.8, fy=0.8) for i in b.images])
    pad = np.zeros_like(a.images)
    pad[:, : small.shape[1], : small.shape[2]] = small
    wide = np.concatenate([a.images, pad], axis=2)
    return write_canonical(folder, CaptureSession(wide, a.directions, a.intensities, "pair", "v00"))


def test_bad_sessions_are_listed_with_reasons_while_the_rest_completes(tree, tmp_path, capsys):
    root = tmp_path / "root"
    for source in ("s0001/v00", "s0004/v01"):
        shutil.copytree(tree / source, root / source)
    write_canonical_sphere(root / "ball" / "v00", size=96)  # no face
    shutil.copytree(tree / "s0005/v00", root / "dark" / "v00")
    cv2.imwrite(str(root / "dark" / "v00" / "l1.png"), np.zeros((192, 192), np.uint8))
    shutil.copytree(tree / "s0006/v00", root / "stray" / "v00")
    cv2.imwrite(str(root / "stray" / "v00" / "extra.png"), np.full((8, 8), 9, np.uint8))
    two_faces(tree, root / "pair" / "v00")
    out = tmp_path / "maps.h5"
    args = ["preprocess", str(root), "-o", str(out), "--size", "48", "--workers", "1"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "failed: ball/v00:" in err and "no face found" in err
    assert "failed: dark/v00:" in err and "l1.png is all black" in err
    assert "failed: stray/v00:" in err and "extra.png: image has no light" in err
    assert "pair/v00: 2 faces found; kept the largest" in err
    with MapsFile(out) as data:
        assert sorted(data.sources()) == ["pair/v00", "s0001/v00", "s0004/v01"]
        assert data.handle["meta/n_faces"][list(data.sources()).index("pair/v00")] == 2
        assert {f["session"] for f in json.loads(data.handle.attrs["failed"])} == {
            "ball/v00",
            "dark/v00",
            "stray/v00",
        }
    assert main([*args, "--strict"]) == 1


def test_another_size_or_configuration_is_refused_not_mixed(tree, maps, tmp_path):
    copy = tmp_path / "maps.h5"
    shutil.copyfile(maps, copy)
    before = copy.read_bytes()
    with pytest.raises(ConfigError, match="size 64, not 32"):
        run_preprocess(tree, copy, PreprocessConfig(size=32), workers=1)
    with pytest.raises(ConfigError, match="config"):
        run_preprocess(tree, copy, PreprocessConfig(size=SIZE, solver="plain"), workers=1)
    assert copy.read_bytes() == before
    summary = run_preprocess(tree, copy, PreprocessConfig(size=SIZE), workers=1)
    assert summary.skipped == 16 - len(summary.failed) and not summary.done


def read_all(path: Path) -> dict[str, np.ndarray]:
    names = [*MAP_DATASETS, *LABEL_DATASETS, *(f"meta/{m}" for m in META_DATASETS)]
    with h5py.File(path, "r") as handle:
        return {name: handle[name][()] for name in names}


def test_a_dask_cluster_writes_the_same_arrays_as_a_local_run(tree, maps, tmp_path):
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "dask.h5"
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster:
        run_preprocess(
            tree, out, PreprocessConfig(size=SIZE), dask_address=cluster.scheduler_address
        )
    local, remote = read_all(maps), read_all(out)
    for name in local:
        floats = local[name].dtype.kind == "f"
        assert np.array_equal(local[name], remote[name], equal_nan=floats), name


@pytest.mark.slow
def test_kill_nine_loses_no_reported_session_and_a_rerun_completes(tree, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(tree, root)
    for extra in range(8):  # 24 sessions: three chunks, so the kill lands mid-run
        shutil.copytree(tree / "s0001" / "v00", root / f"x{extra}" / "v00")
    out = tmp_path / "maps.h5"
    command = [sys.executable, "-m", "psface", "-v", "preprocess", str(root), "-o", str(out)]
    command += ["--size", "40", "--workers", "1", "--checkpoint", "0"]
    env = {**os.environ, "TQDM_DISABLE": "1"}
    child = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    saved = []
    for line in child.stderr:
        if line.startswith("saved "):
            saved.append(line.split(" ", 1)[1].strip())
            if len(saved) >= 8:
                break
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    with MapsFile(out) as data:
        in_file = set(data.sources())
    assert set(saved) <= in_file
    assert len(in_file) < 24
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    with MapsFile(out) as data:
        assert len(data) == 24 and len(set(data.sources())) == 24
        assert list(data.sources()) == sorted(data.sources())


def test_a_box_larger_than_the_picture_is_not_a_face():
    from photostereo.detect import _largest_confident

    boxes = np.array([[-70.0, -120, 230, 250], [40, 50, 120, 150]])
    points = np.zeros((2, 5, 2))
    found = _largest_confident(boxes, np.array([0.999, 0.95]), points, 1.0, (192, 168, 3))
    assert found is not None and found.n_faces == 1
    np.testing.assert_allclose(found.box, [40, 50, 120, 150])
    assert _largest_confident(boxes[:1], np.array([0.999]), points[:1], 1.0, (192, 168)) is None


YALE = Path(__file__).parents[2] / "shared" / "data" / "yaleb"


@pytest.mark.skipif(not YALE.is_dir(), reason="the real Yale B sample is not in this checkout")
def test_cropped_yale_faces_need_no_detect_and_align_with_it(tmp_path, capsys):
    root = tmp_path / "yale"
    for subject in ("yaleB01", "yaleB02"):
        shutil.copytree(YALE / subject, root / subject)
    detected = tmp_path / "detected.h5"
    assert main(["preprocess", str(root), "-o", str(detected), "--size", "64"]) == 1
    assert "no face found; use --no-detect" in capsys.readouterr().err
    cropped = tmp_path / "cropped.h5"
    assert main(["preprocess", str(root), "-o", str(cropped), "--size", "64", "--no-detect"]) == 0
    with MapsFile(cropped) as data:
        assert list(data.sources()) == ["yaleB01", "yaleB02"]
        normals = data.read("normal")
        # the central square of a cropped Yale face: left half faces left, right half right
        assert normals[:, 0, 20:44, :16].mean() < -0.2 < 0.2 < normals[:, 0, 20:44, 48:].mean()
