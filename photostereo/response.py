"""Camera response: how a capture's stored values relate to the light that made them.

Photometric stereo needs captures proportional to radiance: the Lambertian model is
I = albedo * intensity * max(n . s, 0), and a pixel value that is a curved function of
radiance bends every fit. 16-bit and float captures from a machine-vision camera are
usually linear; 8-bit files are usually gamma-encoded (sRGB, the default of nearly every
camera's JPEG and PNG output). A session therefore names its response, and the readers
decode it before anything else uses the pixels:

* ``linear``: the values are radiance (identity);
* ``srgb``: the IEC 61966-2-1 curve, decoded as
  ``V / 12.92`` for ``V <= 0.04045`` and ``((V + 0.055) / 1.055) ** 2.4`` above;
* ``gamma:G`` (G a positive number, e.g. ``gamma:2.2``): a pure power law, ``V ** G``.

Values are fractions of the full scale, so 0 and 1 are fixed points of every curve.
Negative values (only float captures can hold them) mirror the curve, ``-f(-V)``, as
extended-range sRGB does, so decoding never makes a NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: The names :func:`parse_response` accepts (``gamma`` takes its exponent, ``gamma:G``).
RESPONSES = ("linear", "srgb", "gamma:G")
#: The IEC 61966-2-1 constants: the encoded and linear ends of the straight segment,
#: its slope, the offset and the exponent of the power segment.
SRGB_KNEE = 0.04045
SRGB_LINEAR_KNEE = 0.0031308
SRGB_SLOPE = 12.92
SRGB_OFFSET = 0.055
SRGB_EXPONENT = 2.4


@dataclass(frozen=True)
class Response:
    """A camera response curve: ``kind`` is ``linear``, ``srgb`` or ``gamma`` (with
    ``gamma`` its exponent). ``str()`` gives the text :func:`parse_response` reads back."""

    kind: str = "linear"
    gamma: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("linear", "srgb", "gamma"):
            raise ValueError(f"unknown response {self.kind!r}")
        if not (math.isfinite(self.gamma) and self.gamma > 0):
            raise ValueError(f"gamma must be a positive number, got {self.gamma!r}")

    def __str__(self) -> str:
        if self.kind != "gamma":
            return self.kind
        short = f"{self.gamma:g}"
        return f"gamma:{short if float(short) == self.gamma else repr(self.gamma)}"

    @property
    def is_linear(self) -> bool:
        return self.kind == "linear" or (self.kind == "gamma" and self.gamma == 1.0)


LINEAR = Response("linear")
SRGB = Response("srgb")


def parse_response(text: str | Response) -> Response:
    """The :class:`Response` a setting names (case and surrounding spaces ignored).

    Raises ``ValueError`` with a message fit to follow the setting's name, so the
    command line and ``lights.json`` each wrap it in their own one-line error.
    """
    if isinstance(text, Response):
        return text
    if not isinstance(text, str):
        raise ValueError(f"must be a string ({', '.join(RESPONSES)}), not {type(text).__name__}")
    name = text.strip().lower()
    if name in ("linear", "srgb"):
        return Response(name)
    if name.startswith("gamma:"):
        try:
            gamma = float(name[len("gamma:") :])
        except ValueError:
            gamma = math.nan
        if math.isfinite(gamma) and gamma > 0:
            return LINEAR if gamma == 1.0 else Response("gamma", gamma)
        raise ValueError(f"{text!r}: the exponent of gamma:G must be a positive number")
    raise ValueError(f"{text!r} is not one of {', '.join(RESPONSES)} (e.g. gamma:2.2)")


def to_linear(values: np.ndarray, response: Response) -> np.ndarray:
    """Decode stored values (fractions of full scale) to linear radiance, as float32.

    ``linear`` returns the values themselves (as float32, copied only if they were not);
    the other curves return a new array.
    """
    values = np.asarray(values, dtype=np.float32)
    if response.is_linear:
        return values
    magnitude = np.abs(values)
    if response.kind == "srgb":
        curve = np.where(
            magnitude <= np.float32(SRGB_KNEE),
            magnitude / np.float32(SRGB_SLOPE),
            ((magnitude + np.float32(SRGB_OFFSET)) / np.float32(1 + SRGB_OFFSET))
            ** np.float32(SRGB_EXPONENT),
        )
    else:
        curve = magnitude ** np.float32(response.gamma)
    return np.copysign(curve, values).astype(np.float32, copy=False)


def from_linear(values: np.ndarray, response: Response) -> np.ndarray:
    """Encode linear radiance as a camera with ``response`` stores it (the inverse of
    :func:`to_linear`): sRGB is ``12.92 L`` for ``L <= 0.0031308`` and
    ``1.055 L ** (1 / 2.4) - 0.055`` above; ``gamma:G`` is ``L ** (1 / G)``."""
    values = np.asarray(values, dtype=np.float32)
    if response.is_linear:
        return values
    magnitude = np.abs(values)
    if response.kind == "srgb":
        curve = np.where(
            magnitude <= np.float32(SRGB_LINEAR_KNEE),
            magnitude * np.float32(SRGB_SLOPE),
            np.float32(1 + SRGB_OFFSET) * magnitude ** np.float32(1 / SRGB_EXPONENT)
            - np.float32(SRGB_OFFSET),
        )
    else:
        curve = magnitude ** np.float32(1 / response.gamma)
    return np.copysign(curve, values).astype(np.float32, copy=False)
