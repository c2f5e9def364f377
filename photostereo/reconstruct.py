"""One session to maps: photometric stereo, the face mask, then integration into depth."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from photostereo.integrate import integrate_normals
from photostereo.session import CaptureSession
from photostereo.solvers import PhotometricResult, solve

#: Pixels never brighter than this under any light are background, not face.
DARK_FLOOR = 0.02


@dataclass(frozen=True)
class Reconstruction:
    """The maps of one session, all in the captures' pixel frame.

    ``photometric`` keeps the solver's diagnostics (residual, observations used,
    underdetermined pixels); ``mask`` is the region that was integrated; ``timings``
    the seconds spent solving and integrating.
    """

    normals: np.ndarray
    albedo: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    photometric: PhotometricResult
    timings: dict[str, float] = field(default_factory=dict)


def surface_mask(images: np.ndarray, solved: np.ndarray) -> np.ndarray:
    """The lit, solved region: pixels some light reaches, largest connected piece only.

    Integration needs one connected surface; stray solved pixels in the background
    (noise above the dark floor) would become floating islands of depth.
    """
    lit = solved & (images.max(axis=0) > DARK_FLOOR)
    labels, count = ndimage.label(lit)
    if count <= 1:
        return lit
    sizes = np.bincount(labels.ravel())[1:]
    return labels == (1 + int(np.argmax(sizes)))


def reconstruct(
    session: CaptureSession,
    *,
    solver: str = "shadow",
    integrator: str = "masked",
    mask: np.ndarray | None = None,
) -> Reconstruction:
    """Normals, albedo and depth of ``session``; ``mask`` restricts the solve if given.

    The solver leaves out the observations ``session.valid`` marks invalid (saturated
    in the stored capture, or warped from a saturated pixel or from outside it).
    """
    start = time.perf_counter()
    result = solve(
        session.images,
        session.directions,
        method=solver,
        intensities=session.intensities,
        mask=mask,
        saturation=session.saturation,
        valid=session.valid,
    )
    region = surface_mask(session.images, result.mask)
    normals = np.where(region[..., None], result.normals, 0.0).astype(np.float32)
    albedo = np.where(region, result.albedo, 0.0).astype(np.float32)
    solved = time.perf_counter()
    depth = integrate_normals(normals, region, method=integrator)
    timings = {"solve": solved - start, "integrate": time.perf_counter() - solved}
    return Reconstruction(normals, albedo, depth, region, result, timings)
