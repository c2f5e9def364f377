"""Known-answer scenes for the solver tests: analytic surfaces and their exact renders,
and synthetic faces with the terms of every observation (cast shadow, highlight, ...)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from photostereo.lights import normalize_directions, ring_directions
from synthetic_faces.face import face_fields, sample_identity
from synthetic_faces.generate import GRID_MARGIN, LUMA
from synthetic_faces.grid import FaceGrid
from synthetic_faces.render import RenderSettings, ShadingTerms, add_noise, shading_terms
from synthetic_faces.rigs import parse_rig
from synthetic_faces.scene import Pose, compose, nominal_scale


def sphere(size: int = 96, radius: float = 0.45) -> tuple[np.ndarray, np.ndarray]:
    """Unit normals (H, W, 3) of a sphere facing the camera, and its mask (H, W)."""
    coords = (np.arange(size) + 0.5) / size - 0.5
    x = coords[None, :] * np.ones((size, 1))
    y = -coords[:, None] * np.ones((1, size))  # y up: the top row has the largest y
    r2 = (x**2 + y**2) / radius**2
    mask = r2 < 0.98
    z = np.sqrt(np.clip(1.0 - r2, 0.0, None))
    normals = np.stack([x / radius, y / radius, z], axis=-1)
    normals[~mask] = (0.0, 0.0, 1.0)
    return normals.astype(np.float32), mask


def bump_field(size: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Normals of a smooth field of Gaussian bumps and dents over the whole frame."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    x, y = cols, -rows
    dz_dx = np.zeros_like(x)
    dz_dy = np.zeros_like(x)
    for _ in range(6):
        cx, cy = rng.uniform(0.2, 0.8) * size, -rng.uniform(0.2, 0.8) * size
        sigma = rng.uniform(0.08, 0.15) * size
        height = rng.uniform(-0.4, 0.4) * size * 0.3
        g = height * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
        dz_dx += -g * (x - cx) / sigma**2
        dz_dy += -g * (y - cy) / sigma**2
    normals = np.stack([-dz_dx, -dz_dy, np.ones_like(x)], axis=-1)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    return normals.astype(np.float32), np.ones((size, size), bool)


def albedo_map(shape: tuple[int, int], seed: int = 1) -> np.ndarray:
    """A smoothly varying albedo in [0.3, 0.9]."""
    rng = np.random.default_rng(seed)
    h, w = shape
    rows, cols = np.mgrid[0:h, 0:w] / max(h, w)
    phase = rng.uniform(0, 2 * np.pi, 2)
    return (0.6 + 0.3 * np.sin(5 * rows + phase[0]) * np.cos(4 * cols + phase[1])).astype(
        np.float32
    )


def rig(count: int, zenith: float = 35.0) -> np.ndarray:
    """``count`` lights on a cone; eight lights alternate between two cones."""
    if count == 8:
        return np.concatenate([ring_directions(4, zenith), ring_directions(4, 55.0, azimuth0=45)])
    return ring_directions(count, zenith)


def render(
    normals: np.ndarray,
    albedo: np.ndarray,
    directions: np.ndarray,
    *,
    intensities: np.ndarray | None = None,
    noise: float = 0.0,
    seed: int = 2,
    specular: float = 0.0,
) -> np.ndarray:
    """Lambertian captures (K, H, W) with attached shadows, optional noise and highlights.

    Highlights follow Blinn-Phong with the viewer on the z axis.
    """
    k = len(directions)
    e = np.ones(k, np.float32) if intensities is None else np.asarray(intensities, np.float32)
    shading = np.einsum("kc,hwc->khw", directions, normals)
    images = e[:, None, None] * albedo[None] * np.clip(shading, 0.0, None)
    if specular:
        half = directions + np.array([0.0, 0.0, 1.0], np.float32)
        half /= np.linalg.norm(half, axis=1, keepdims=True)
        spec = np.clip(np.einsum("kc,hwc->khw", half, normals), 0.0, None) ** 60
        images = images + specular * e[:, None, None] * spec * (shading > 0)
    if noise:
        images = images + np.random.default_rng(seed).normal(0.0, noise, images.shape)
    return images.astype(np.float32)


def angular_error_deg(estimate: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """Mean angle in degrees between two normal maps inside ``mask``."""
    cos = np.clip(np.einsum("hwc,hwc->hw", estimate, truth)[mask], -1.0, 1.0)
    return float(np.degrees(np.arccos(cos)).mean())


# Face-like scenes: the synthetic generator's face and physics, with every term exposed.


@dataclass
class FaceScene:
    """A face rendered under a rig, with what each observation holds.

    ``images`` (K, H, W) linear captures in [0, 1] (the sensor clips at 1);
    ``directions`` (K, 3), ``intensities`` (K,); ``normals`` (H, W, 3) and ``albedo``
    (H, W, the diffuse albedo) the truth; ``mask`` (H, W) the face's skin. Per
    observation (K, H, W), inside the mask only: ``cast_shadow`` the surface faces the
    light but the face blocks it (visibility below 0.5); ``attached`` it faces away;
    ``specular`` the highlight is at least 10% of the observation; ``saturated`` the
    sensor clipped it; ``dimmed`` an observation darkened on purpose
    (:func:`dimmed_patch_scene`). ``terms`` are the renderer's
    :class:`~synthetic_faces.render.ShadingTerms`.
    """

    images: np.ndarray
    directions: np.ndarray
    intensities: np.ndarray
    normals: np.ndarray
    albedo: np.ndarray
    mask: np.ndarray
    cast_shadow: np.ndarray
    attached: np.ndarray
    specular: np.ndarray
    saturated: np.ndarray
    terms: ShadingTerms
    dimmed: np.ndarray | None = None

    def shadow_floor(self) -> np.ndarray:
        """Per cast-shadowed observation: its level over the level it would have if lit.

        The room light and bounced light keep a cast shadow this far above black; the
        generator's defaults put it at 10-30%.
        """
        cosine = np.einsum("kc,hwc->khw", self.directions, self.normals)
        lit = self.intensities[:, None, None] * self.albedo * np.maximum(cosine, 0.0)
        rest = self.terms.ambient[None, ..., 0] + self.terms.indirect[..., 0]
        umbra = self.cast_shadow & (self.terms.visibility < 0.05)
        return (rest / (lit + rest))[umbra]


def _directions(rig_spec: str | np.ndarray) -> np.ndarray:
    if isinstance(rig_spec, str):
        return parse_rig(rig_spec).directions
    return normalize_directions(np.asarray(rig_spec, np.float64))


def face_like_scene(
    rig: str | np.ndarray = "photoface",
    *,
    ambient: float = 0.1,
    cast_shadows: bool = True,
    specular: float = 1.0,
    interreflection: float = 0.1,
    noise: bool = False,
    size: int = 128,
    exposure: float = 1.0,
    seed: int = 0,
) -> FaceScene:
    """A frontal, neutral synthetic face under ``rig``, with the terms of every observation.

    ``rig`` is a rig name (``photoface``, ``ring:6``, ...) or (K, 3) directions toward
    the lights. The face is the generator's (``seed`` picks the person: shape, skin,
    shine), posed straight at the camera with no spectacles, hair over the face or
    other visit variation, so the failure modes present are the ones asked for:
    ``ambient`` room light (fraction of one lamp head-on), cast shadows, ``specular``
    (multiplier on the face's shine map; 1 is the generator's realistic skin),
    ``interreflection`` and, with ``noise``, the default sensor noise. The lamps all have
    intensity 1 and are exactly where ``directions`` says (no calibration error);
    ``exposure`` scales the captures before the sensor clips them at 1; the captures
    are linear. About 20 ms at 128 px.
    """
    directions = _directions(rig).astype(np.float32)
    rng = np.random.default_rng(seed)
    ident = sample_identity(rng, "male" if rng.random() < 0.5 else "female")
    grid = FaceGrid(int(np.ceil(size * GRID_MARGIN / 2) * 2), nominal_scale(size))
    scene = compose(face_fields(ident, grid, rng=rng), grid, Pose(), size)
    settings = RenderSettings(
        cast_shadows=cast_shadows,
        ambient=ambient,
        specular=specular,
        interreflection=interreflection,
        read_noise=RenderSettings.read_noise if noise else 0.0,
        shot_noise=RenderSettings.shot_noise if noise else 0.0,
    )
    albedo = (scene.albedo @ LUMA).astype(np.float32)
    terms = shading_terms(
        scene.normal,
        albedo[..., None],
        directions,
        np.ones(len(directions), np.float32),
        depth=scene.depth,
        receivers=scene.person > 0.5,
        specular_map=scene.specular,
        settings=settings,
    )
    radiance = terms.radiance(exposure)[..., 0]
    images = add_noise(radiance, np.random.default_rng([seed, 1]), settings)
    mask = scene.mask
    return FaceScene(
        images=images.astype(np.float32),
        directions=directions,
        intensities=np.ones(len(directions), np.float32),
        normals=scene.normal,
        albedo=np.where(mask, albedo, 0.0).astype(np.float32),
        mask=mask,
        cast_shadow=(terms.visibility < 0.5) & terms.facing & mask,
        attached=~terms.facing & mask,
        specular=(terms.specular * exposure >= 0.1 * radiance) & (terms.specular > 0) & mask,
        saturated=(radiance >= 1.0) & mask,
        terms=terms,
    )


def dimmed_patch_scene(
    *, factor: float = 0.4, patch: int = 12, size: int = 128, seed: int = 0, **kwargs
) -> FaceScene:
    """The Photoface rig on a face, each light in turn dimmed to ``factor`` on its own patch.

    Four ``patch`` x ``patch`` squares on the face's skin (upper left, upper right,
    lower left and lower right of the face's box, clear of each other); in the k-th,
    light k's observation is multiplied by ``factor``, as a cast shadow lifted to 40%
    of its lit level by the room would be. Everything else is as
    :func:`face_like_scene` with ``kwargs`` (default here: no ambient, shadows,
    highlights or bounce, so the dimming is the only departure from Lambert's law).
    ``dimmed`` (K, H, W) marks the darkened observations (inside the mask).
    """
    options = {"ambient": 0.0, "cast_shadows": False, "specular": 0.0, "interreflection": 0.0}
    options.update(kwargs)
    scene = face_like_scene("photoface", size=size, seed=seed, **options)
    rows, cols = np.nonzero(scene.mask)
    top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
    dimmed = np.zeros(scene.images.shape, bool)
    spots = [(0.3, 0.3), (0.3, 0.7), (0.65, 0.3), (0.65, 0.7)]  # (down, across) the box
    for k, (down, across) in enumerate(spots[: len(scene.directions)]):
        r = int(top + down * (bottom - top)) - patch // 2
        c = int(left + across * (right - left)) - patch // 2
        dimmed[k, r : r + patch, c : c + patch] = True
    dimmed &= scene.mask
    scene.images = np.where(dimmed, factor * scene.images, scene.images).astype(np.float32)
    scene.dimmed = dimmed
    return scene
