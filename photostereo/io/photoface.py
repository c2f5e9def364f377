"""The Photoface layout: ``SUBJECT/SESSION/`` with four ``.bmp`` captures and text metadata.

* ``LightSource.m`` holds the zenith and azimuth of each light, as MATLAB assignments.
  Accepted forms: ``zenith = [z1 z2 z3 z4];`` with ``azimuth = [...]`` (any variable
  whose name contains "zenith"/"azimuth", case-insensitive, vectors or one element per
  line such as ``Zenith(2) = 30;``), or a single K x 2 matrix whose columns are zenith
  and azimuth. Angles are degrees, unless every zenith is at most pi/2 and every azimuth
  at most 2 pi in magnitude, which only radians can be for a usable rig. Directions
  follow :func:`photostereo.lights.from_zenith_azimuth`: zenith from the camera axis,
  azimuth from the image's +x (right) toward +y (up).
* Captures pair with the lights in natural file-name order (``im1.bmp`` ... ``im4.bmp``).
* ``metadataII.txt`` holds the attributes (gender, spectacles, facial hair, pose,
  quality, occlusion, emotion) as ``key: value``, ``key = value`` or ``key value``
  lines; keys are mapped to the names the project uses (emotion becomes expression).
* ``metadata.txt`` holds 11 landmarks (x, y in pixels); kept when it parses.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from photostereo.io.images import is_image_file, read_image
from photostereo.lights import check_light_geometry, from_zenith_azimuth
from photostereo.session import SATURATION_FRACTION, CaptureSession
from psbase.errors import InputError

LIGHTS_FILE = "LightSource.m"
ATTRIBUTES_FILE = "metadataII.txt"
LANDMARKS_FILE = "metadata.txt"
N_LANDMARKS = 11

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_ASSIGNMENT = re.compile(
    rf"(?P<name>[A-Za-z_][\w.]*)\s*(?:\((?P<index>\d+)\))?\s*=\s*(?P<value>\[[^\]]*\]|{_NUMBER})"
)
_ATTRIBUTE_KEYS = {
    "gender": "gender",
    "sex": "gender",
    "spectacles": "spectacles",
    "glasses": "spectacles",
    "facial_hair": "facial_hair",
    "facialhair": "facial_hair",
    "pose": "pose",
    "quality": "quality",
    "occlusion": "occlusion",
    "emotion": "expression",
    "expression": "expression",
}

log = logging.getLogger(__name__)


def read_photoface(folder: str | Path) -> CaptureSession:
    """Read one Photoface session folder."""
    folder = Path(folder)
    lights_path = folder / LIGHTS_FILE
    zenith, azimuth = parse_light_source(lights_path)
    degrees = not _radians(zenith, azimuth)
    directions = from_zenith_azimuth(zenith, azimuth, degrees=degrees)
    check_light_geometry(directions, where=str(lights_path))
    captures = sorted(
        (p for p in folder.iterdir() if is_image_file(p) and p.suffix.lower() == ".bmp"),
        key=lambda p: _natural_key(p.name),
    )
    if len(captures) != len(zenith):
        raise InputError(
            folder,
            f"{len(captures)} .bmp captures but {len(zenith)} lights in {LIGHTS_FILE}: "
            "every light needs exactly one capture",
        )
    images = []
    for path in captures:
        image, _ = read_image(path)
        if images and image.shape != images[0].shape:
            raise InputError(path, f"size {image.shape[::-1]} differs from {captures[0].name}")
        images.append(image)
    return CaptureSession(
        images=np.stack(images),
        directions=directions,
        intensities=np.ones(len(images), np.float32),
        subject=folder.resolve().parent.name,
        session=folder.resolve().name,
        attributes=parse_attributes(folder / ATTRIBUTES_FILE),
        source=folder,
        image_names=tuple(p.name for p in captures),
        saturation=SATURATION_FRACTION,
        landmarks=parse_landmarks(folder / LANDMARKS_FILE),
    )


def parse_light_source(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(zenith, azimuth) arrays from a ``LightSource.m`` file."""
    if not path.is_file():
        raise InputError(path, "missing: a Photoface session needs its light angles")
    text = re.sub(r"%[^\n]*", "", path.read_text(encoding="utf-8", errors="replace"))
    found: dict[str, dict[int, float]] = {"zenith": {}, "azimuth": {}}
    matrices = []
    for match in _ASSIGNMENT.finditer(text):
        name = match["name"].lower()
        values = [float(v) for v in re.findall(_NUMBER, match["value"])]
        kind = "zenith" if "zenith" in name else "azimuth" if "azimuth" in name else None
        if kind is None:
            rows = [r for r in re.split(r"[;\n]", match["value"].strip("[]")) if r.strip()]
            if len(rows) >= 3 and all(len(re.findall(_NUMBER, r)) == 2 for r in rows):
                matrices.append(np.array([re.findall(_NUMBER, r) for r in rows], float))
            continue
        start = int(match["index"]) - 1 if match["index"] else 0
        for offset, value in enumerate(values):
            found[kind][start + offset] = value
    if found["zenith"] and found["azimuth"]:
        zenith = _ordered(path, found["zenith"], "zenith")
        azimuth = _ordered(path, found["azimuth"], "azimuth")
        if len(zenith) != len(azimuth):
            raise InputError(path, f"{len(zenith)} zenith angles but {len(azimuth)} azimuths")
        return zenith, azimuth
    if len(matrices) == 1:
        return matrices[0][:, 0], matrices[0][:, 1]
    raise InputError(path, "no zenith and azimuth angles found (expected e.g. zenith = [...];)")


def _ordered(path: Path, values: dict[int, float], kind: str) -> np.ndarray:
    indices = sorted(values)
    if indices != list(range(len(indices))):
        raise InputError(path, f"{kind} angles are not numbered 1..{len(indices)}")
    return np.array([values[i] for i in indices])


def _radians(zenith: np.ndarray, azimuth: np.ndarray) -> bool:
    return bool(np.abs(zenith).max() <= np.pi / 2 and np.abs(azimuth).max() <= 2 * np.pi)


def parse_attributes(path: Path) -> dict[str, str | int]:
    """Photoface attributes from ``metadataII.txt``; empty when the file is absent."""
    if not path.is_file():
        return {}
    attributes: dict[str, str | int] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = re.split(r"\s*[:=,\t]\s*|\s+", line.strip(), maxsplit=1)
        if len(parts) != 2 or not parts[0]:
            continue
        key = parts[0].lower().replace(" ", "_").replace("-", "_")
        value = parts[1].strip()
        key = _ATTRIBUTE_KEYS.get(key, key)
        attributes[key] = int(value) if value.isdigit() else value
    return attributes


def parse_landmarks(path: Path) -> np.ndarray | None:
    """The 11 landmarks of ``metadata.txt`` as (11, 2) float32, or None if absent or odd."""
    if not path.is_file():
        return None
    numbers = re.findall(_NUMBER, path.read_text(encoding="utf-8", errors="replace"))
    if len(numbers) != 2 * N_LANDMARKS:
        log.warning(
            "%s: expected %d landmark coordinates, found %d; ignored",
            path,
            2 * N_LANDMARKS,
            len(numbers),
        )
        return None
    return np.array(numbers, dtype=np.float32).reshape(N_LANDMARKS, 2)


def _natural_key(name: str) -> list[int | str]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]
