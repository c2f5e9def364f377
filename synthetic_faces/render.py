"""Light a scene as a camera sees it: diffuse skin, shadows, room light, highlights, response.

Each capture k of a pixel x, per colour channel, is formed in linear radiance as

    L_k = g [ e_k ρ max(0, n·l_k) V_k                     direct diffuse (Lambert)
            + ρ A                                          room light
            + β ρ (G_σ * (ρ E_k))                          light bounced off nearby skin
            + e_k κ(x) π D(h_k) F(l_k·h_k) G_k V_k / (4 n·v) ]   highlight (Torrance-Sparrow)

with ``g`` the exposure, ``e_k`` the lamp's intensity, ``ρ`` the diffuse albedo (the
ground truth), ``n`` the unit normal, ``l_k`` the unit direction toward the lamp (``l_k``
and ``e_k`` are the lamps as they are, a little off what the session records:
:func:`miscalibrate`), ``v =
(0, 0, 1)`` the viewer (orthographic camera), ``h_k`` the unit half-vector of ``l_k`` and
``v``, and:

* ``V_k`` the cast-shadow visibility of lamp k, marched over the depth map
  (:func:`cast_shadow`), soft over a penumbra;
* ``A = a (1 + n·u) / 2`` the irradiance of a uniform hemisphere of room light around the
  axis ``u`` (ceiling and walls, above and in front), the same in every capture: it lifts
  attached and cast shadows off the dark floor, as the lamps' own light does in a room;
* ``E_k = e_k max(0, n·l_k) V_k`` the direct irradiance, and ``G_σ *`` a Gaussian blur
  over the person: one bounce of light between neighbouring surfaces (the lit side of the
  nose onto the cheek it shadows) and skin's sub-surface spread, a fraction ``β``;
* the specular lobe of Torrance and Sparrow with Beckmann microfacets of roughness ``m``:
  ``D = exp(-tan²θ_h / m²) / (π m² cos⁴θ_h)`` (``θ_h`` between ``n`` and ``h_k``), Schlick's
  Fresnel ``F = F0 + (1 - F0)(1 - l·h)⁵`` with ``F0 = 0.028`` (skin's refractive index
  of about 1.4), the V-groove masking ``G = min(1, 2 (n·h)(n·v)/(v·h), 2 (n·h)(n·l)/(v·h))``
  and the face's spatially varying shine ``κ(x)`` (oily forehead and nose, moist lips,
  glassy eyes, matt cheeks; :mod:`synthetic_faces.face`). The lobe is white: the
  same in every colour channel. ``π`` converts the BRDF to this file's units, where an
  albedo of 1 lit head-on gives a radiance of 1.

Sensor noise has a read and a shot part, variance ``σ_r² + σ_s² L``; the sensor clips at
1: ``L'_k = clip(L_k + noise, 0, 1)``, the linear capture. The camera's response ``f``
(``linear``, ``srgb`` or ``gamma:G``, :mod:`photostereo.response`) maps it to the stored
value ``f(L'_k)`` when the session is written, before quantisation, and the session's
``lights.json`` declares it (``"response"``) so a reader decodes it back.

Cast shadows march each pixel's ray toward the light across the depth map
(:func:`cast_shadow`), vectorised over pixels with the loop over march steps only.

References
----------
K. E. Torrance and E. M. Sparrow, "Theory for off-specular reflection from roughened
surfaces", JOSA 57(9), 1967. T. Weyrich et al., "Analysis of human faces using a
measurement-based skin reflectance model", SIGGRAPH 2006 (skin measured with a
Torrance-Sparrow lobe whose strength and roughness vary over the face).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from photostereo.response import parse_response

#: Skin's Fresnel reflectance at normal incidence (refractive index about 1.4).
SKIN_F0 = 0.028
#: The viewer: an orthographic camera looking down -z.
VIEW = np.array([0.0, 0.0, 1.0], np.float32)


@dataclass(frozen=True)
class RenderSettings:
    """How captures are formed (see the module docstring for the equation).

    The defaults are a face in a room under a lamp rig, what ``psface synth`` and
    ``psface demo`` render:

    * ``ambient`` ``a``: the room's light, relative to one lamp at normal incidence
      (0.1: a cast shadow sits at 10-30% of the lit level); each visit scales it by a
      factor drawn in ``1 ± ambient_jitter`` (another room, another time of day);
    * ``ambient_axis`` ``u``: the room light's hemisphere axis (above and in front);
    * ``interreflection`` ``β`` (0.1) over a Gaussian of ``bounce_radius`` (a fraction of
      the image width: 0.025 is a tenth of the head's width);
    * ``specular``: a multiplier on the face's shine map ``κ`` (1: realistic skin, 0:
      none), ``roughness`` ``m`` the Beckmann slope (0.3: skin's broad lobe);
    * ``read_noise``, ``shot_noise``: sensor noise (fractions of full scale);
    * ``penumbra``: cast-shadow softness in pixels of depth;
    * ``direction_error`` (degrees, 1) and ``intensity_error`` (relative, 0.03): how far
      the lamps really are from where the session records them (RMS): a rig is
      calibrated once, lamps age and get knocked (:func:`miscalibrate`);
    * ``response``: the camera's curve, ``linear`` (default), ``srgb`` or ``gamma:G``
      (stored ``L^(1/G)``), in :mod:`photostereo.response`'s spelling.

    ``ideal()`` gives the noise-free, shadow-free, ambient-free, matt renders on which
    photometric stereo is exact.
    """

    cast_shadows: bool = True
    ambient: float = 0.1
    ambient_axis: tuple[float, float, float] = (0.0, 0.5, 0.866)
    ambient_jitter: float = 0.4
    interreflection: float = 0.1
    bounce_radius: float = 0.025
    specular: float = 1.0
    roughness: float = 0.3
    read_noise: float = 0.002
    shot_noise: float = 0.003
    penumbra: float = 1.5
    response: str = "linear"
    direction_error: float = 1.0
    intensity_error: float = 0.03

    def __post_init__(self) -> None:
        names = ("ambient", "interreflection", "specular", "read_noise", "shot_noise")
        for name in (*names, "direction_error", "intensity_error"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number of at least 0, got {value}")
        if not 0 <= self.ambient_jitter < 1:
            raise ValueError(f"ambient_jitter must be in [0, 1), got {self.ambient_jitter}")
        if not 0 < self.roughness <= 1:
            raise ValueError(f"roughness must be in (0, 1], got {self.roughness}")
        if not 0 < self.bounce_radius <= 0.5:
            raise ValueError(f"bounce_radius must be in (0, 0.5], got {self.bounce_radius}")
        if np.linalg.norm(self.ambient_axis) < 1e-6:
            raise ValueError("ambient_axis must be a non-zero vector")
        object.__setattr__(self, "response", str(parse_response(self.response)))

    @classmethod
    def ideal(cls) -> RenderSettings:
        """Lambertian, noise-free, no ambient, no bounce, no highlights, linear, and the
        lights exactly where the session says."""
        return cls(
            cast_shadows=False,
            ambient=0.0,
            interreflection=0.0,
            specular=0.0,
            read_noise=0.0,
            shot_noise=0.0,
            direction_error=0.0,
            intensity_error=0.0,
        )


def miscalibrate(
    directions: np.ndarray,
    intensities: np.ndarray,
    rng: np.random.Generator,
    settings: RenderSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """The lamps as they really are, given where the session records them.

    Each true direction is the recorded one turned by an angle with RMS
    ``direction_error`` degrees (two normal components of that deviation each,
    perpendicular to the direction) toward a random side; each true intensity is the
    recorded one times ``1 + N(0, intensity_error)``. The renderer uses the true lamps;
    the session keeps the recorded ones, as a real rig's calibration file does.
    """
    directions = np.asarray(directions, np.float64)
    k = len(directions)
    sigma = np.radians(settings.direction_error) / np.sqrt(2.0)
    offset = rng.normal(0.0, sigma, (k, 3))
    offset -= np.einsum("kc,kc->k", offset, directions)[:, None] * directions  # tangent
    true = directions + offset
    true /= np.linalg.norm(true, axis=1, keepdims=True)
    gains = 1.0 + settings.intensity_error * rng.standard_normal(k)
    return true.astype(np.float32), (np.asarray(intensities) * gains).astype(np.float32)


def cast_shadow(
    depth: np.ndarray,
    direction: np.ndarray,
    *,
    penumbra: float = 1.5,
    receivers: np.ndarray | None = None,
) -> np.ndarray:
    """Visibility (H, W) in [0, 1] of a light along ``direction`` over a depth map.

    ``depth`` (H, W) is in pixels (larger is closer), ``direction`` a unit vector toward
    the light in the image frame (x right, y up, z toward the camera). The ray from each
    pixel advances one pixel per step along the light's dominant image axis and rises
    ``l_z / max(|l_x|, |l_y|)`` per step; the pixel is shadowed by how far the surface
    rises above the ray anywhere along it, softened over ``penumbra`` pixels of depth.
    Marching stops once the ray clears the highest point of the map. Only ``receivers``
    (H, W) bool, if given, can be shadowed (a distant backdrop catches no shadow), and the
    march then spans only their depth range.
    """
    lx, ly, lz = (float(c) for c in direction)
    h, w = depth.shape
    lateral = max(abs(lx), abs(ly))
    if lz <= 0:
        return np.zeros((h, w), np.float32)
    if lateral < 1e-6:
        return np.ones((h, w), np.float32)
    step_x, step_y = lx / lateral, ly / lateral
    rise = lz / lateral
    low = float(depth[receivers].min()) if receivers is not None and receivers.any() else None
    span = float(depth.max() - (depth.min() if low is None else low))
    steps = int(min(np.ceil(span / rise) + 1, max(h, w)))
    excess = np.full((h, w), -np.inf, np.float32)
    for t in range(1, steps + 1):
        dc = round(t * step_x)
        dr = -round(t * step_y)  # y up: the light's +y is toward smaller rows
        if abs(dc) >= w or abs(dr) >= h:
            break
        # Target pixels [r0:r1, c0:c1] look at the source pixels shifted by (dr, dc).
        r0, r1 = max(0, -dr), min(h, h - dr)
        c0, c1 = max(0, -dc), min(w, w - dc)
        src = depth[r0 + dr : r1 + dr, c0 + dc : c1 + dc]
        np.maximum(excess[r0:r1, c0:c1], src - np.float32(t * rise), out=excess[r0:r1, c0:c1])
    lift = excess - depth
    # A little bias: the pixel's own slope toward the light must not shadow it.
    visibility = np.clip(1.0 - (lift - 0.5) / penumbra, 0.0, 1.0).astype(np.float32)
    if receivers is not None:
        visibility[~receivers] = 1.0
    return visibility


def ambient_irradiance(normal: np.ndarray, level: float, axis) -> np.ndarray:
    """``A = a (1 + n·u) / 2`` (H, W): a uniform hemisphere of light around ``axis``."""
    u = np.asarray(axis, np.float32)
    u = u / np.linalg.norm(u)
    return (0.5 * level) * (1.0 + normal @ u)


def specular_lobe(normal: np.ndarray, light: np.ndarray, roughness: float) -> np.ndarray:
    """``π D F G / (4 n·v)`` (H, W) for one light: Torrance-Sparrow, Beckmann, Schlick.

    Zero where the surface faces away from the light. Multiply by the lamp's intensity,
    the shine ``κ`` and the visibility to get radiance.
    """
    light = np.asarray(light, np.float32)
    half = light + VIEW
    half /= np.linalg.norm(half)
    l_dot_h = float(light @ half)  # = v·h: the camera is fixed
    n_l = normal @ light
    n_h = np.clip(normal @ half, 1e-4, 1.0)
    n_v = np.clip(normal[..., 2], 0.05, 1.0)
    cos2 = n_h * n_h
    m2 = roughness * roughness
    beckmann = np.exp((cos2 - 1.0) / (cos2 * m2)) / (np.pi * m2 * cos2 * cos2)
    fresnel = SKIN_F0 + (1.0 - SKIN_F0) * (1.0 - l_dot_h) ** 5
    masking = np.minimum(1.0, (2.0 / l_dot_h) * n_h * np.minimum(n_v, np.maximum(n_l, 0.0)))
    lobe = (np.pi * fresnel / 4.0) * beckmann * masking / n_v
    return np.where(n_l > 0, lobe, 0.0).astype(np.float32)


@dataclass
class ShadingTerms:
    """The terms of the rendering equation, before exposure, noise and response.

    ``diffuse`` (K, H, W, C) ``e_k ρ max(0, n·l_k) V_k``; ``ambient`` (H, W, C) ``ρ A``;
    ``indirect`` (K, H, W, C) the bounced light; ``specular`` (K, H, W) the white
    highlight; ``visibility`` (K, H, W) ``V_k`` (1 without cast shadows); ``facing``
    (K, H, W) bool, ``n·l_k > 0`` (False: attached shadow).
    """

    diffuse: np.ndarray
    ambient: np.ndarray
    indirect: np.ndarray
    specular: np.ndarray
    visibility: np.ndarray
    facing: np.ndarray

    def radiance(self, exposure: float = 1.0) -> np.ndarray:
        """Linear radiance (K, H, W, C): the sum of the terms times the exposure."""
        total = self.diffuse + self.indirect
        total += self.ambient[None]
        total += self.specular[..., None]
        total *= np.float32(exposure)
        return total


def shading_terms(
    normal: np.ndarray,
    albedo: np.ndarray,
    directions: np.ndarray,
    intensities: np.ndarray,
    *,
    depth: np.ndarray | None = None,
    receivers: np.ndarray | None = None,
    specular_map: np.ndarray | None = None,
    settings: RenderSettings = RenderSettings(),
    ambient_scale: float = 1.0,
) -> ShadingTerms:
    """Every term of the rendering equation (see the module docstring), per light.

    ``normal`` (H, W, 3), ``albedo`` (H, W, C), ``directions`` (K, 3) unit vectors toward
    the lights, ``intensities`` (K,). ``depth`` is needed for cast shadows, which fall
    only on ``receivers`` (H, W) bool if given; light bounces only between receivers (the
    whole frame if not given). ``specular_map`` (H, W) is the shine ``κ``; without it
    there are no highlights. ``ambient_scale`` multiplies ``settings.ambient``.
    """
    directions = np.asarray(directions, np.float32)
    normal = np.asarray(normal, np.float32)
    albedo = np.asarray(albedo, np.float32)
    k = len(directions)
    h, w = normal.shape[:2]
    channels = albedo.shape[-1]
    diffuse = np.empty((k, h, w, channels), np.float32)
    indirect = np.zeros((k, h, w, channels), np.float32)
    specular = np.zeros((k, h, w), np.float32)
    visibility = np.ones((k, h, w), np.float32)
    facing = np.empty((k, h, w), bool)
    level = settings.ambient * ambient_scale
    ambient = albedo * ambient_irradiance(normal, level, settings.ambient_axis)[..., None]
    person = None if receivers is None else receivers.astype(np.float32)[..., None]
    sigma = settings.bounce_radius * max(h, w)
    shine = None
    if settings.specular > 0 and specular_map is not None:
        shine = settings.specular * np.asarray(specular_map, np.float32)
    for i, (light, e) in enumerate(zip(directions, intensities, strict=True)):
        cosine = normal @ light
        facing[i] = cosine > 0
        irradiance = np.maximum(cosine, 0.0) * np.float32(e)
        if settings.cast_shadows and depth is not None:
            visibility[i] = cast_shadow(
                depth, light, penumbra=settings.penumbra, receivers=receivers
            )
            irradiance *= visibility[i]
        diffuse[i] = albedo * irradiance[..., None]
        if settings.interreflection > 0:
            indirect[i] = _bounce(diffuse[i], albedo, person, sigma, settings.interreflection)
        if shine is not None:
            lobe = specular_lobe(normal, light, settings.roughness)
            specular[i] = lobe * shine * visibility[i] * np.float32(e)
    return ShadingTerms(diffuse, ambient, indirect, specular, visibility, facing)


def _bounce(
    radiance: np.ndarray, albedo: np.ndarray, person: np.ndarray | None, sigma: float, beta: float
) -> np.ndarray:
    """``β ρ (G_σ * (ρ E))`` (H, W, C) over the person: light bounced off nearby surfaces."""
    source = radiance if person is None else radiance * person
    spread = cv2.GaussianBlur(source, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    spread = spread.reshape(albedo.shape)
    out = albedo * spread
    out = out * np.float32(beta)
    if person is not None:
        out *= person
    return out


def shade(
    normal: np.ndarray,
    albedo: np.ndarray,
    directions: np.ndarray,
    intensities: np.ndarray,
    *,
    depth: np.ndarray | None = None,
    receivers: np.ndarray | None = None,
    specular_map: np.ndarray | None = None,
    settings: RenderSettings = RenderSettings(),
    exposure: float = 1.0,
    ambient_scale: float = 1.0,
) -> np.ndarray:
    """Noise-free linear radiance (K, H, W, C) of a scene under each light.

    The sum of :func:`shading_terms` (same arguments) times ``exposure``.
    """
    terms = shading_terms(
        normal,
        albedo,
        directions,
        intensities,
        depth=depth,
        receivers=receivers,
        specular_map=specular_map,
        settings=settings,
        ambient_scale=ambient_scale,
    )
    return terms.radiance(exposure)


def add_noise(images: np.ndarray, rng: np.random.Generator, settings: RenderSettings) -> np.ndarray:
    """Add read and shot noise, clip to [0, 1] (the sensor saturates)."""
    if settings.read_noise <= 0 and settings.shot_noise <= 0:
        return np.clip(images, 0.0, 1.0)
    sigma = np.sqrt(settings.read_noise**2 + settings.shot_noise**2 * np.maximum(images, 0.0))
    noisy = images + sigma * rng.standard_normal(images.shape, dtype=np.float32)
    return np.clip(noisy, 0.0, 1.0)
