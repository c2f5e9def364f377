"""One session's maps at a cell's conditions, and the lights a cell photographs with.

The maps are made as ``psface preprocess`` makes them (MTCNN finds the face in the most
frontal capture that shows one, the captures are aligned onto the five-landmark crop,
then solved and integrated), so a figure measured here is a figure of the pipeline users
run, and a trained model sees crops framed as it was trained on. A session with no
face found is centre-cropped, as ``--no-detect`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from ablation.factors import Conditions
from photostereo.align import align_session, centre_crop_transform, similarity_to_template
from photostereo.detect import FaceDetector, detection_picture
from photostereo.lights import ring_directions
from photostereo.reconstruct import Reconstruction, reconstruct
from photostereo.session import CaptureSession

#: A told intensity is never below this share of the true one (the session refuses <= 0).
MIN_TOLD_GAIN = 0.05


@dataclass
class SessionMaps:
    """One session's maps in the crop, as the maps file stores them.

    ``normal`` (3, S, S), ``albedo``, ``depth`` and ``image`` (S, S) float32, ``mask``
    (S, S) bool, the solved face region; normals, albedo and depth are zero off it.
    ``image`` is the capture whose light is closest to the camera axis: the photograph a
    photo-based recogniser would see.
    """

    person: str
    session: int
    normal: np.ndarray
    albedo: np.ndarray
    depth: np.ndarray
    image: np.ndarray
    mask: np.ndarray


def session_maps(
    session: CaptureSession, conditions: Conditions, person: str, index: int
) -> tuple[SessionMaps, Reconstruction, np.ndarray]:
    """(maps, reconstruction, 2 x 3 crop matrix) of ``session`` centre-cropped to
    ``conditions.size``; the matrix takes capture pixels to crop pixels, so a caller can
    bring ground truth or a reference into the crop with ``cv2.warpAffine``."""
    matrix = crop_matrix(session, conditions.size)
    aligned = align_session(session, matrix, conditions.size)
    rec = reconstruct(aligned, solver=conditions.solver, integrator=conditions.integrator)
    frontal = int(np.argmax(aligned.directions[:, 2]))
    maps = SessionMaps(
        person=person,
        session=index,
        normal=np.moveaxis(rec.normals, -1, 0),
        albedo=rec.albedo,
        depth=np.where(rec.mask, rec.depth, 0.0).astype(np.float32),
        image=aligned.images[frontal],
        mask=rec.mask,
    )
    return maps, rec, matrix


def crop_matrix(session: CaptureSession, size: int) -> np.ndarray:
    """The 2 x 3 matrix onto the aligned face crop of ``size`` pixels: the landmarks of
    the first face MTCNN finds, trying the captures from the most frontal light on, or
    the centre crop where it finds none."""
    for k in np.argsort(-session.directions[:, 2], kind="stable"):
        found = _detector().detect([detection_picture(session.images[k])])[0]
        if found is not None:
            return similarity_to_template(found.landmarks, size)
    return centre_crop_transform(session.shape, size)


@cache
def _detector() -> FaceDetector:
    """One MTCNN per process, built on first use."""
    return FaceDetector()


def cone_rig(lights: int, spread: float, azimuth0: float) -> np.ndarray:
    """(K, 3) directions evenly spaced in azimuth (from ``azimuth0`` degrees) on a cone of
    half-angle ``spread`` degrees about the camera axis: the ``lights`` and ``spread``
    factors as a rig."""
    return ring_directions(lights, spread, azimuth0=azimuth0)


def told_calibration(
    directions: np.ndarray,
    intensities: np.ndarray,
    calib_deg: float,
    intensity_err: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The (directions, intensities) the solver is told, for lamps really at the given ones.

    Each direction turns by an angle of RMS ``calib_deg`` toward a random side: a tangent
    offset with two N(0, calib/sqrt 2) components gives the angle (its length) and the
    axis, and the turn keeps unit length exactly. Each intensity is multiplied by
    ``1 + intensity_err N(0, 1)``, at least ``MIN_TOLD_GAIN``. The draws are made even
    when the errors are zero, so every cell uses the same random stream; with both zero
    the inputs come back unchanged.
    """
    d = np.asarray(directions, np.float64)
    offset = rng.normal(0.0, np.radians(calib_deg) / np.sqrt(2.0), d.shape)
    offset -= np.einsum("kc,kc->k", offset, d)[:, None] * d
    angle = np.linalg.norm(offset, axis=1, keepdims=True)
    side = np.divide(offset, angle, out=np.zeros_like(offset), where=angle > 0)
    told = np.cos(angle) * d + np.sin(angle) * side
    gains = np.maximum(1.0 + intensity_err * rng.standard_normal(len(d)), MIN_TOLD_GAIN)
    intensities = np.asarray(intensities)
    return told.astype(np.asarray(directions).dtype), (intensities * gains).astype(
        intensities.dtype
    )
