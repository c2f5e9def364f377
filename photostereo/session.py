"""The in-memory capture session every reader produces and every solver consumes."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from photostereo.lights import check_light_geometry, normalize_directions
from photostereo.response import LINEAR, Response, parse_response
from psbase.errors import InputError

#: Captures at or above this fraction of full scale are treated as saturated.
SATURATION_FRACTION = 0.98
#: Control characters, line separators, and the lone surrogates that stand for
#: undecodable bytes in file names.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` with control characters and undecodable bytes replaced by U+FFFD.

    Labels and attributes come from data files and folder names; cleaned, they print
    on one line and encode as UTF-8 in every file psface writes (HDF5 refuses lone
    surrogates, a terminal obeys escape codes).
    """
    return _UNPRINTABLE.sub("\ufffd", text)


def is_clean(text: str) -> bool:
    """True if :func:`clean_text` would leave ``text`` as it is."""
    return _UNPRINTABLE.search(text) is None


def folder_labels(folder: Path) -> tuple[str, str]:
    """(subject, session) named by a ``SUBJECT/SESSION`` folder, as the user wrote it.

    The path is made absolute without resolving symbolic links, so a session reached
    through a linked folder is labelled by the link's name, not the target's.
    """
    absolute = Path(os.path.abspath(folder))
    return clean_text(absolute.parent.name), clean_text(absolute.name)


@dataclass(frozen=True, eq=False)
class CaptureSession:
    """One still face photographed once per light.

    Attributes
    ----------
    images : (K, H, W) float32
        Captures in linear radiance: scaled to [0, 1] by their bit depth, decoded by
        ``response``, RGB reduced to luminance (Yale B: ambient image subtracted).
    directions : (K, 3) float32
        Unit vectors from the surface toward each light, in the image frame
        (x right, y up, z toward the camera).
    intensities : (K,) float32
        Relative brightness of each light; the solvers divide it out.
    subject, session : str
        Identity and visit labels.
    attributes : mapping
        Photoface-style attributes (gender, spectacles, facial_hair, pose, expression, ...).
    source : Path or None
        Folder the session was read from, used in every error message.
    image_names : tuple of str
        File name of each capture, in the order of ``images``.
    saturation : float
        Level, in ``images``' units, at or above which a stored capture was saturated
        (``inf`` for float captures). Superseded by ``valid``, which is taken before
        ambient subtraction and warps move clipped pixels below this level.
    response : Response or str
        The camera response the stored captures were decoded with (``linear``,
        ``srgb``, ``gamma:G``; see :mod:`photostereo.response`); text is parsed.
    valid : (K, H, W) bool or None
        False where an observation must not be used: saturated in the stored capture
        (found before any decoding, subtraction or warp), or, after alignment, warped
        from a saturated pixel or from outside the capture. None when every
        observation is valid, which is the common case and saves K x H x W bytes
        (an all-True array given here is stored as None). After alignment it may be a
        read-only view that repeats one mask for every capture: read it, never write.
    attack : str
        The presentation attack a labelled session is (``print``, ``screen``, ...; its
        ``lights.json``'s ``"attack"``); empty for a live face or an unlabelled session.
    """

    images: np.ndarray
    directions: np.ndarray
    intensities: np.ndarray
    subject: str
    session: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    source: Path | None = None
    image_names: tuple[str, ...] = ()
    saturation: float = SATURATION_FRACTION
    response: Response = LINEAR
    valid: np.ndarray | None = None
    attack: str = ""

    def __post_init__(self) -> None:
        images = np.asarray(self.images, dtype=np.float32)
        try:
            response = parse_response(self.response)
        except ValueError as error:
            raise InputError(self.where, f"camera response {error}") from None
        object.__setattr__(self, "response", response)
        if self.valid is not None:
            valid = np.asarray(self.valid, dtype=bool)
            object.__setattr__(self, "valid", None if valid.all() else valid)
        directions = normalize_directions(self.directions, where=self.where)
        intensities = np.asarray(self.intensities, dtype=np.float32).reshape(-1)
        names = self.image_names or tuple(f"image {k}" for k in range(len(images)))
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "directions", directions)
        object.__setattr__(self, "intensities", intensities)
        object.__setattr__(self, "image_names", tuple(names))
        self._validate()

    @property
    def where(self) -> str:
        """How error messages name this session."""
        if self.source is not None:
            return str(self.source)
        return f"session {self.subject}/{self.session}"

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of every capture."""
        return self.images.shape[1], self.images.shape[2]

    @property
    def n_lights(self) -> int:
        return self.images.shape[0]

    def _validate(self) -> None:
        if self.images.ndim != 3:
            raise InputError(
                self.where, f"captures must stack to (K, H, W), got {self.images.shape}"
            )
        k = self.images.shape[0]
        if len(self.directions) != k:
            raise InputError(self.where, f"{k} captures but {len(self.directions)} lights")
        if len(self.intensities) != k:
            raise InputError(self.where, f"{k} captures but {len(self.intensities)} intensities")
        if len(self.image_names) != k:
            raise InputError(self.where, f"{k} captures but {len(self.image_names)} image names")
        if self.valid is not None and self.valid.shape != self.images.shape:
            raise InputError(
                self.where,
                f"validity mask {self.valid.shape} does not match the captures {self.images.shape}",
            )
        bad_intensity = ~np.isfinite(self.intensities) | (self.intensities <= 0)
        if bad_intensity.any():
            name = self.image_names[int(np.argmax(bad_intensity))]
            raise InputError(self.where, f"light of {name} has a non-positive intensity")
        check_light_geometry(self.directions, where=self.where)
        for name, image in zip(self.image_names, self.images, strict=True):
            if not np.isfinite(image).all():
                raise InputError(self.where, f"{name} contains NaN or infinite pixels")
            if not image.any():
                raise InputError(self.where, f"{name} is all black: the light did not fire")
