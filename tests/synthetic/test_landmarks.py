"""The renderer's five landmarks land on the face it draws, as the scene poses it."""

from __future__ import annotations

import numpy as np

from synthetic_faces.face import Expression, face_fields, sample_identity
from synthetic_faces.generate import SynthConfig, build_scene, person
from synthetic_faces.grid import FaceGrid
from synthetic_faces.landmarks import face_landmarks, landmarks_2d, project, visit_landmarks
from synthetic_faces.scene import Pose, compose, nominal_scale

SIZE = 256


def _face(seed: int = 3, expression: Expression | None = None):
    ident = sample_identity(np.random.default_rng(seed))
    grid = FaceGrid(334, nominal_scale(SIZE))
    return ident, grid, face_fields(ident, grid, expression=expression)


def _at(field: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """``field`` at the nearest pixel of each (x, y)."""
    cols, rows = np.rint(xy).astype(int).T
    return field[rows, cols]


def test_frontal_landmarks_are_a_symmetric_face_in_order():
    ident, grid, face = _face()
    xy = landmarks_2d(ident, face, grid, Pose(), SIZE)
    left_eye, right_eye, nose, mouth_left, mouth_right = xy
    assert left_eye[0] < SIZE / 2 - 0.5 < right_eye[0]
    assert np.isclose(left_eye[0] + right_eye[0], SIZE - 1)  # mirrored about the middle
    assert np.isclose(left_eye[1], right_eye[1]) and np.isclose(mouth_left[1], mouth_right[1])
    assert left_eye[1] < nose[1] < mouth_left[1]  # rows grow downward
    assert mouth_left[0] < nose[0] < mouth_right[0]
    assert np.isclose(np.linalg.norm(right_eye - left_eye), 2 * ident.eye_u * nominal_scale(SIZE))


def test_landmarks_sit_on_the_visible_surface_of_a_turned_head():
    ident, grid, face = _face()
    pose = Pose(yaw=12.0, pitch=-6.0, roll=8.0, scale=1.05, shift=(0.03, -0.02))
    scene = compose(face, grid, pose, SIZE)
    uv = face_landmarks(ident)
    h = face.height[
        np.rint(grid.size / 2 - 0.5 - uv[:, 1] * grid.scale).astype(int),
        np.rint(uv[:, 0] * grid.scale + grid.size / 2 - 0.5).astype(int),
    ]
    xy = landmarks_2d(ident, face, grid, pose, SIZE)
    q = pose.rotation() @ np.column_stack([uv, h]).T * nominal_scale(SIZE) * pose.scale
    # The scene's visible depth at each landmark's pixel is the landmark's own depth.
    assert np.allclose(_at(scene.depth, xy), q[2], atol=1.0)  # measured at most 0.5
    # A pure shift moves every landmark by that many pixels (y up in the pose, down here).
    moved = project(np.column_stack([uv, h]), Pose(shift=(0.1, 0.05)), SIZE)
    still = project(np.column_stack([uv, h]), Pose(), SIZE)
    assert np.allclose(moved - still, [0.1 * SIZE, -0.05 * SIZE])


def test_eyes_land_on_the_dark_iris_and_the_mouth_corners_on_the_lips_edge():
    ident, grid, face = _face(expression=Expression(smile=0.3))
    scene = compose(face, grid, Pose(yaw=5.0, roll=-4.0), SIZE)
    xy = landmarks_2d(ident, face, grid, Pose(yaw=5.0, roll=-4.0), SIZE, Expression(smile=0.3))
    grey = scene.albedo.mean(axis=-1)
    skin = float(np.mean(ident.skin))
    assert np.all(_at(grey, xy[:2]) < 0.5 * skin)  # iris and pupil
    corners = _at(grey, xy[3:])
    assert np.all(corners < 0.95 * skin)  # the mouth's line, fading out
    assert np.all(corners > _at(grey, np.array([[127.5, xy[3, 1]]])))  # ...not its middle


def test_visit_landmarks_match_the_visit_as_rendered():
    config = SynthConfig(subjects=2, sessions=1, seed=5, size=128)
    scene, visit, _ = build_scene(config, 1, 0)
    assert visit.spectacles is None and visit.pose.yaw != 0 and visit.expression.smile != 0
    xy = visit_landmarks(config, 1, 0)
    assert xy.shape == (5, 2)
    assert xy[0, 0] < xy[2, 0] < xy[1, 0]
    assert xy[0, 1] < xy[2, 1] < xy[3, 1]
    skin = float(np.mean(person(config.seed, 1)[0].skin))
    assert np.all(_at(scene.albedo.mean(axis=-1), xy[:2]) < 0.5 * skin)  # on the eyes
