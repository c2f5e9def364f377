"""The canonical session layout: a folder of captures and ``lights.json`` (INTERFACES.md)."""

from __future__ import annotations

import json
import math
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from photostereo.io.budget import check_memory
from photostereo.io.images import is_image_file, read_captures, write_image, write_npy
from photostereo.lights import check_light_geometry, normalize_directions
from photostereo.response import LINEAR, Response, from_linear, parse_response
from photostereo.session import CaptureSession, clean_text, folder_labels, is_clean
from psbase.atomic import write_atomically
from psbase.errors import InputError
from psbase.outputs import make_folders

LIGHTS_FILE = "lights.json"
#: Files beside the captures that are not captures (ground truth of synthetic sessions).
GROUND_TRUTH_PREFIX = "gt_"
#: Largest magnitude a direction component or an intensity may have, and the smallest
#: an intensity may have: beyond these a value is a typing or export error, not a rig.
MAX_VALUE = 1e6
MIN_INTENSITY = 1e-6


@dataclass(frozen=True)
class Light:
    """One entry of ``lights.json``: the capture's file name, direction and intensity."""

    image: str
    direction: tuple[float, float, float]
    intensity: float


def resolve_inside(root: Path, name: str) -> Path:
    """Resolve a file name taken from a data file, refusing anything outside ``root``."""
    root = root.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root):
        raise InputError(root / LIGHTS_FILE, f"image {name!r} points outside the session folder")
    return path


def read_canonical(
    folder: str | Path, *, max_bytes: int | None = None, response: Response | None = None
) -> CaptureSession:
    """Read a session folder holding ``lights.json`` and the captures it names.

    Everything is checked before a pixel is decoded: the lights, the camera response,
    that every capture exists and every image has a light, and that the session fits in
    ``max_bytes`` (see :func:`photostereo.io.budget.check_memory`). The captures are
    decoded by the response ``lights.json`` declares (its top-level ``"response"``),
    or ``response`` (the command's ``--response``), else as linear; a declaration
    that differs from ``response`` refuses the session, naming both.
    """
    folder = Path(folder)
    spec_path = folder / LIGHTS_FILE
    spec = _read_spec(spec_path)
    subject, session = _labels(spec_path, spec)
    response = session_response(spec_path, spec, response)
    lights = [_parse_light(spec_path, index, entry) for index, entry in enumerate(spec["lights"])]
    directions = np.array([light.direction for light in lights]).reshape(-1, 3)
    check_light_geometry(directions, where=str(spec_path))
    paths = _capture_paths(folder, spec_path, lights)
    _check_unlisted(folder, set(paths))
    check_memory(paths, where=folder, max_bytes=max_bytes)
    captures = read_captures(paths, response)
    return CaptureSession(
        images=captures.images,
        directions=normalize_directions(directions, where=str(spec_path)),
        intensities=np.array([light.intensity for light in lights], np.float32),
        subject=subject,
        session=session,
        attributes=dict(spec.get("attributes") or {}),
        source=folder,
        image_names=tuple(light.image for light in lights),
        saturation=captures.saturation,
        response=response,
        valid=captures.valid,
        attack=_attack(spec_path, spec),
    )


def _attack(spec_path: Path, spec: dict[str, Any]) -> str:
    """The session's ``"attack"`` label (a presentation attack), empty if none."""
    attack = spec.get("attack", "")
    if not isinstance(attack, str):
        raise InputError(spec_path, '"attack" must be a string naming the attack, or absent')
    return clean_text(attack)


def canonical_labels(folder: str | Path) -> tuple[str, str]:
    """(subject, session) of a canonical session, reading ``lights.json`` only."""
    spec_path = Path(folder) / LIGHTS_FILE
    return _labels(spec_path, _read_spec(spec_path))


def _read_spec(spec_path: Path) -> dict[str, Any]:
    if not spec_path.is_file():
        raise InputError(spec_path, "missing: a canonical session folder needs lights.json")
    try:
        spec = json.loads(spec_path.read_bytes().decode("utf-8"))
    except OSError as error:
        raise InputError(spec_path, f"cannot be read ({error.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(spec_path, f"not valid JSON ({error})") from None
    except ValueError:  # Python refuses integers of more than 4300 digits
        raise InputError(spec_path, "not usable JSON (a number has thousands of digits)") from None
    except RecursionError:
        raise InputError(spec_path, "not usable JSON (nested too deeply)") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("lights"), list):
        raise InputError(spec_path, 'must be an object with a "lights" list')
    if not isinstance(spec.get("attributes", {}) or {}, dict):
        raise InputError(spec_path, '"attributes" must be an object')
    return spec


def session_response(
    spec_path: Path, spec: dict[str, Any], asked: Response | None = None
) -> Response:
    """The response to decode a session with: the one ``lights.json`` declares, else
    ``asked`` (the command's ``--response``), else linear.

    A declaration and a request that differ are refused rather than one silently
    winning: either the rig's record or the command is wrong, and maps decoded with the
    wrong curve look plausible.
    """
    declared = spec.get("response")
    if declared is None:
        return asked or LINEAR
    try:
        found = parse_response(declared)
    except ValueError as error:
        raise InputError(spec_path, f'"response" {error}') from None
    if asked is not None and asked != found:
        raise InputError(
            spec_path,
            f'declares "response": "{found}" but --response {asked} was asked for; '
            "drop --response or correct the file",
        )
    return found


def _labels(spec_path: Path, spec: dict[str, Any]) -> tuple[str, str]:
    """The subject and session labels, from ``lights.json`` or else the folder names."""
    labels = []
    for key, fallback in zip(("subject", "session"), folder_labels(spec_path.parent), strict=True):
        value = spec.get(key)
        if value is None or value == "":
            labels.append(fallback)
        elif isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            labels.append(clean_text(str(value)))
        else:
            raise InputError(spec_path, f'"{key}" must be a string, not {type(value).__name__}')
    return labels[0], labels[1]


def _parse_light(spec_path: Path, index: int, entry: Any) -> Light:
    if not isinstance(entry, dict):
        raise InputError(spec_path, f"light {index} must be an object")
    name = entry.get("image")
    if not isinstance(name, str) or not name:
        raise InputError(spec_path, f"light {index} has no image: every light needs its capture")
    if not is_clean(name):
        raise InputError(
            spec_path, f"light {index}: image name {reprlib.repr(name)} holds control characters"
        )
    direction = entry.get("direction")
    values = [_number(v) for v in direction] if isinstance(direction, list) else []
    if len(values) != 3 or not all(abs(v) <= MAX_VALUE for v in values) or not any(values):
        raise InputError(
            spec_path,
            f"light {index} ({name}): direction must be three finite numbers, not all zero, "
            f"of magnitude at most {MAX_VALUE:g}; got {reprlib.repr(direction)}",
        )
    intensity = _number(entry.get("intensity", 1.0))
    if not MIN_INTENSITY <= intensity <= MAX_VALUE:
        raise InputError(
            spec_path,
            f"light {index} ({name}): intensity must be a number from {MIN_INTENSITY:g} to "
            f"{MAX_VALUE:g}; got {reprlib.repr(entry.get('intensity'))}",
        )
    return Light(name, (values[0], values[1], values[2]), intensity)


def _number(value: Any) -> float:
    """A JSON number as a float; NaN for anything else (which every range check fails).

    JSON has no limit on integers, so a huge one becomes an infinite float.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _capture_paths(folder: Path, spec_path: Path, lights: list[Light]) -> list[Path]:
    """Each light's capture file, inside ``folder``, existing and named once."""
    paths: list[Path] = []
    for index, light in enumerate(lights):
        try:
            path = resolve_inside(folder, light.image)
            present = path.is_file()
        except (OSError, ValueError, RuntimeError):  # too long, not encodable, a link loop
            raise InputError(
                spec_path,
                f"light {index}: image {reprlib.repr(light.image)} is not a usable file name "
                "(too long, or a symbolic link that loops)",
            ) from None
        if path in paths:
            raise InputError(spec_path, f"image {light.image} is listed for two lights")
        if not present:
            raise InputError(path, f"light {index} names this image, but the file is missing")
        paths.append(path)
    return paths


def _check_unlisted(folder: Path, listed: set[Path]) -> None:
    """Refuse a capture without a light: a forgotten one would silently change the rig."""
    for path in sorted(folder.iterdir()):
        if is_image_file(path) and not path.name.startswith(GROUND_TRUTH_PREFIX):
            if path.resolve() not in listed:
                raise InputError(
                    path,
                    f"image has no light in {LIGHTS_FILE}: add an entry for it or move it away",
                )


def write_canonical(
    folder: str | Path,
    session: CaptureSession,
    *,
    bits: int = 8,
    suffix: str = ".png",
    rgb_images: np.ndarray | None = None,
    ground_truth: Mapping[str, np.ndarray] | None = None,
    response: Response | str | None = None,
) -> Path:
    """Write ``session`` as a canonical folder; return it.

    ``rgb_images`` (K, H, W, 3), if given, is written instead of the grey captures.
    ``response``, if given, encodes the (linear) pixels with that curve before they are
    quantised and declares it in ``lights.json``, as a camera with that response
    would; without it nothing is declared and the pixels are written as they are.
    ``ground_truth`` maps names (``normal``, ``albedo``, ``depth``, ``mask``) to arrays
    written as ``gt_NAME.npy`` (``gt_mask.png`` for the mask). ``lights.json`` is written
    last, so a folder without it was interrupted and holds no session.
    """
    folder = Path(folder)
    make_folders(folder)
    names = [f"l{k}{suffix}" for k in range(session.n_lights)]
    pixels = session.images if rgb_images is None else rgb_images
    curve = None if response is None else parse_response(response)
    if curve is not None:
        pixels = from_linear(pixels, curve)
    for name, image in zip(names, pixels, strict=True):
        write_image(folder / name, image, bits=bits)
    for key, array in (ground_truth or {}).items():
        if key == "mask":
            write_image(folder / "gt_mask.png", np.asarray(array, dtype=np.float32) > 0)
        else:
            write_npy(folder / f"gt_{key}.npy", array)
    spec = {
        "subject": session.subject,
        "session": session.session,
        "lights": [
            {"image": name, "direction": [round(float(v), 7) for v in d], "intensity": float(e)}
            for name, d, e in zip(names, session.directions, session.intensities, strict=True)
        ],
        "attributes": dict(session.attributes),
    }
    if curve is not None:
        spec["response"] = str(curve)
    if session.attack:
        spec["attack"] = session.attack
    text = json.dumps(spec, indent=2) + "\n"
    write_atomically(folder / LIGHTS_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return folder
