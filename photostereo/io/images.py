"""Reading and writing single captures: 8- or 16-bit, grey or RGB, in the common formats."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from psbase.atomic import write_atomically
from psbase.errors import InputError

IMAGE_SUFFIXES = frozenset({".png", ".bmp", ".pgm", ".ppm", ".jpg", ".jpeg", ".tif", ".tiff"})


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def read_image(path: Path) -> tuple[np.ndarray, float]:
    """Read one capture as float32 in [0, 1], and the level at which it saturates.

    Integer images are scaled by their type's full scale (255 or 65535), so the
    saturation level is 1.0; float images are returned as stored, with no saturation.
    RGB is reduced to luminance (ITU-R BT.601 weights), which is what the solvers use.
    """
    if not path.is_file():
        raise InputError(path, "file not found")
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise InputError(path, "cannot be read as an image (corrupt or unsupported format)")
    if raw.ndim == 3:
        if raw.shape[2] == 4:
            raw = raw[..., :3]
        raw = cv2.cvtColor(raw, cv2.COLOR_BGR2GRAY) if raw.shape[2] == 3 else raw[..., 0]
    if raw.dtype == np.uint8:
        return raw.astype(np.float32) / 255.0, 1.0
    if raw.dtype == np.uint16:
        return raw.astype(np.float32) / 65535.0, 1.0
    if raw.dtype in (np.float32, np.float64):
        return raw.astype(np.float32), float("inf")
    raise InputError(path, f"unsupported pixel type {raw.dtype}")


def write_image(path: Path, image: np.ndarray, *, bits: int = 8) -> None:
    """Write a [0, 1] float image (H, W) or (H, W, 3) RGB as an 8- or 16-bit file, atomically."""
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    full = 255 if bits == 8 else 65535
    dtype = np.uint8 if bits == 8 else np.uint16
    data = np.clip(np.rint(np.asarray(image, dtype=np.float64) * full), 0, full).astype(dtype)
    if data.ndim == 3:
        data = data[..., ::-1]  # OpenCV stores BGR
    write_atomically(path, lambda tmp: _imwrite(tmp, data, path.suffix))


def _imwrite(tmp: Path, data: np.ndarray, suffix: str) -> None:
    ok, buffer = cv2.imencode(suffix, data)
    if not ok:
        raise InputError(tmp, f"cannot encode an image as {suffix}")
    tmp.write_bytes(buffer.tobytes())


def write_npy(path: Path, array: np.ndarray) -> None:
    """Save ``array`` as ``.npy`` atomically."""

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.save(handle, np.asarray(array))

    write_atomically(path, save)
