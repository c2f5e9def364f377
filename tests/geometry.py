"""Inverses and warps that only the tests need, to compare results with ground truth."""

from __future__ import annotations

import numpy as np

from photostereo.align import rotate_vectors, warp_image


def to_azimuth_elevation(directions: np.ndarray, *, degrees: bool = True) -> np.ndarray:
    """(..., 2) (azimuth, elevation): the inverse of ``lights.from_azimuth_elevation``."""
    d = np.asarray(directions, dtype=np.float64)
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    az = np.arctan2(-d[..., 0], d[..., 2])
    el = np.arcsin(np.clip(d[..., 1], -1.0, 1.0))
    out = np.stack([az, el], axis=-1)
    return np.rad2deg(out) if degrees else out


def to_zenith_azimuth(directions: np.ndarray, *, degrees: bool = True) -> np.ndarray:
    """(..., 2) (zenith, azimuth): the inverse of ``lights.from_zenith_azimuth``."""
    d = np.asarray(directions, dtype=np.float64)
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    zen = np.arccos(np.clip(d[..., 2], -1.0, 1.0))
    az = np.arctan2(d[..., 1], d[..., 0])
    out = np.stack([zen, az], axis=-1)
    return np.rad2deg(out) if degrees else out


def warp_normals(normals: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Warp an (H, W, 3) normal map: resample, then rotate each vector, renormalise."""
    warped = warp_image(normals, matrix, size)
    rotated = rotate_vectors(warped, matrix)
    norm = np.linalg.norm(rotated, axis=-1, keepdims=True)
    return np.divide(rotated, norm, out=np.zeros_like(rotated), where=norm > 1e-6)
