"""The Extended Yale Face Database B layout: light angles in the file names.

``yaleBNN/yaleBNN_PppAaaaaEee.pgm``: pose ``pp``, light azimuth ``aaaa`` and elevation
``ee`` in degrees. One subject folder is one subject. Each pose of it is one session:
the database shot all 64 lights of a pose in one sitting, with the head still, which is
exactly what photometric stereo needs (the cropped release has pose 00 only). Captures
named ``*.pgm.bad`` are the database's own marks for unusable images and are skipped.
Where the pose's ``*_Ambient.pgm`` (no point light) exists, it is subtracted from every
capture, since ambient light is the part of each image the Lambertian model lacks.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from photostereo.io.budget import check_memory
from photostereo.io.images import read_captures, read_image
from photostereo.lights import from_azimuth_elevation
from photostereo.session import SATURATION_FRACTION, CaptureSession, folder_labels
from psbase.errors import InputError

CAPTURE = re.compile(r"^(?P<subject>.+)_P(?P<pose>\d\d)A(?P<az>[+-]\d{3})E(?P<el>[+-]\d{2})\.pgm$")
AMBIENT = re.compile(r"^(?P<subject>.+)_P(?P<pose>\d\d)_Ambient\.pgm$")


def yaleb_poses(folder: Path) -> list[str]:
    """The pose labels (``P00`` ...) that have captures in a subject folder."""
    poses = {f"P{m['pose']}" for p in folder.iterdir() if (m := CAPTURE.match(p.name))}
    return sorted(poses)


def read_yaleb(
    folder: str | Path, *, pose: str | None = None, max_bytes: int | None = None
) -> CaptureSession:
    """Read one pose of a Yale B subject folder as a session.

    ``pose`` (``"P00"``) may be omitted when the folder holds a single pose;
    ``max_bytes`` as in :func:`photostereo.io.budget.check_memory`.
    """
    folder = Path(folder)
    subject, pose = yaleb_labels(folder, pose)
    captures = sorted(
        (p for p in folder.iterdir() if (m := CAPTURE.match(p.name)) and m["pose"] == pose[1:]),
        key=lambda p: p.name,
    )
    check_memory(captures, where=folder, max_bytes=max_bytes)
    stack, _ = read_captures(captures)
    ambient_path = next(
        (p for p in folder.iterdir() if (m := AMBIENT.match(p.name)) and m["pose"] == pose[1:]),
        None,
    )
    if ambient_path is not None:
        ambient, _ = read_image(ambient_path)
        if ambient.shape == stack.shape[1:]:
            stack -= ambient[None]
            np.clip(stack, 0.0, None, out=stack)
    angles = [CAPTURE.match(p.name) for p in captures]
    az = np.array([int(m["az"]) for m in angles], np.float64)
    el = np.array([int(m["el"]) for m in angles], np.float64)
    return CaptureSession(
        images=stack,
        directions=from_azimuth_elevation(az, el),
        intensities=np.ones(len(stack), np.float32),
        subject=subject,
        session=pose,
        source=folder,
        image_names=tuple(p.name for p in captures),
        saturation=SATURATION_FRACTION,
    )


def yaleb_labels(folder: Path, pose: str | None = None) -> tuple[str, str]:
    """(subject, pose) of one pose of a subject folder, checking that the pose is there."""
    if not folder.is_dir():
        raise InputError(folder, "not a folder")
    poses = yaleb_poses(folder)
    if not poses:
        raise InputError(folder, "no Yale B captures (yaleBNN_PppAaaaaEee.pgm) in this folder")
    if pose is None:
        if len(poses) > 1:
            raise InputError(folder, f"holds poses {', '.join(poses)}; name one as {folder}#P00")
        pose = poses[0]
    if pose not in poses:
        raise InputError(folder, f"has no pose {pose} (it has {', '.join(poses)})")
    return folder_labels(folder)[1], pose
