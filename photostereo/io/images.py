"""Reading and writing single captures: 8- or 16-bit, grey or RGB, in the common formats.

Decoders are strict: libjpeg, libpng, libtiff and OpenCV report damage by printing to
the process's stderr (a truncated JPEG even decodes to a grey-filled picture), so
:func:`read_image` captures file descriptor 2 while decoding and refuses the file when
a decoder said anything. Nothing a decoder prints reaches the user's terminal.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from psbase.atomic import write_atomically
from psbase.errors import InputError

IMAGE_SUFFIXES = frozenset({".png", ".bmp", ".pgm", ".ppm", ".jpg", ".jpeg", ".tif", ".tiff"})

# OpenCV's warnings (libtiff's notes on private tags, say) are no sign of damage; its
# errors are, and are captured below while decoding.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
#: File descriptor 2 is shared by every thread: one capture at a time.
_STDERR_LOCK = threading.Lock()
#: OpenCV's log prefix ("[ERROR:0@0.008] global loadsave.cpp:612 imread_ ") and its
#: exception framing ("OpenCV(5.0.0) file.cpp:77: error: (-2:Unspecified error) ").
_LOG_PREFIX = re.compile(r"^\[\s*\w+:[^\]]*\]\s*(?:global\s+\S+\s+\S+\s+)?")
_CV_ERROR = re.compile(r".*error: \([^)]*\)\s*")


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def read_image(path: Path) -> tuple[np.ndarray, float]:
    """Read one capture as float32 in [0, 1], and the level at which it saturates.

    Integer images are scaled by their type's full scale (255 or 65535), so the
    saturation level is 1.0; float images are returned as stored, with no saturation.
    RGB is reduced to luminance (ITU-R BT.601 weights), which is what the solvers use.
    A file any decoder complains about is refused, even when it returned pixels.
    """
    if not path.is_file():
        raise InputError(path, "file not found")
    # Decoding from bytes read by Python: cv2.imread crashes on names that are not UTF-8.
    encoded = np.fromfile(path, np.uint8)
    with _captured_stderr() as lines:
        raw = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED) if encoded.size else None
    if lines:
        raise InputError(
            path,
            f"cannot be read as an image ({_clean(lines[0], path)}): "
            "the file is truncated or corrupt",
        )
    if raw is None:
        raise InputError(
            path,
            "cannot be read as an image (the decoder gave up): the file is truncated, "
            "corrupt or in an unsupported format",
        )
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


def read_captures(paths: Sequence[Path]) -> tuple[np.ndarray, float]:
    """Read a session's captures into one (K, H, W) float32 stack, and its saturation level.

    The stack is filled in place, so the captures are never held twice; every capture
    must have the first one's size. The saturation level is the lowest of the captures'.
    """
    first, full_scale = read_image(paths[0])
    stack = np.empty((len(paths), *first.shape), np.float32)
    stack[0] = first
    for k, path in enumerate(paths[1:], start=1):
        image, level = read_image(path)
        if image.shape != first.shape:
            raise InputError(
                path,
                f"size {image.shape[1]}x{image.shape[0]} differs from "
                f"{paths[0].name} ({first.shape[1]}x{first.shape[0]})",
            )
        stack[k] = image
        full_scale = min(full_scale, level)
    return stack, full_scale


@contextlib.contextmanager
def _captured_stderr() -> Iterator[list[str]]:
    """Send file descriptor 2 to a temporary file for the block; then fill the yielded
    list with the non-empty lines written there."""
    lines: list[str] = []
    with _STDERR_LOCK, tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace")
            lines.extend(line.strip() for line in text.splitlines() if line.strip())


def _clean(line: str, path: Path) -> str:
    """A decoder's line without OpenCV's log and exception framing or the file's name."""
    text = _CV_ERROR.sub("", _LOG_PREFIX.sub("", line)).replace(f"{path}: ", "")
    return re.sub(r" in function '[^']*'$", "", text).strip()


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
