"""Things in front of the face: spectacle frames, and the odd hand, lock of hair or phone.

Each is its own height field floating in front of the skin (a :class:`FrameFields`
layer). A spectacle rim is a rounded rectangle (a superellipse ring) drawn as a tube, so
it has true normals and, being raised above the skin, casts a shadow ring under a side
light; lenses are left out (perfectly clear), so the eyes stay visible through them.
Other occluders are flattened domes. Pixels a layer covers are outside the ground-truth
mask: the face is not seen there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic_faces.face import Identity
from synthetic_faces.grid import FaceGrid


@dataclass(frozen=True)
class Spectacles:
    """One pair of glasses: rim half-size (units), tube radius, colour, stand-off."""

    half_width: float = 0.19
    half_height: float = 0.13
    tube: float = 0.018
    squareness: float = 4.0
    colour: tuple[float, float, float] = (0.05, 0.05, 0.05)
    stand_off: float = 0.1


@dataclass(frozen=True)
class Occluder:
    """Something held in front of the face: an ellipse (units) at a stand-off, flat colour."""

    kind: str
    centre: tuple[float, float]
    radii: tuple[float, float]
    angle: float
    colour: tuple[float, float, float]
    stand_off: float


@dataclass
class FrameFields:
    """A frame sampled on a grid: ``weight`` (N, N) 1 on the frame, its height and gradient."""

    weight: np.ndarray
    height: np.ndarray
    grad_u: np.ndarray
    grad_v: np.ndarray
    albedo: np.ndarray


def _tube(dist: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Height and slope (d height / d dist) of a half-cylinder of ``radius`` across ``dist``."""
    t = np.clip(dist / radius, -0.97, 0.97)
    height = radius * np.sqrt(1.0 - t * t)
    slope = -t / np.sqrt(1.0 - t * t)
    return height, slope


def frame_fields(
    spec: Spectacles, ident: Identity, grid: FaceGrid, face_height: np.ndarray
) -> FrameFields:
    """Rasterise ``spec`` for ``ident``'s eyes on ``grid``, in front of ``face_height``."""
    u, v = grid.uv()
    n = grid.size
    centre = (n // 2, n // 2)
    row_eye = int(np.clip(round(n / 2 - ident.eye_v * grid.scale), 0, n - 1))
    plane = float(face_height[row_eye, centre[1]]) + spec.stand_off  # front of the nose bridge
    weight = np.zeros((n, n), np.float32)
    height = np.full((n, n), -np.inf, np.float32)
    grad_u = np.zeros((n, n), np.float32)
    grad_v = np.zeros((n, n), np.float32)
    p = spec.squareness
    cv = ident.eye_v - 0.01
    for side in (-1, 1):
        cu = side * ident.eye_u
        x = (u - cu) / spec.half_width
        y = (v - cv) / spec.half_height
        rho = (np.abs(x) ** p + np.abs(y) ** p) ** (1.0 / p)
        scale = min(spec.half_width, spec.half_height)
        dist = (rho - 1.0) * scale
        on = np.abs(dist) < spec.tube
        tube_h, slope = _tube(dist, spec.tube)
        # d rho / du, d rho / dv for the normal across the tube.
        rho_safe = np.maximum(rho, 1e-3)
        dr_du = np.sign(x) * np.abs(x) ** (p - 1) * rho_safe ** (1 - p) / spec.half_width
        dr_dv = np.sign(y) * np.abs(y) ** (p - 1) * rho_safe ** (1 - p) / spec.half_height
        h = plane + tube_h
        take = on & (h > height)
        height[take] = h[take]
        grad_u[take] = (slope * scale * dr_du)[take]
        grad_v[take] = (slope * scale * dr_dv)[take]
        weight[take] = 1.0
    # Bridge over the nose, and the arms running back to the ears.
    bridge_v = cv + 0.5 * spec.half_height
    inner = ident.eye_u - spec.half_width
    across_v = v - bridge_v
    bridge = (np.abs(u) < inner + 0.01) & (np.abs(across_v) < spec.tube)
    outer = ident.eye_u + spec.half_width
    arm_v = v - (cv + 0.4 * spec.half_height)
    arms = (np.abs(u) > outer - 0.01) & (np.abs(arm_v) < spec.tube * 0.8) & (face_height > -1)
    for region, across in ((bridge, across_v), (arms, arm_v)):
        tube_h, slope = _tube(across, spec.tube)
        base = np.where(
            region & (np.abs(u) > outer - 0.01),
            np.maximum(face_height + 0.015, plane - 0.8 * (np.abs(u) - outer)),
            plane,
        )
        h = base + tube_h
        take = region & (h > height)
        height[take] = h[take]
        slope_u = np.where(np.abs(u) > outer - 0.01, -0.8 * np.sign(u), 0.0)
        slope_u = np.where(base > plane - 0.8 * (np.abs(u) - outer) + 1e-6, 0.0, slope_u)
        grad_u[take] = slope_u[take]
        grad_v[take] = slope[take]
        weight[take] = 1.0
    albedo = np.broadcast_to(np.asarray(spec.colour, np.float32), (n, n, 3)).copy()
    return FrameFields(weight, np.where(weight > 0, height, -10.0), grad_u, grad_v, albedo)


def occluder_fields(occ: Occluder, grid: FaceGrid, face_height: np.ndarray) -> FrameFields:
    """Rasterise an occluder: a dome of the ellipse ``occ.radii`` above the face."""
    u, v = grid.uv()
    c, s = np.cos(occ.angle), np.sin(occ.angle)
    a = (c * (u - occ.centre[0]) + s * (v - occ.centre[1])) / occ.radii[0]
    b = (-s * (u - occ.centre[0]) + c * (v - occ.centre[1])) / occ.radii[1]
    r2 = a * a + b * b
    inside = r2 < 1.0
    n = grid.size
    col = int(np.clip(round(occ.centre[0] * grid.scale + n / 2), 0, n - 1))
    row = int(np.clip(round(n / 2 - occ.centre[1] * grid.scale), 0, n - 1))
    base = max(float(face_height[row, col]), 0.0) + occ.stand_off
    depth = 0.5 * min(occ.radii)
    dome = depth * np.sqrt(np.clip(1.0 - r2, 0.02, None))
    # d dome / d u, d v by the chain rule through (a, b).
    da = -depth * a / dome * depth / occ.radii[0]
    db = -depth * b / dome * depth / occ.radii[1]
    grad_u = (c * da - s * db).astype(np.float32)
    grad_v = (s * da + c * db).astype(np.float32)
    weight = inside.astype(np.float32)
    height = np.where(inside, base + dome, -10.0).astype(np.float32)
    albedo = np.broadcast_to(np.asarray(occ.colour, np.float32), (n, n, 3)).copy()
    return FrameFields(weight, height, grad_u * weight, grad_v * weight, albedo)


def merge_layers(layers: list[FrameFields]) -> FrameFields | None:
    """One layer holding, per pixel, the front-most of ``layers`` (``None`` if empty)."""
    if not layers:
        return None
    out = layers[0]
    for layer in layers[1:]:
        front = (layer.weight > 0) & (layer.height > out.height)
        out = FrameFields(
            weight=np.maximum(out.weight, layer.weight),
            height=np.where(front, layer.height, out.height),
            grad_u=np.where(front, layer.grad_u, out.grad_u),
            grad_v=np.where(front, layer.grad_v, out.grad_v),
            albedo=np.where(front[..., None], layer.albedo, out.albedo),
        )
    return out
