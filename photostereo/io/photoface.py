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
  Odd bytes there (not UTF-8, control characters) become U+FFFD rather than refusing
  the session: attributes describe it, they are not needed to reconstruct it.
"""

from __future__ import annotations

import re
import reprlib
from pathlib import Path

import numpy as np

from photostereo.io.budget import check_memory
from photostereo.io.images import is_image_file, read_captures
from photostereo.lights import check_light_geometry, from_zenith_azimuth
from photostereo.response import LINEAR, Response
from photostereo.session import CaptureSession, clean_text, folder_labels
from psbase.errors import InputError
from psbase.labels import natural_key

LIGHTS_FILE = "LightSource.m"
ATTRIBUTES_FILE = "metadataII.txt"

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
#: ``name = value`` or ``name(index) = value``; the value is a bracketed vector or
#: matrix, or whatever stands before the next ``;``, so a NaN is seen, not skipped.
_ASSIGNMENT = re.compile(
    r"(?P<name>[A-Za-z_][\w.]*)\s*(?:\((?P<index>\d+)\))?\s*=\s*(?P<value>\[[^\]]*\]|[^;\n\[\]]+)"
)
#: Light numbers have at most this many digits (``int`` refuses 4300 or more).
MAX_INDEX_DIGITS = 6
#: metadataII.txt's keys (lower case, spaces as underscores) -> the project's names.
ATTRIBUTE_KEYS = {
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


def read_photoface(
    folder: str | Path, *, max_bytes: int | None = None, response: Response | None = None
) -> CaptureSession:
    """Read one Photoface session folder; ``max_bytes`` as in :func:`check_memory`.

    The layout records no camera response, so the captures are decoded with
    ``response`` (the command's ``--response``), linear if None.
    """
    folder = Path(folder)
    lights_path = folder / LIGHTS_FILE
    zenith, azimuth = parse_light_source(lights_path)
    degrees = not _radians(zenith, azimuth)
    directions = from_zenith_azimuth(zenith, azimuth, degrees=degrees)
    check_light_geometry(directions, where=str(lights_path))
    captures = sorted(
        (p for p in folder.iterdir() if is_image_file(p) and p.suffix.lower() == ".bmp"),
        key=lambda p: natural_key(p.name),
    )
    if len(captures) != len(zenith):
        raise InputError(
            folder,
            f"{len(captures)} .bmp captures but {len(zenith)} lights in {LIGHTS_FILE}: "
            "every light needs exactly one capture",
        )
    check_memory(captures, where=folder, max_bytes=max_bytes)
    response = response or LINEAR
    read = read_captures(captures, response)
    subject, session = folder_labels(folder)
    return CaptureSession(
        images=read.images,
        directions=directions,
        intensities=np.ones(len(read.images), np.float32),
        subject=subject,
        session=session,
        attributes=parse_attributes(folder / ATTRIBUTES_FILE),
        source=folder,
        image_names=tuple(p.name for p in captures),
        saturation=read.saturation,
        response=response,
        valid=read.valid,
    )


def parse_light_source(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(zenith, azimuth) arrays from a ``LightSource.m`` file.

    Every value of a zenith or azimuth assignment must be a finite angle within one
    turn: a NaN or an overflowing ``1e400`` is refused, never skipped, since skipping
    would pair the remaining angles with the wrong captures.
    """
    if not path.is_file():
        raise InputError(path, "missing: a Photoface session needs its light angles")
    text = re.sub(r"%[^\n]*", "", _read_text(path))
    found: dict[str, dict[int, float]] = {"zenith": {}, "azimuth": {}}
    matrices = []
    for match in _ASSIGNMENT.finditer(text):
        name, value = match["name"].lower(), match["value"].strip()
        kind = "zenith" if "zenith" in name else "azimuth" if "azimuth" in name else None
        if kind is None:
            rows = [_tokens(r) for r in re.split(r"[;\n]", value.strip("[]")) if r.strip()]
            if len(rows) >= 3 and all(len(r) == 2 and all(map(_is_number, r)) for r in rows):
                matrices.append(np.array(rows, float))
            continue
        if value.startswith(("'", '"')):  # a string such as units = 'degrees'
            continue
        start = _light_number(path, kind, match["index"])
        for offset, token in enumerate(_tokens(value.strip("[]").replace(";", " "))):
            if not _is_number(token):
                raise InputError(path, f"{kind} value {reprlib.repr(token)} is not a number")
            found[kind][start + offset] = float(token)
    if found["zenith"] and found["azimuth"]:
        zenith = _ordered(path, found["zenith"], "zenith")
        azimuth = _ordered(path, found["azimuth"], "azimuth")
        if len(zenith) != len(azimuth):
            raise InputError(path, f"{len(zenith)} zenith angles but {len(azimuth)} azimuths")
    elif len(matrices) == 1:
        zenith, azimuth = matrices[0][:, 0], matrices[0][:, 1]
    else:
        raise InputError(path, "no zenith and azimuth angles found (expected e.g. zenith = [...];)")
    _check_angles(path, "zenith", zenith)
    _check_angles(path, "azimuth", azimuth)
    return zenith, azimuth


def _read_text(path: Path) -> str:
    """A metadata file's text; bytes that are not UTF-8 become U+FFFD."""
    try:
        return path.read_bytes().decode("utf-8-sig", "replace")
    except OSError as error:
        raise InputError(path, f"cannot be read ({error.strerror})") from None


def _tokens(text: str) -> list[str]:
    """The whitespace- or comma-separated items of a MATLAB vector (``...`` continues)."""
    return [t for t in re.split(r"[\s,]+", text.replace("...", " ")) if t]


def _is_number(token: str) -> bool:
    return re.fullmatch(_NUMBER, token) is not None


def _light_number(path: Path, kind: str, index: str | None) -> int:
    """The 0-based light of ``zenith(INDEX) = ...``; 0 for a whole-vector assignment."""
    if index is None:
        return 0
    if len(index) > MAX_INDEX_DIGITS:
        raise InputError(path, f"{kind}({index[:12]}...) is not a light number")
    return int(index) - 1


def _check_angles(path: Path, kind: str, angles: np.ndarray) -> None:
    """Refuse angles that are not finite or beyond a full turn (in degrees)."""
    bad = ~(np.abs(angles) <= 360.0)
    if bad.any():
        k = int(np.argmax(bad))
        raise InputError(
            path, f"{kind} angle {k + 1} is {angles[k]:g}: not a finite angle within -360..360"
        )


def _ordered(path: Path, values: dict[int, float], kind: str) -> np.ndarray:
    indices = sorted(values)
    if indices != list(range(len(indices))):
        raise InputError(path, f"{kind} angles are not numbered 1..{len(indices)}")
    return np.array([values[i] for i in indices])


def _radians(zenith: np.ndarray, azimuth: np.ndarray) -> bool:
    return bool(np.abs(zenith).max() <= np.pi / 2 and np.abs(azimuth).max() <= 2 * np.pi)


def parse_attributes(path: Path) -> dict[str, str | int]:
    """Photoface attributes from ``metadataII.txt``; empty when the file is absent.

    The file is free text: bytes that are not UTF-8 and control characters become
    U+FFFD (see :func:`clean_text`), so odd bytes never refuse a session and every
    attribute is clean text; whole numbers of up to nine digits become ints.
    """
    if not path.is_file():
        return {}
    attributes: dict[str, str | int] = {}
    for line in _read_text(path).splitlines():
        line = line.strip()  # "Facial Hair: none" keeps its two-word key; "Gender male" splits
        separator = r"\s*[:=,\t]\s*" if re.search(r"[:=,\t]", line) else r"\s+"
        parts = re.split(separator, line, maxsplit=1)
        if len(parts) != 2 or not parts[0]:
            continue
        key = clean_text(parts[0].lower().replace(" ", "_").replace("-", "_"))
        value = clean_text(parts[1].strip())
        key = ATTRIBUTE_KEYS.get(key, key)
        attributes[key] = int(value) if re.fullmatch(r"[0-9]{1,9}", value) else value
    return attributes
