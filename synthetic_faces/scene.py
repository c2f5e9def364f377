"""Place a face in the camera's frame: pose it, find the visible surface, keep ground truth.

The camera is orthographic, looking down -z. A point ``p = (u, v, h)`` of the face frame
lands at ``q = t + S R p`` (pixels; ``R`` the head rotation, ``S`` pixels per unit, ``t``
the head's position). For every pixel ``(x, y)`` the visible depth ``d`` solves
``h(p_uv) = p_h`` with ``p = R^T ((x, y, d) - t) / S``; a few fixed-point steps
``d <- d + S (h(p_uv) - p_h) / R_zz`` converge for the small rotations of a seated
subject. Every face-frame field is then resampled at the solution with ``cv2.remap``,
and the face frame's normals are rotated by ``R``. The depth and normals are therefore
those of one surface: ``dd/dx = -n_x/n_z`` and ``dd/dy = -n_y/n_z`` hold to sampling
accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from synthetic_faces.face import BACKGROUND_HEIGHT, FaceFields
from synthetic_faces.grid import FaceGrid
from synthetic_faces.occluders import FrameFields

#: Fixed-point iterations for the visible depth.
DEPTH_ITERATIONS = 5
#: Visible-depth residual (pixels) below which the iteration counts as settled.
CONVERGED_PX = 0.05
#: Ground truth is kept only where the surface faces the camera at least this much
#: (n_z > 0.4, i.e. within 66 degrees of the view axis, so the four-light rig lights it).
MIN_NZ = 0.4
#: Shine (specular strength, as the face's map) of spectacle frames and held objects:
#: polished plastic and metal.
FRAME_SHINE = 3.0


@dataclass(frozen=True)
class Pose:
    """Head pose for one visit.

    ``yaw`` turns the nose toward +x (image right), ``pitch`` tilts it up (+y), ``roll``
    turns the head counter-clockwise in the image, all in degrees; ``scale`` multiplies
    the nominal size; ``shift`` moves the head by that fraction of the image (x right,
    y up).
    """

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)

    def rotation(self) -> np.ndarray:
        """The 3x3 rotation taking face-frame vectors to the camera frame."""
        y, p, r = np.deg2rad([self.yaw, self.pitch, self.roll])
        ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
        rx = np.array([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]])
        rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
        return rz @ rx @ ry


@dataclass
class Scene:
    """What the camera sees, per pixel, and the face's ground truth.

    ``depth`` (H, W) pixels, larger is closer, over the whole frame (background
    included: it is what shadows are cast on); ``normal`` (H, W, 3) unit normals;
    ``albedo`` (H, W, C); ``mask`` (H, W) bool, the visible skin of the face where ground
    truth is defined; ``person`` (H, W) float, 1 on the head and 0 on the background;
    ``specular`` (H, W) the shine map ``κ`` of :mod:`synthetic_faces.render`.
    """

    depth: np.ndarray
    normal: np.ndarray
    albedo: np.ndarray
    mask: np.ndarray
    person: np.ndarray
    specular: np.ndarray


def nominal_scale(size: int) -> float:
    """Pixels per face unit at scale 1: the head (two units wide) spans half the image."""
    return size / 4.0


#: Where the face frame's origin sits in the image at zero shift (fraction of size, y up):
#: a little below the centre, so the head (taller above the origin) is centred.
ORIGIN_Y = -0.06


def _remap(field: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, border: float) -> np.ndarray:
    return cv2.remap(
        field, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border
    )


def _drop_specks(mask: np.ndarray, *, fraction: float = 0.02) -> np.ndarray:
    """``mask`` without 4-connected pieces smaller than ``fraction`` of the largest.

    Stray specks at the silhouette go; the face's real pieces (a spectacle frame cuts the
    eyes and forehead off the cheeks) stay.
    """
    # 8-connected: what a bare second argument (OpenCV's ``labels`` output) always gave
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    if count <= 2:
        return mask
    areas = stats[:, cv2.CC_STAT_AREA].copy()
    areas[0] = 0
    keep = areas >= fraction * areas.max()
    return keep[labels]


def compose(
    face: FaceFields,
    grid: FaceGrid,
    pose: Pose,
    size: int,
    *,
    frame: FrameFields | None = None,
    background: np.ndarray | None = None,
) -> Scene:
    """Pose ``face`` (and spectacle ``frame``) into a ``size`` x ``size`` image.

    ``background`` (size, size, C) is the backdrop's albedo (default: mid grey).
    """
    rot = pose.rotation().astype(np.float32)
    rt = rot.T
    s = nominal_scale(size) * pose.scale
    tx = pose.shift[0] * size
    ty = (pose.shift[1] + ORIGIN_Y) * size
    coords = (np.arange(size, dtype=np.float32) + 0.5 - size / 2)[None, :]
    x = np.broadcast_to(coords, (size, size)) - tx
    y = np.broadcast_to(-coords.T, (size, size)) - ty
    height = face.height
    if frame is not None:
        height = np.maximum(height, frame.height)
    half = grid.size / 2 - 0.5
    # Parts of p = R^T (q - t) / S that do not depend on d.
    pu0 = (rt[0, 0] * x + rt[0, 1] * y) / s
    pv0 = (rt[1, 0] * x + rt[1, 1] * y) / s
    ph0 = (rt[2, 0] * x + rt[2, 1] * y) / s
    d = np.full((size, size), 0.5 * s, np.float32)
    for _ in range(DEPTH_ITERATIONS):
        pu = pu0 + rt[0, 2] * d / s
        pv = pv0 + rt[1, 2] * d / s
        ph = ph0 + rt[2, 2] * d / s
        map_x = (pu * grid.scale + half).astype(np.float32)
        map_y = (half - pv * grid.scale).astype(np.float32)
        h = _remap(height, map_x, map_y, BACKGROUND_HEIGHT)
        d = d + s * (h - ph) / rt[2, 2]
    pu = pu0 + rt[0, 2] * d / s
    pv = pv0 + rt[1, 2] * d / s
    map_x = (pu * grid.scale + half).astype(np.float32)
    map_y = (half - pv * grid.scale).astype(np.float32)
    # Where the iteration has not settled (steep sides turned away), no ground truth.
    residual = np.abs(_remap(height, map_x, map_y, BACKGROUND_HEIGHT) - (ph0 + rt[2, 2] * d / s))
    settled = residual * s < CONVERGED_PX
    channels = np.dstack([face.grad_u, face.grad_v, face.head, face.face])
    gu, gv, person, skin = np.moveaxis(_remap(channels, map_x, map_y, 0.0), -1, 0)
    albedo = _remap(face.albedo, map_x, map_y, 0.0)
    shiny = _remap(face.specular, map_x, map_y, 0.0)
    on_frame = np.zeros((size, size), np.float32)
    if frame is not None:
        fchan = np.dstack([frame.grad_u, frame.grad_v, frame.weight])
        fgu, fgv, on_frame = np.moveaxis(
            cv2.remap(fchan, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT),
            -1,
            0,
        )
        fal = cv2.remap(frame.albedo, map_x, map_y, cv2.INTER_NEAREST)
        is_frame = on_frame > 0.5
        gu = np.where(is_frame, fgu, gu)
        gv = np.where(is_frame, fgv, gv)
        albedo = np.where(is_frame[..., None], fal, albedo)
        shiny = np.where(is_frame, FRAME_SHINE, shiny)
        person = np.maximum(person, on_frame)
    n_face = np.stack([-gu, -gv, np.ones_like(gu)], axis=-1)
    n_face /= np.linalg.norm(n_face, axis=-1, keepdims=True)
    normal = n_face @ rot.T
    person = np.clip(person, 0.0, 1.0)
    is_person = person > 0.5
    # Background: a plane behind the head, facing the camera.
    if background is None:
        background = np.full((size, size, albedo.shape[-1]), 0.3, np.float32)
    depth = np.where(is_person, d, BACKGROUND_HEIGHT * s).astype(np.float32)
    normal = np.where(is_person[..., None], normal, np.array([0, 0, 1], np.float32))
    albedo = np.where(is_person[..., None], albedo, background)
    mask = (skin > 0.99) & is_person & (on_frame < 0.5) & (normal[..., 2] > MIN_NZ) & settled
    # Keep away from the frame's edges, where the tube's resampled normals are unreliable.
    if frame is not None:
        near = cv2.dilate((on_frame > 0).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        mask &= ~near
    mask = _drop_specks(mask)
    return Scene(
        depth=depth,
        normal=normal.astype(np.float32),
        albedo=albedo.astype(np.float32),
        mask=mask,
        person=person,
        specular=np.where(is_person, shiny, 0.0).astype(np.float32),
    )
