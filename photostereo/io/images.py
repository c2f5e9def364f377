"""Reading and writing single captures: 8- or 16-bit, grey or RGB, in the common formats.

Decoders are strict: libjpeg, libpng, libtiff and OpenCV report damage by printing to
the process's stderr (a truncated JPEG even decodes to a grey-filled picture), so
:func:`read_raw` captures file descriptor 2 while decoding and refuses the file when
a decoder said anything. Nothing a decoder prints reaches the user's terminal.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from photostereo.response import LINEAR, Response, to_linear
from photostereo.session import SATURATION_FRACTION
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
#: Full scale of each pixel type psface reads; float captures have none.
_FULL_SCALE = {
    np.dtype(np.uint8): 255.0,
    np.dtype(np.uint16): 65535.0,
    np.dtype(np.float32): math.inf,
    np.dtype(np.float64): math.inf,
}


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def read_raw(path: Path) -> np.ndarray:
    """Decode one capture as stored: (H, W) or (H, W, C) in the file's own pixel type.

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
    if raw.dtype not in _FULL_SCALE:
        raise InputError(path, f"unsupported pixel type {raw.dtype}")
    return raw


def colour_channels(raw: np.ndarray) -> np.ndarray:
    """The channels that carry the picture: BGR of a colour file (alpha dropped), the
    grey channel of a grey one (with or without alpha), as (H, W, C)."""
    if raw.ndim == 2:
        return raw[..., None]
    return raw[..., :3] if raw.shape[2] >= 3 else raw[..., :1]


def saturated_pixels(raw: np.ndarray) -> np.ndarray | None:
    """(H, W) bool: where any colour channel of the stored capture is at or above
    ``SATURATION_FRACTION`` of its integer type's full scale; None for float captures,
    which have no fixed full scale.

    This is taken on the stored values, before any decoding, subtraction or warp: each
    of those moves a clipped value off the clip level, and a clipped observation says
    only that the true one was at least that bright. One clipped channel is enough,
    since luminance mixes the channels.
    """
    full = _FULL_SCALE[raw.dtype]
    if not math.isfinite(full):
        return None
    threshold = math.ceil(SATURATION_FRACTION * full)
    return np.asarray((colour_channels(raw) >= threshold).any(axis=2))


def to_luminance(raw: np.ndarray, response: Response = LINEAR) -> np.ndarray:
    """(H, W) float32 linear luminance of a stored capture.

    Integers are scaled by their type's full scale (255 or 65535), float captures kept
    as stored; each channel is decoded by ``response`` and only then are the channels
    mixed (ITU-R BT.601 weights), since luminance is a sum of radiances, not of
    gamma-encoded values.
    """
    full = _FULL_SCALE[raw.dtype]
    channels = colour_channels(raw).astype(np.float32)
    if math.isfinite(full):
        channels /= np.float32(full)
    channels = to_linear(channels, response)
    if channels.shape[2] == 3:
        return cv2.cvtColor(channels, cv2.COLOR_BGR2GRAY)
    return np.ascontiguousarray(channels[..., 0])


def read_image(path: Path, response: Response = LINEAR) -> tuple[np.ndarray, float]:
    """Read one capture as float32 linear luminance, and its full scale.

    Integer images are scaled by their type's full scale (255 or 65535) and decoded by
    ``response``, so their full scale is 1.0; float images are returned as stored
    (decoded), with no full scale (``inf``). RGB is reduced to luminance
    (:func:`to_luminance`), which is what the solvers use.
    """
    raw = read_raw(path)
    full = 1.0 if math.isfinite(_FULL_SCALE[raw.dtype]) else math.inf
    return to_luminance(raw, response), full


class Captures(NamedTuple):
    """A session's decoded captures (see :func:`read_captures`)."""

    #: (K, H, W) float32 linear luminance.
    images: np.ndarray
    #: (K, H, W) bool, False where the stored capture is saturated; None if none is.
    valid: np.ndarray | None
    #: The lowest level, in ``images``' units, at or above which a capture saturates
    #: (``inf`` if every capture is float).
    saturation: float


def read_captures(paths: Sequence[Path], response: Response = LINEAR) -> Captures:
    """Read a session's captures into one (K, H, W) float32 stack, decoded by ``response``,
    with the observations that are valid (not saturated in the stored capture).

    The stack is filled in place, so the captures are never held twice, and the
    validity mask is made only once a capture has a saturated pixel; every capture must
    have the first one's size.
    """
    first = read_raw(paths[0])
    shape = first.shape[:2]
    stack = np.empty((len(paths), *shape), np.float32)
    valid: np.ndarray | None = None
    saturation = math.inf
    for k, path in enumerate(paths):
        raw = first if k == 0 else read_raw(path)
        if raw.shape[:2] != shape:
            raise InputError(
                path,
                f"size {raw.shape[1]}x{raw.shape[0]} differs from "
                f"{paths[0].name} ({shape[1]}x{shape[0]})",
            )
        saturated = saturated_pixels(raw)
        if saturated is not None and saturated.any():
            if valid is None:
                valid = np.ones(stack.shape, bool)
            valid[k] = ~saturated
        stack[k] = to_luminance(raw, response)
        saturation = min(saturation, _saturation_level(raw, response))
    return Captures(stack, valid, saturation)


def _saturation_level(raw: np.ndarray, response: Response) -> float:
    """``SATURATION_FRACTION`` of an integer capture's full scale, decoded by ``response``
    (in the units :func:`to_luminance` gives); ``inf`` for a float capture."""
    if not math.isfinite(_FULL_SCALE[raw.dtype]):
        return math.inf
    return float(to_linear(np.array(SATURATION_FRACTION, np.float32), response))


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
