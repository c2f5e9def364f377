"""The face frame's sampling grid and the windowed primitives faces are painted with.

The face frame is normalised: the head is about two units wide, ``u`` points to the
image's right, ``v`` up, heights ``h`` toward the camera in the same units. A
:class:`FaceGrid` samples it on a square pixel grid (row 0 at the top, so ``v`` falls
with the row). Every primitive touches only the window where it is non-negligible,
which keeps a face of thirty pieces at a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

#: Primitives are cut off beyond this many standard deviations.
CUTOFF = 3.0
#: A colour: linear reflectances, one per channel.
Colour = Sequence[float] | np.ndarray
#: An RGB triple of plain floats, as the generator's dataclasses store colours.
RGB = tuple[float, float, float]


def rgb(values: Colour) -> RGB:
    """The three channels of ``values`` as plain floats."""
    red, green, blue = (float(c) for c in values)
    return red, green, blue


@dataclass(frozen=True)
class FaceGrid:
    """A ``size`` x ``size`` sampling of the face frame, ``scale`` pixels per unit.

    ``u[col]`` and ``v[row]`` are the coordinates of the pixel centres; the frame's
    origin sits at the grid's centre.
    """

    size: int
    scale: float

    @property
    def u(self) -> np.ndarray:
        return ((np.arange(self.size) + 0.5 - self.size / 2) / self.scale).astype(np.float32)

    @property
    def v(self) -> np.ndarray:
        return ((self.size / 2 - np.arange(self.size) - 0.5) / self.scale).astype(np.float32)

    def uv(self) -> tuple[np.ndarray, np.ndarray]:
        """Full (size, size) coordinate arrays ``u``, ``v``."""
        return np.meshgrid(self.u, self.v)

    def window(self, cu: float, cv: float, ru: float, rv: float) -> tuple[slice, slice]:
        """Row and column slices covering the box ``|u-cu| <= ru``, ``|v-cv| <= rv``."""
        c0 = int(np.floor((cu - ru) * self.scale + self.size / 2))
        c1 = int(np.ceil((cu + ru) * self.scale + self.size / 2)) + 1
        r0 = int(np.floor(self.size / 2 - (cv + rv) * self.scale))
        r1 = int(np.ceil(self.size / 2 - (cv - rv) * self.scale)) + 1
        clip = lambda a: min(max(a, 0), self.size)  # noqa: E731
        return slice(clip(r0), clip(r1)), slice(clip(c0), clip(c1))


def blob(
    grid: FaceGrid,
    *,
    centre: tuple[float, float],
    spread: tuple[float, float],
    angle: float = 0.0,
    bend: float = 0.0,
    power: float = 1.0,
) -> tuple[tuple[slice, slice], np.ndarray]:
    """A bent, rotated, anisotropic Gaussian-like weight in its window.

    ``centre`` is ``(cu, cv)`` and ``spread`` ``(su, sv)``, in face-frame units. In local
    coordinates ``a`` (along, rotated by ``angle`` radians) and
    ``b = (v - cv) - bend * a**2`` (across, bent into a parabola), the weight is
    ``exp(-(q/2)**power)`` with ``q = a²/su² + b²/sv²``: ``power`` 1 is a Gaussian,
    larger powers give a flat top and a sharper edge (painted regions such as lips).
    Returns the window's slices and the weight array over it.
    """
    cu, cv = centre
    su, sv = spread
    extent = CUTOFF * max(su, sv)
    ru = extent
    rv = extent + abs(bend) * extent**2
    rows, cols = grid.window(cu, cv, ru, rv)
    u = grid.u[cols][None, :] - cu
    v = grid.v[rows][:, None] - cv
    if angle:
        c, s = np.cos(angle), np.sin(angle)
        u, v = c * u + s * v, -s * u + c * v
    b = v - bend * u * u if bend else v
    q = (u * u) * (1.0 / su**2) + (b * b) * (1.0 / sv**2)
    if power == 1.0:
        w = np.exp(-0.5 * q)
    else:
        w = np.exp(-((0.5 * q) ** power))
    return (rows, cols), w.astype(np.float32)


def add_bump(
    field: np.ndarray,
    grid: FaceGrid,
    amount: float,
    *,
    centre: tuple[float, float],
    spread: tuple[float, float],
    angle: float = 0.0,
    bend: float = 0.0,
    power: float = 1.0,
) -> None:
    """Add ``amount`` times a :func:`blob` to ``field`` (a height field) in place."""
    window, w = blob(grid, centre=centre, spread=spread, angle=angle, bend=bend, power=power)
    field[window] += amount * w


def paint(
    albedo: np.ndarray,
    grid: FaceGrid,
    colour: Colour,
    *,
    strength: float,
    centre: tuple[float, float],
    spread: tuple[float, float],
    angle: float = 0.0,
    bend: float = 0.0,
    power: float = 1.0,
) -> None:
    """Blend ``colour`` (C,) into an (H, W, C) albedo, in place, with ``strength`` times
    a :func:`blob` weight."""
    window, w = blob(grid, centre=centre, spread=spread, angle=angle, bend=bend, power=power)
    w = (strength * w)[..., None]
    region = albedo[window]
    region += w * (np.asarray(colour, np.float32) - region)


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Zero-mean, unit-deviation noise smooth over ``size / cells`` pixels (bicubic upsampling)."""
    coarse = rng.standard_normal((cells + 3, cells + 3)).astype(np.float32)
    big = cv2.resize(
        coarse, (size + 2 * size // cells, size + 2 * size // cells), interpolation=cv2.INTER_CUBIC
    )
    off = size // cells
    out = big[off : off + size, off : off + size]
    return (out - out.mean()) / (out.std() + 1e-6)
