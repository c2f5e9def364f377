"""The Extended Yale Face Database B layout: light angles in the file names.

``yaleBNN/yaleBNN_PppAaaaaEee.pgm``: pose ``pp``, light azimuth ``aaaa`` and elevation
``ee`` in degrees. One subject folder is one subject. Each pose of it is one session:
the database shot all 64 lights of a pose in one sitting, with the head still, which is
exactly what photometric stereo needs (the cropped release has pose 00 only). Captures
named ``*.pgm.bad`` are the database's own marks for unusable images and are skipped.
Where the pose's ``*_Ambient.pgm`` (no point light) exists, it is subtracted from every
capture, since ambient light is the part of each image the Lambertian model lacks. The
subtraction is of radiance (both images decoded by the response first), and comes after
saturation is found: a clipped pixel minus the ambient falls below the clip level but is
no truer, so it stays invalid; a pixel clipped in the ambient image is invalid in every
capture, since what is subtracted there is not the ambient light.

The dome's strobes are not equally bright (0.79 to 1.42 of the median, the same for
every person): each light's intensity comes from
``photostereo/data/yaleb_intensities.json``, measured from the faces by
``scripts/calibrate_yaleb_lights.py``; lights it does not list (more than 70 degrees
off the camera axis) keep intensity 1.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib.resources import files
from pathlib import Path

import numpy as np

from photostereo.io.budget import check_memory
from photostereo.io.images import read_captures, read_raw, saturated_pixels, to_luminance
from photostereo.lights import from_azimuth_elevation
from photostereo.response import LINEAR, Response
from photostereo.session import CaptureSession, folder_labels
from psbase.errors import InputError

#: Measured relative intensities of the Yale B lights, by ``A+000E+00`` name: package
#: data, so an installed psface finds it wherever it lives.
INTENSITIES_FILE = files("photostereo") / "data" / "yaleb_intensities.json"

CAPTURE = re.compile(r"^(?P<subject>.+)_P(?P<pose>\d\d)A(?P<az>[+-]\d{3})E(?P<el>[+-]\d{2})\.pgm$")
AMBIENT = re.compile(r"^(?P<subject>.+)_P(?P<pose>\d\d)_Ambient\.pgm$")


def yaleb_poses(folder: Path) -> list[str]:
    """The pose labels (``P00`` ...) that have captures in a subject folder."""
    poses = {f"P{m['pose']}" for p in folder.iterdir() if (m := CAPTURE.match(p.name))}
    return sorted(poses)


def read_yaleb(
    folder: str | Path,
    *,
    pose: str | None = None,
    max_bytes: int | None = None,
    response: Response | None = None,
) -> CaptureSession:
    """Read one pose of a Yale B subject folder as a session.

    ``pose`` (``"P00"``) may be omitted when the folder holds a single pose;
    ``max_bytes`` as in :func:`photostereo.io.budget.check_memory`; the layout records
    no camera response, so ``response`` (the command's ``--response``, linear if None)
    decodes the captures.
    """
    folder = Path(folder)
    subject, pose = yaleb_labels(folder, pose)
    captures = sorted(
        (p for p in folder.iterdir() if (m := CAPTURE.match(p.name)) and m["pose"] == pose[1:]),
        key=lambda p: p.name,
    )
    check_memory(captures, where=folder, max_bytes=max_bytes)
    response = response or LINEAR
    stack, valid, saturation = read_captures(captures, response)
    ambient_path = next(
        (p for p in folder.iterdir() if (m := AMBIENT.match(p.name)) and m["pose"] == pose[1:]),
        None,
    )
    if ambient_path is not None:
        valid = _subtract_ambient(stack, valid, read_raw(ambient_path), response)
    angles = [m for p in captures if (m := CAPTURE.match(p.name))]
    az = np.array([int(m["az"]) for m in angles], np.float64)
    el = np.array([int(m["el"]) for m in angles], np.float64)
    return CaptureSession(
        images=stack,
        directions=from_azimuth_elevation(az, el),
        intensities=light_intensities(captures),
        subject=subject,
        session=pose,
        source=folder,
        image_names=tuple(p.name for p in captures),
        saturation=saturation,
        response=response,
        valid=valid,
    )


def light_intensities(captures: list[Path]) -> np.ndarray:
    """(K,) float32: each capture's light intensity from :data:`INTENSITIES_FILE`."""
    table = _intensity_table()
    names = [f"A{m['az']}E{m['el']}" for p in captures if (m := CAPTURE.match(p.name))]
    return np.array([table.get(name, 1.0) for name in names], np.float32)


@cache
def _intensity_table() -> dict[str, float]:
    return json.loads(INTENSITIES_FILE.read_text(encoding="utf-8"))["intensities"]


def _subtract_ambient(
    stack: np.ndarray, valid: np.ndarray | None, raw_ambient: np.ndarray, response: Response
) -> np.ndarray | None:
    """Subtract the ambient capture from ``stack`` in place (clipping at zero); return
    ``valid`` with the ambient image's own saturated pixels made invalid everywhere.

    ``valid`` was taken from the raw captures before this, which is the point: the
    subtraction moves clipped pixels below the saturation level. An ambient image of
    another size is not this pose's and is ignored, as before.
    """
    if raw_ambient.shape[:2] != stack.shape[1:]:
        return valid
    stack -= to_luminance(raw_ambient, response)[None]
    np.clip(stack, 0.0, None, out=stack)
    clipped = saturated_pixels(raw_ambient)
    if clipped is None or not clipped.any():
        return valid
    if valid is None:
        valid = np.ones(stack.shape, bool)
    valid &= ~clipped[None]
    return valid


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
