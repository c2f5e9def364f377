"""The canonical session layout: a folder of captures and ``lights.json`` (INTERFACES.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from photostereo.io.images import is_image_file, read_image, write_image, write_npy
from photostereo.lights import check_light_geometry
from photostereo.session import SATURATION_FRACTION, CaptureSession
from psbase.atomic import write_atomically
from psbase.errors import InputError

LIGHTS_FILE = "lights.json"
#: Files beside the captures that are not captures (ground truth of synthetic sessions).
GROUND_TRUTH_PREFIX = "gt_"


def resolve_inside(root: Path, name: str) -> Path:
    """Resolve a file name taken from a data file, refusing anything outside ``root``."""
    root = root.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root):
        raise InputError(root / LIGHTS_FILE, f"image {name!r} points outside the session folder")
    return path


def read_canonical(folder: str | Path) -> CaptureSession:
    """Read a session folder holding ``lights.json`` and the captures it names."""
    folder = Path(folder)
    spec_path = folder / LIGHTS_FILE
    spec = _read_spec(spec_path)
    entries = spec["lights"]
    parsed = [_parse_light(spec_path, index, entry) for index, entry in enumerate(entries)]
    check_light_geometry(np.array([d for _, d, _ in parsed]).reshape(-1, 3), where=str(spec_path))
    images, directions, intensities, names = [], [], [], []
    full_scale = 1.0
    for index, (name, direction, intensity) in enumerate(parsed):
        if name in names:
            raise InputError(spec_path, f"image {name} is listed for two lights")
        path = resolve_inside(folder, name)
        if not path.is_file():
            raise InputError(path, f"light {index} names this image, but the file is missing")
        image, full_scale = read_image(path)
        if images and image.shape != images[0].shape:
            raise InputError(
                path,
                f"size {image.shape[1]}x{image.shape[0]} differs from "
                f"{names[0]} ({images[0].shape[1]}x{images[0].shape[0]})",
            )
        images.append(image)
        directions.append(direction)
        intensities.append(intensity)
        names.append(name)
    listed = {resolve_inside(folder, n) for n in names}
    for path in sorted(folder.iterdir()):
        if is_image_file(path) and not path.name.startswith(GROUND_TRUTH_PREFIX):
            if path.resolve() not in listed:
                raise InputError(
                    path,
                    f"image has no light in {LIGHTS_FILE}: add an entry for it or move it away",
                )
    return CaptureSession(
        images=np.stack(images),
        directions=np.asarray(directions, dtype=np.float32),
        intensities=np.asarray(intensities, dtype=np.float32),
        subject=str(spec.get("subject") or folder.resolve().parent.name),
        session=str(spec.get("session") or folder.resolve().name),
        attributes=dict(spec.get("attributes") or {}),
        source=folder,
        image_names=tuple(names),
        saturation=SATURATION_FRACTION * full_scale,
    )


def _read_spec(spec_path: Path) -> dict[str, Any]:
    if not spec_path.is_file():
        raise InputError(spec_path, "missing: a canonical session folder needs lights.json")
    try:
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(spec_path, f"not valid JSON ({error})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("lights"), list):
        raise InputError(spec_path, 'must be an object with a "lights" list')
    if not isinstance(spec.get("attributes", {}) or {}, dict):
        raise InputError(spec_path, '"attributes" must be an object')
    return spec


def _parse_light(spec_path: Path, index: int, entry: Any) -> tuple[str, list[float], float]:
    if not isinstance(entry, dict):
        raise InputError(spec_path, f"light {index} must be an object")
    name = entry.get("image")
    if not isinstance(name, str) or not name:
        raise InputError(spec_path, f"light {index} has no image: every light needs its capture")
    direction = entry.get("direction")
    if (
        not isinstance(direction, list)
        or len(direction) != 3
        or not all(isinstance(v, int | float) for v in direction)
    ):
        raise InputError(spec_path, f"light {index} ({name}): direction must be three numbers")
    intensity = entry.get("intensity", 1.0)
    if not isinstance(intensity, int | float) or not intensity > 0:
        raise InputError(spec_path, f"light {index} ({name}): intensity must be a positive number")
    return name, [float(v) for v in direction], float(intensity)


def write_canonical(
    folder: str | Path,
    session: CaptureSession,
    *,
    bits: int = 8,
    suffix: str = ".png",
    rgb_images: np.ndarray | None = None,
    ground_truth: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Write ``session`` as a canonical folder; return it.

    ``rgb_images`` (K, H, W, 3), if given, is written instead of the grey captures.
    ``ground_truth`` maps names (``normal``, ``albedo``, ``depth``, ``mask``) to arrays
    written as ``gt_NAME.npy`` (``gt_mask.png`` for the mask). ``lights.json`` is written
    last, so a folder without it was interrupted and holds no session.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"l{k}{suffix}" for k in range(session.n_lights)]
    pixels = session.images if rgb_images is None else rgb_images
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
    text = json.dumps(spec, indent=2) + "\n"
    write_atomically(folder / LIGHTS_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return folder
