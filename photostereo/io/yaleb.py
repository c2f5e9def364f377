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

from photostereo.io.images import read_image
from photostereo.lights import from_azimuth_elevation
from photostereo.session import SATURATION_FRACTION, CaptureSession
from psbase.errors import InputError

CAPTURE = re.compile(r"^(?P<subject>.+)_P(?P<pose>\d\d)A(?P<az>[+-]\d{3})E(?P<el>[+-]\d{2})\.pgm$")
AMBIENT = re.compile(r"^(?P<subject>.+)_P(?P<pose>\d\d)_Ambient\.pgm$")


def yaleb_poses(folder: Path) -> list[str]:
    """The pose labels (``P00`` ...) that have captures in a subject folder."""
    poses = {f"P{m['pose']}" for p in folder.iterdir() if (m := CAPTURE.match(p.name))}
    return sorted(poses)


def read_yaleb(folder: str | Path, *, pose: str | None = None) -> CaptureSession:
    """Read one pose of a Yale B subject folder as a session.

    ``pose`` (``"P00"``) may be omitted when the folder holds a single pose.
    """
    folder = Path(folder)
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
    captures = sorted(
        (p for p in folder.iterdir() if (m := CAPTURE.match(p.name)) and m["pose"] == pose[1:]),
        key=lambda p: p.name,
    )
    images, angles = [], []
    for path in captures:
        image, _ = read_image(path)
        if images and image.shape != images[0].shape:
            raise InputError(path, f"size {image.shape[::-1]} differs from {captures[0].name}")
        match = CAPTURE.match(path.name)
        angles.append((int(match["az"]), int(match["el"])))
        images.append(image)
    stack = np.stack(images)
    ambient_path = next(
        (p for p in folder.iterdir() if (m := AMBIENT.match(p.name)) and m["pose"] == pose[1:]),
        None,
    )
    if ambient_path is not None:
        ambient, _ = read_image(ambient_path)
        if ambient.shape == stack.shape[1:]:
            stack = np.clip(stack - ambient[None], 0.0, None)
    az, el = np.asarray(angles, dtype=np.float64).T
    return CaptureSession(
        images=stack,
        directions=from_azimuth_elevation(az, el),
        intensities=np.ones(len(stack), np.float32),
        subject=folder.name,
        session=pose,
        source=folder,
        image_names=tuple(p.name for p in captures),
        saturation=SATURATION_FRACTION,
    )
