"""Light directions: conversions between the rigs' angle conventions and unit vectors.

Every function returns directions in the project frame (x right along the columns, y up,
z toward the camera), as unit vectors from the surface toward the light. The sign of each
convention is pinned by tests that render a sphere under it and check the recovered normals.
"""

from __future__ import annotations

import numpy as np

from psbase.errors import LightGeometryError

#: Above this condition number of the light matrix the normals are not determined.
MAX_CONDITION = 1e3


def normalize_directions(directions: np.ndarray, *, where: str = "lights") -> np.ndarray:
    """Scale each direction to unit length; reject zero, non-finite or non-3-vectors."""
    return _unit(_checked(directions, where)).astype(np.float32)


def check_light_geometry(directions: np.ndarray, *, where: str = "lights") -> float:
    """Return the light matrix's condition number; raise if it cannot determine normals.

    Three or more finite, non-zero lights are needed, and their directions must not
    lie in one plane through the origin (the matrix would be rank 2, nearly so if the
    condition number is huge). Only directions count: lengths are scaled out first, so
    a direction written 1000 times longer than the others is not mistaken for geometry.
    """
    d = _checked(directions, where)
    if len(d) < 3:
        raise LightGeometryError(where, f"{len(d)} lights; photometric stereo needs at least 3")
    singular = np.linalg.svd(_unit(d), compute_uv=False)
    condition = float(singular[0] / max(singular[-1], 1e-300))
    if condition > MAX_CONDITION:
        raise LightGeometryError(
            where,
            f"the {len(d)} light directions are (nearly) coplanar "
            f"(condition number {condition:.3g} > {MAX_CONDITION:g}); "
            "use lights that are not all in one plane",
        )
    return condition


def _checked(directions: np.ndarray, where: str) -> np.ndarray:
    """Directions as (K, 3) float64, refusing NaN, infinite and zero vectors by index.

    Non-finite values would otherwise reach the SVD, which fails with "SVD did not
    converge" and no word on which light is wrong.
    """
    d = np.asarray(directions, dtype=np.float64)
    if d.ndim != 2 or d.shape[1] != 3:
        raise LightGeometryError(where, f"light directions must be (K, 3), got {d.shape}")
    finite = np.isfinite(d).all(axis=1)
    if not finite.all():
        k = int(np.argmin(finite))
        raise LightGeometryError(where, f"light {k}: direction {d[k].tolist()} is not finite")
    zero = ~d.any(axis=1)
    if zero.any():
        raise LightGeometryError(where, f"light {int(np.argmax(zero))}: direction is zero")
    return d


def _unit(d: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; dividing by the largest component first cannot overflow."""
    if not len(d):
        return d
    d = d / np.abs(d).max(axis=1, keepdims=True)
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def from_azimuth_elevation(
    azimuth: np.ndarray | float, elevation: np.ndarray | float, *, degrees: bool = True
) -> np.ndarray:
    """Directions from the Extended Yale B angles.

    Azimuth A is positive toward the subject's right (the image's left), elevation E
    positive above the camera: ``(-sin A cos E, sin E, cos A cos E)``.
    """
    a, e = np.broadcast_arrays(np.asarray(azimuth, float), np.asarray(elevation, float))
    if degrees:
        a, e = np.deg2rad(a), np.deg2rad(e)
    d = np.stack([-np.sin(a) * np.cos(e), np.sin(e), np.cos(a) * np.cos(e)], axis=-1)
    return d.astype(np.float32)


def from_zenith_azimuth(
    zenith: np.ndarray | float, azimuth: np.ndarray | float, *, degrees: bool = True
) -> np.ndarray:
    """Directions from spherical angles about the camera axis (the Photoface convention).

    Zenith Z is the angle from the optical axis (z), azimuth A is measured in the image
    plane from +x (image right) toward +y (image up):
    ``(sin Z cos A, sin Z sin A, cos Z)``.
    """
    z, a = np.broadcast_arrays(np.asarray(zenith, float), np.asarray(azimuth, float))
    if degrees:
        z, a = np.deg2rad(z), np.deg2rad(a)
    d = np.stack([np.sin(z) * np.cos(a), np.sin(z) * np.sin(a), np.cos(z)], axis=-1)
    return d.astype(np.float32)


def ring_directions(count: int, zenith: float, *, azimuth0: float = 0.0) -> np.ndarray:
    """``count`` lights evenly spaced in azimuth on a cone of half-angle ``zenith`` degrees."""
    azimuths = azimuth0 + 360.0 * np.arange(count) / count
    return from_zenith_azimuth(np.full(count, zenith), azimuths)
