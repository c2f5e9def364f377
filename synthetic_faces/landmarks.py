"""Where a rendered visit's five facial landmarks fall in its image.

The five are MTCNN's: the two eye centres, the nose tip and the two mouth corners, in
that order, each pair image left first. The face model places them itself
(:mod:`synthetic_faces.face`): the eyes at ``(±eye_u, eye_v)`` (the pupil's centre),
the nose tip at ``(0, nose_tip_v)``, and the mouth corners where the dark line between
the lips (painted with spread ``0.6 mouth_width`` and power 2) falls to half strength
along its bent centre line, so a smile raises them. Their height ``h`` is read off the
visit's height field, and :func:`project` poses them as :func:`~synthetic_faces.scene.compose`
does.
"""

from __future__ import annotations

import cv2
import numpy as np

from synthetic_faces import generate
from synthetic_faces.face import Expression, FaceFields, Identity
from synthetic_faces.grid import FaceGrid
from synthetic_faces.scene import ORIGIN_Y, Pose, nominal_scale

#: The landmarks, in the order MTCNN returns them.
NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
#: A blob of power 2 falls to half strength at ``sqrt(2 sqrt(ln 2))`` spreads from its centre.
_HALF_POWER2 = float(np.sqrt(2.0 * np.sqrt(np.log(2.0))))


def face_landmarks(ident: Identity, expression: Expression | None = None) -> np.ndarray:
    """The five landmarks (5, 2) as face-frame ``(u, v)``."""
    expr = expression or Expression()
    corner = 0.6 * ident.mouth_width * _HALF_POWER2
    corner_v = ident.mouth_v - 0.01 * expr.open + 2.2 * expr.smile * corner**2
    return np.array(
        [
            (-ident.eye_u, ident.eye_v),
            (ident.eye_u, ident.eye_v),
            (0.0, ident.nose_tip_v),
            (-corner, corner_v),
            (corner, corner_v),
        ],
        dtype=np.float64,
    )


def project(points: np.ndarray, pose: Pose, size: int) -> np.ndarray:
    """Face-frame points (N, 3) ``(u, v, h)`` to image positions (N, 2) ``(x, y)``.

    ``x`` is the column and ``y`` the row, pixel centres at whole numbers (OpenCV's
    convention), for the ``size`` x ``size`` image :func:`~synthetic_faces.scene.compose`
    makes with ``pose``: ``q = t + S R p``, then the image's y axis points down.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    s = nominal_scale(size) * pose.scale
    t = np.array([pose.shift[0] * size, (pose.shift[1] + ORIGIN_Y) * size, 0.0])
    q = t + s * points @ pose.rotation().T
    return np.stack([q[:, 0] + size / 2 - 0.5, size / 2 - 0.5 - q[:, 1]], axis=1)


def _height_at(face: FaceFields, grid: FaceGrid, uv: np.ndarray) -> np.ndarray:
    """The face's height (N,) at face-frame points (N, 2), bilinear."""
    half = grid.size / 2 - 0.5
    map_x = (uv[:, 0] * grid.scale + half).astype(np.float32)[None, :]
    map_y = (half - uv[:, 1] * grid.scale).astype(np.float32)[None, :]
    return cv2.remap(face.height, map_x, map_y, cv2.INTER_LINEAR)[0].astype(np.float64)


def landmarks_2d(
    ident: Identity,
    face: FaceFields,
    grid: FaceGrid,
    pose: Pose,
    size: int,
    expression: Expression | None = None,
) -> np.ndarray:
    """The five landmarks (5, 2) ``(x, y)`` in the image of ``face`` posed by ``pose``."""
    uv = face_landmarks(ident, expression)
    h = _height_at(face, grid, uv)
    return project(np.column_stack([uv, h]), pose, size)


def visit_landmarks(config: generate.SynthConfig, subject: int, session: int) -> np.ndarray:
    """The five landmarks (5, 2) ``(x, y)`` of one visit of a synthetic data set, as
    :func:`~synthetic_faces.generate.render_visit` renders it (its pose, expression and
    face; spectacles and occluders may hide them, but they are where they are).

    It draws the visit as :func:`~synthetic_faces.generate.build_scene` does, from the
    same keyed randomness, so the two agree whatever else is rendered.
    """
    drawn = generate.visit_face(config, subject, session)
    visit = drawn.visit
    return landmarks_2d(
        drawn.ident, drawn.face, drawn.grid, visit.pose, config.size, visit.expression
    )
