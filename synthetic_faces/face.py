"""A synthetic person: face shape and skin albedo from a seed, in the face frame.

A face is a height field ``h(u, v)`` built from smooth analytic pieces (a superellipsoidal
head with a tapering jaw, brow ridge, eye sockets and eyeballs, a nose wedge with tip and
alae, cheekbones, lips, chin, a neck), and an RGB albedo painted with soft-edged regions
(skin tone with low- and high-frequency texture, eyebrows, sclera, iris, lash lines, lips,
nostrils, hair), and a shine map: how strongly the skin reflects specularly, highest on
the oily forehead and nose. Every proportion and colour is a per-person parameter drawn
once in :func:`sample_identity`; :func:`face_fields` evaluates them, plus what changes between
visits (expression, facial hair), on a :class:`~synthetic_faces.grid.FaceGrid`.

Units: the head is about two units wide; ``u`` right, ``v`` up, ``h`` toward the camera.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from synthetic_faces.grid import FaceGrid, add_bump, blob, paint, rgb, smooth_noise

#: Depth of the background plane behind the face frame's origin (units).
BACKGROUND_HEIGHT = -1.6

#: Albedo darkening per unit of cavity depth (height below its local mean).
CAVITY_GAIN = 4.0
#: Facial-hair kinds, in the Photoface vocabulary.
FACIAL_HAIR = ("none", "stubble", "moustache", "beard", "both")
#: Colours of the eye that do not vary between people.
SCLERA = (0.72, 0.68, 0.64)
PUPIL = (0.02, 0.02, 0.02)
LASHES = (0.03, 0.025, 0.02)


@dataclass(frozen=True)
class Identity:
    """Everything that makes one synthetic person look like themselves.

    Geometry is in face-frame units (head about two units wide), colours are linear
    RGB reflectances in [0, 1]. ``texture_seed`` fixes the skin's texture pattern;
    ``oiliness`` scales the person's skin shine (the specular map, median 1).
    """

    gender: str
    head_width: float
    head_height: float
    head_depth: float
    head_squareness: float
    face_flatness: float
    jaw_taper: float
    eye_u: float
    eye_v: float
    eye_width: float
    eye_height: float
    socket_depth: float
    brow_ridge: float
    brow_gap: float
    brow_thickness: float
    brow_arch: float
    brow_tilt: float
    brow_darkness: float
    nose_tip_v: float
    nose_height: float
    nose_width: float
    bridge_width: float
    cheekbone: float
    cheek_v: float
    mouth_v: float
    mouth_width: float
    lip_upper: float
    lip_lower: float
    chin: float
    chin_v: float
    hairline: float
    long_hair: bool
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    iris: tuple[float, float, float]
    lip_colour: tuple[float, float, float]
    texture_seed: int
    oiliness: float = 1.0

    @property
    def head_centre(self) -> float:
        """``v`` of the head outline's centre; the chin sits one unit below the origin."""
        return self.head_height - 1.0


@dataclass(frozen=True)
class Expression:
    """Mouth and cheeks for one visit (all zero: the blank stare).

    ``smile`` raises (positive) or lowers (negative) the mouth corners, ``open`` parts the
    lips (0..1), ``cheeks`` raises the cheeks, ``brows`` raises the eyebrows (negative
    knits them).
    """

    smile: float = 0.0
    open: float = 0.0
    cheeks: float = 0.0
    brows: float = 0.0


@dataclass
class FaceFields:
    """A face sampled on a grid: height, its gradient, albedo and regions.

    ``height`` (N, N) in units, ``grad_u``/``grad_v`` its derivatives along ``u`` and
    ``v`` (dimensionless), ``albedo`` (N, N, 3), ``head`` (N, N) 1 on the person (head,
    neck, hair) and 0 on the background, ``face`` (N, N) 1 on the skin of the face proper
    (the region ground truth is scored on), ``specular`` (N, N) the shine map ``κ`` that
    scales skin's specular lobe (:func:`_static_shine`).
    """

    height: np.ndarray
    grad_u: np.ndarray
    grad_v: np.ndarray
    albedo: np.ndarray
    head: np.ndarray
    face: np.ndarray
    specular: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _skin_tone(rng: np.random.Generator) -> tuple[float, float, float]:
    """Reflectance along the range of human skin, from deep brown to pale."""
    t = rng.beta(2.2, 1.6)
    dark = np.array([0.26, 0.16, 0.11])
    light = np.array([0.80, 0.62, 0.52])
    tone = dark + t * (light - dark)
    tone *= 1 + rng.normal(0, 0.04, 3)  # individual hue
    return rgb(np.clip(tone, 0.05, 0.95))


def _hair_colour(rng: np.random.Generator, skin: tuple[float, float, float]) -> tuple:
    """Mostly dark hair, some brown, a few fair or grey heads."""
    kind = rng.choice(4, p=[0.55, 0.28, 0.1, 0.07])
    base = [
        np.array([0.035, 0.03, 0.028]),
        np.array([0.12, 0.075, 0.045]),
        np.array([0.40, 0.30, 0.17]),
        np.array([0.38, 0.37, 0.36]),
    ][kind]
    base = base * (1 + rng.normal(0, 0.12))
    return rgb(np.clip(base, 0.01, 0.9))


def sample_identity(rng: np.random.Generator, gender: str = "male") -> Identity:
    """Draw one person's proportions and colours.

    Ranges span ordinary adult variation around a common layout (eyes near ``v = 0.1``,
    mouth near ``v = -0.5``, chin at ``v = -1``), so every draw is a plausible face and
    any two draws differ visibly in shape and albedo.
    """
    male = gender == "male"
    skin = _skin_tone(rng)
    iris_kind = rng.choice(3, p=[0.7, 0.2, 0.1])
    iris = [(0.09, 0.05, 0.03), (0.12, 0.18, 0.25), (0.13, 0.16, 0.09)][iris_kind]
    lip = np.array(skin) * np.array([0.7, 0.42, 0.42]) * _u(rng, 0.75, 0.95)
    eye_v = _u(rng, 0.12, 0.2)
    return Identity(
        gender=gender,
        head_width=_u(rng, 0.8, 0.92) * (1.02 if male else 0.97),
        head_height=_u(rng, 1.25, 1.42),
        head_depth=_u(rng, 0.78, 0.95),
        head_squareness=_u(rng, 2.0, 2.4) + (0.15 if male else 0.0),
        face_flatness=_u(rng, 1.0, 1.35),
        jaw_taper=_u(rng, 0.08, 0.3) + (0.0 if male else 0.06),
        eye_u=_u(rng, 0.31, 0.38),
        eye_v=eye_v,
        eye_width=_u(rng, 0.3, 0.36),
        eye_height=_u(rng, 0.1, 0.125),
        socket_depth=_u(rng, 0.07, 0.14),
        brow_ridge=_u(rng, 0.02, 0.06) + (0.03 if male else 0.0),
        brow_gap=_u(rng, 0.12, 0.19),
        brow_thickness=_u(rng, 0.026, 0.045) * (1.15 if male else 0.85),
        brow_arch=_u(rng, 0.6, 2.2),
        brow_tilt=_u(rng, -0.12, 0.12),
        brow_darkness=_u(rng, 0.55, 0.92),
        nose_tip_v=eye_v - _u(rng, 0.38, 0.5),
        nose_height=_u(rng, 0.2, 0.34),
        nose_width=_u(rng, 0.11, 0.155),
        bridge_width=_u(rng, 0.045, 0.075),
        cheekbone=_u(rng, 0.02, 0.07),
        cheek_v=eye_v - _u(rng, 0.12, 0.2),
        mouth_v=_u(rng, -0.6, -0.5),
        mouth_width=_u(rng, 0.26, 0.34),
        lip_upper=_u(rng, 0.018, 0.04),
        lip_lower=_u(rng, 0.025, 0.05),
        chin=_u(rng, 0.03, 0.08),
        chin_v=_u(rng, -0.9, -0.82),
        hairline=_u(rng, 0.62, 0.82) + (_u(rng, 0.0, 0.25) if male and rng.random() < 0.3 else 0),
        long_hair=bool(rng.random() < (0.8 if not male else 0.08)),
        skin=skin,
        hair=_hair_colour(rng, skin),
        iris=iris,
        lip_colour=rgb(lip),
        texture_seed=int(rng.integers(2**31)),
        oiliness=float(np.exp(rng.normal(0.0, 0.3))),
    )


def _head_shape(ident: Identity, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Height of the head's superellipsoid and its normalised radius ``r`` (1 at the outline)."""
    v0 = ident.head_centre
    b = ident.head_height
    jaw = np.clip((-0.15 - v) / (-0.15 - (v0 - b)), 0.0, 1.0) ** 1.5
    width = ident.head_width * (1.0 - ident.jaw_taper * jaw)
    p = ident.head_squareness
    r = (np.abs(u / width) ** p + np.abs((v - v0) / b) ** p) ** (1.0 / p)
    r2 = np.minimum(r * r, 0.9995)
    height = ident.head_depth * np.sqrt(1.0 - r2**ident.face_flatness)
    return height, r


def _nose(ident: Identity, grid: FaceGrid, height: np.ndarray) -> None:
    """A wedge that rises from the bridge to the tip and drops under it, plus the alae."""
    top = ident.eye_v + 0.06
    tip = ident.nose_tip_v
    rows, cols = grid.window(0.0, (top + tip) / 2 - 0.05, 0.3, (top - tip) / 2 + 0.2)
    u = grid.u[cols][None, :]
    v = grid.v[rows][:, None]
    t = np.clip((top - v) / (top - tip), 0.0, None)  # 0 at the bridge top, 1 at the tip
    rise = np.where(t <= 1.0, 0.25 + 0.75 * t**1.3, np.exp(-0.5 * ((tip - v) / 0.035) ** 2))
    start = np.clip((top + 0.08 - v) / 0.08, 0.0, 1.0)
    rise = rise * start * start * (3 - 2 * start)
    width = ident.bridge_width + (ident.nose_width * 0.55 - ident.bridge_width) * np.clip(t, 0, 1)
    height[rows, cols] += ident.nose_height * rise * np.exp(-0.5 * (u / width) ** 2)
    for side in (-1, 1):  # the alae
        ala = (side * ident.nose_width * 0.75, tip - 0.025)
        add_bump(height, grid, 0.28 * ident.nose_height, centre=ala, spread=(0.045, 0.04))
    add_bump(height, grid, 0.25 * ident.nose_height, centre=(0.0, tip), spread=(0.05, 0.045))


def _shape(
    ident: Identity, grid: FaceGrid, expr: Expression
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The face's height field (N, N), the head's normalised radius, and where the neck shows."""
    u, v = grid.uv()
    height, r = _head_shape(ident, u, v)
    inside = r < 1.0
    ev, eu = ident.eye_v, ident.eye_u
    for side in (-1, 1):
        socket = (side * eu, ev + 0.02)
        add_bump(height, grid, -ident.socket_depth, centre=socket, spread=(0.17, 0.12))
        eyeball = (side * eu, ev)
        add_bump(height, grid, 0.6 * ident.socket_depth, centre=eyeball, spread=(0.09, 0.06))
        brow = (side * (eu - 0.02), ev + ident.brow_gap)
        add_bump(height, grid, ident.brow_ridge, centre=brow, spread=(0.19, 0.055), bend=-0.5)
        cheekbone = (side * (eu + 0.16), ident.cheek_v)
        add_bump(
            height,
            grid,
            ident.cheekbone,
            centre=cheekbone,
            spread=(0.18, 0.12),
            angle=side * 0.35,
        )
        cheek = (side * 0.42, ident.mouth_v + 0.2)
        add_bump(height, grid, 0.02 + 0.03 * expr.cheeks, centre=cheek, spread=(0.13, 0.1))
    glabella = (0.0, ev + 0.1)
    add_bump(height, grid, 0.5 * ident.brow_ridge, centre=glabella, spread=(0.1, 0.07))
    _nose(ident, grid, height)
    mv, mw = ident.mouth_v, ident.mouth_width
    bend = 2.2 * expr.smile
    muzzle = (0.0, mv + 0.05)  # teeth and jaw
    add_bump(height, grid, 0.07, centre=muzzle, spread=(0.26, 0.2))
    upper_lip = (0.0, mv + 0.035 + 0.02 * expr.open)
    add_bump(height, grid, ident.lip_upper, centre=upper_lip, spread=(0.6 * mw, 0.033), bend=bend)
    lower_lip = (0.0, mv - 0.045 - 0.05 * expr.open)
    add_bump(
        height, grid, ident.lip_lower, centre=lower_lip, spread=(0.55 * mw, 0.04), bend=bend * 0.8
    )
    add_bump(  # the parting of the lips
        height,
        grid,
        -0.02 - 0.05 * expr.open,
        centre=(0.0, mv - 0.01 * expr.open),
        spread=(0.7 * mw, 0.012 + 0.03 * expr.open),
        bend=bend,
    )
    add_bump(height, grid, -0.015, centre=(0.0, mv - 0.13), spread=(0.12, 0.03))  # under the lip
    add_bump(height, grid, ident.chin, centre=(0.0, ident.chin_v), spread=(0.15, 0.08))
    # The neck: a cylinder below the jaw, behind the face.
    neck_w = ident.head_width * 0.58
    neck = 0.5 * ident.head_depth * np.sqrt(np.clip(1.0 - (u / neck_w) ** 2, 1e-4, None))
    neck_on = (np.abs(u) < neck_w * 0.999) & (v < ident.mouth_v)
    # Shoulders: a wide flattened dome at the bottom of the frame.
    s2 = (u / 2.4) ** 2 + ((v - (ident.chin_v - 1.25)) / 0.65) ** 2
    shoulders = 0.55 * ident.head_depth * np.sqrt(np.clip(1.0 - s2, 1e-4, None))
    shoulders_on = s2 < 0.999
    height = np.where(inside, height, BACKGROUND_HEIGHT)
    # Ears: flattened domes at the sides of the head, between the eyes and the nose tip.
    ear_v = 0.5 * (ident.eye_v + ident.nose_tip_v)
    ear_u = ident.head_width * 0.97 + 0.03
    ears_on = np.zeros_like(inside)
    for side in (-1, 1):
        e2 = ((u - side * ear_u) / 0.1) ** 2 + ((v - ear_v) / 0.2) ** 2
        ear = 0.3 * ident.head_depth + 0.06 * np.sqrt(np.clip(1.0 - e2, 0.0, None))
        on = (e2 < 1.0) & (ear > height)
        height = np.where(on, ear, height)
        ears_on |= on
    neck_on &= neck > height
    height = np.where(neck_on, neck, height)
    shoulders_on &= shoulders > height
    height = np.where(shoulders_on, shoulders, height)
    body = np.where(shoulders_on, 2, np.where(neck_on, 1, np.where(ears_on, 3, 0)))
    body = body.astype(np.uint8)
    return height.astype(np.float32), r, body


def _hair_weight(ident: Identity, u: np.ndarray, v: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Where the head is covered by hair: above the hairline, and over the sides."""
    line = ident.hairline + 0.35 * u * u - 0.1 * np.abs(u)
    top = np.clip((v - line) / 0.03, 0.0, 1.0)
    side_v = ident.eye_v + (0.0 if ident.long_hair else 0.05)
    side = np.clip((r - (0.86 if ident.long_hair else 0.9)) / 0.03, 0.0, 1.0)
    side = side * np.clip((v - (side_v if not ident.long_hair else -0.7)) / 0.05, 0.0, 1.0)
    return np.maximum(top, side)


def _static_albedo(ident: Identity, grid: FaceGrid) -> np.ndarray:
    """Skin with texture, eyes, nostrils and under-eye shading: what no visit changes."""
    rng = np.random.default_rng(ident.texture_seed)
    n = grid.size
    low = smooth_noise(rng, n, 6)
    mid = smooth_noise(rng, n, 24)
    fine = rng.standard_normal((n, n)).astype(np.float32)
    fine = 0.6 * fine + 0.4 * np.roll(fine, 1, axis=1)
    skin = np.asarray(ident.skin, np.float32)
    texture = 1.0 + 0.07 * low + 0.03 * mid + 0.025 * fine
    albedo = skin[None, None, :] * texture[..., None]
    albedo = albedo.astype(np.float32)
    eu, ev = ident.eye_u, ident.eye_v
    ew, eh = ident.eye_width, ident.eye_height
    blush = skin * np.array([1.06, 0.86, 0.86], np.float32)
    for side in (-1, 1):
        x = side * eu
        cheek = (side * (eu + 0.12), ident.cheek_v - 0.06)
        paint(albedo, grid, blush, strength=0.45, centre=cheek, spread=(0.13, 0.1))
        under_eye = (x, ev - 0.05)
        paint(
            albedo, grid, skin * 0.72, strength=0.5, centre=under_eye, spread=(0.12, 0.04), bend=0.8
        )
        socket = (x, ev + 0.03)
        paint(albedo, grid, skin * 0.7, strength=0.7, centre=socket, spread=(0.16, 0.07))
        eye = (x, ev)
        opening = (0.36 * ew, 0.36 * eh)
        paint(albedo, grid, SCLERA, strength=0.95, centre=eye, spread=opening, power=3)
        paint(albedo, grid, ident.iris, strength=1.0, centre=eye, spread=(0.05, 0.05), power=3)
        paint(albedo, grid, PUPIL, strength=1.0, centre=eye, spread=(0.016, 0.016), power=3)
        upper_lashes = (x, ev + 0.45 * eh)
        paint(
            albedo,
            grid,
            LASHES,
            strength=1.0,
            centre=upper_lashes,
            spread=(0.4 * ew, 0.02),
            bend=-1.8,
            power=2,
        )
        upper_crease = (x, ev + 0.85 * eh)
        paint(
            albedo,
            grid,
            skin * 0.5,
            strength=0.5,
            centre=upper_crease,
            spread=(0.38 * ew, 0.015),
            bend=-1.5,
            power=2,
        )
        lower_crease = (x, ev - 0.5 * eh)
        paint(
            albedo,
            grid,
            skin * 0.55,
            strength=0.5,
            centre=lower_crease,
            spread=(0.33 * ew, 0.009),
            bend=1.2,
            power=2,
        )
        nostril = (side * 0.05, ident.nose_tip_v - 0.05)
        paint(
            albedo,
            grid,
            skin * 0.2,
            strength=0.9,
            centre=nostril,
            spread=(0.025, 0.014),
            angle=side * 0.5,
            power=2,
        )
    return albedo


def _static_shine(ident: Identity, grid: FaceGrid) -> np.ndarray:
    """The face skin's specular strength ``κ`` (N, N): its shine map, before the visit.

    ``κ`` multiplies skin's Torrance-Sparrow lobe (:mod:`synthetic_faces.render`):
    the share of the surface a film of sebum or moisture covers, times how much brighter
    that film's highlight is. Base skin is 1; the T-zone shines most (forehead 2.5, the
    nose 3 and its tip 4), then the moist lips and the chin (2, 1.8) and the cheeks (1.3);
    the eyes (cornea and wet sclera) are glassy (6). Under a lamp 20 degrees off the
    camera the nose's highlight then reaches about half the diffuse level, the cheeks'
    a fifth. Smooth texture (25%) varies it within each region, and the person's
    ``oiliness`` scales it all. The T-zone is where measured faces shine most (Weyrich
    et al. 2006 fit skin's lobe region by region).
    """
    rng = np.random.default_rng([ident.texture_seed, 1])
    shine = np.ones((grid.size, grid.size), np.float32)
    ev, eu = ident.eye_v, ident.eye_u
    top = ident.eye_v + 0.06
    tip = ident.nose_tip_v
    add_bump(shine, grid, 1.5, centre=(0.0, ev + 0.42), spread=(0.42, 0.22))  # forehead
    nose = (0.0, 0.5 * (top + tip))
    add_bump(shine, grid, 2.0, centre=nose, spread=(0.08, 0.5 * (top - tip)), power=2)
    add_bump(shine, grid, 1.0, centre=(0.0, tip), spread=(0.07, 0.06))  # its tip, oiliest
    add_bump(shine, grid, 0.8, centre=(0.0, ident.chin_v + 0.04), spread=(0.15, 0.08))  # chin
    lips = (0.0, ident.mouth_v)
    add_bump(shine, grid, 1.0, centre=lips, spread=(0.55 * ident.mouth_width, 0.05), power=2)
    eye_opening = (0.36 * ident.eye_width, 0.36 * ident.eye_height)
    for side in (-1, 1):
        cheek = (side * (eu + 0.12), ident.cheek_v - 0.04)
        add_bump(shine, grid, 0.3, centre=cheek, spread=(0.13, 0.1))
        add_bump(shine, grid, 5.0, centre=(side * eu, ev), spread=eye_opening, power=3)
    texture = 1.0 + 0.25 * smooth_noise(rng, grid.size, 10)
    return (shine * np.clip(texture, 0.4, None) * ident.oiliness).astype(np.float32)


def _static(ident: Identity, grid: FaceGrid) -> tuple[np.ndarray, ...]:
    """Per-person albedo, head radius, hair weight and shine (no visit changes them)."""
    u, v = grid.uv()
    _, r = _head_shape(ident, u, v)
    albedo = _static_albedo(ident, grid)
    hair = _hair_weight(ident, u, v, r) * (r < 1.0)
    return albedo, r, hair, _static_shine(ident, grid)


def face_fields(
    ident: Identity,
    grid: FaceGrid,
    *,
    expression: Expression | None = None,
    facial_hair: str = "none",
    hair_density: float = 1.0,
    rng: np.random.Generator | None = None,
    static: tuple[np.ndarray, ...] | None = None,
    clothing: tuple[float, float, float] = (0.2, 0.2, 0.25),
) -> FaceFields:
    """Evaluate a person with one visit's expression and facial hair on ``grid``.

    ``static`` is the result of :func:`static_fields` for the same person and grid, if
    the caller caches it. ``rng`` draws the facial hair's strands (per visit).
    """
    expr = expression or Expression()
    if facial_hair not in FACIAL_HAIR:
        raise ValueError(f"facial_hair must be one of {FACIAL_HAIR}, got {facial_hair!r}")
    rng = rng or np.random.default_rng(0)
    albedo, r, hair, shine = static if static is not None else _static(ident, grid)
    albedo = albedo.copy()
    height, _, body = _shape(ident, grid, expr)
    _paint_mouth(albedo, grid, ident, expr)
    _paint_brows(albedo, grid, ident, expr)
    beard = _beard_weight(ident, grid, facial_hair, r)
    height = _grow_facial_hair(albedo, height, beard, ident, facial_hair, hair_density, rng)
    _darken_cavities(albedo, height, grid)
    # Scalp hair.
    albedo += hair[..., None] * (np.asarray(ident.hair, np.float32) - albedo)
    height = height + 0.04 * hair * (r < 1.0)
    # The neck and shoulders below the head outline: in the jaw's shade, and clothed.
    neck = body > 0
    head = ((r < 1.0) | neck).astype(np.float32)
    albedo[neck] = albedo[neck] * 0.5
    albedo[body == 2] = np.asarray(clothing, np.float32)
    u, v = grid.uv()
    face_line = ident.hairline - 0.04 + 0.35 * u * u
    face = (r < 0.94) & (v < face_line) & (hair < 0.01) & ~neck
    specular = _visit_shine(shine, face, hair, beard, body)
    gv, gu = np.gradient(height, -1.0 / grid.scale, 1.0 / grid.scale)
    return FaceFields(
        height=height,
        grad_u=gu.astype(np.float32),
        grad_v=gv.astype(np.float32),
        albedo=np.clip(albedo, 0.005, 1.0),
        head=head,
        face=face.astype(np.float32),
        specular=specular,
        extras={"beard": beard},
    )


def _paint_mouth(albedo: np.ndarray, grid: FaceGrid, ident: Identity, expr: Expression) -> None:
    """The lips and the mouth's dark opening, shaped by the expression, in place."""
    mv, mw = ident.mouth_v, ident.mouth_width
    bend = 2.2 * expr.smile
    lips = np.asarray(ident.lip_colour)
    upper = (0.0, mv + 0.035 + 0.02 * expr.open)
    paint(
        albedo, grid, lips, strength=0.8, centre=upper, spread=(0.55 * mw, 0.03), bend=bend, power=2
    )
    lower = (0.0, mv - 0.045 - 0.05 * expr.open)
    paint(
        albedo,
        grid,
        lips,
        strength=0.8,
        centre=lower,
        spread=(0.5 * mw, 0.04),
        bend=bend * 0.8,
        power=2,
    )
    opening = (0.0, mv - 0.01 * expr.open)
    paint(
        albedo,
        grid,
        np.asarray(ident.skin, np.float32) * 0.25,
        strength=0.85,
        centre=opening,
        spread=(0.6 * mw, 0.013 + 0.03 * expr.open),
        bend=bend,
        power=2,
    )


def _paint_brows(albedo: np.ndarray, grid: FaceGrid, ident: Identity, expr: Expression) -> None:
    """The eyebrows, raised or knit by the expression, in place."""
    skin = np.asarray(ident.skin, np.float32)
    hair = np.asarray(ident.hair, np.float32)
    for side in (-1, 1):
        brow = (
            side * (ident.eye_u + 0.015),
            ident.eye_v + ident.brow_gap - 0.015 + 0.04 * expr.brows,
        )
        paint(
            albedo,
            grid,
            skin + ident.brow_darkness * (hair - skin),
            strength=0.95,
            centre=brow,
            spread=(0.14, ident.brow_thickness),
            power=2,
            bend=-ident.brow_arch,
            angle=-side * (ident.brow_tilt - 0.15 * min(expr.brows, 0)),
        )


def _beard_weight(ident: Identity, grid: FaceGrid, kind: str, r: np.ndarray) -> np.ndarray:
    """Where facial hair of ``kind`` grows (N, N), 0 to 1: over the upper lip (moustache),
    below a line that rises from under the mouth to the sideburns (beard), both for
    stubble; never on the lips or off the head."""
    beard = np.zeros((grid.size, grid.size), np.float32)
    if kind == "none":
        return beard
    u, v = grid.uv()
    mv, mw = ident.mouth_v, ident.mouth_width
    if kind in ("moustache", "both", "stubble"):
        window, w = blob(grid, centre=(0.0, mv + 0.08), spread=(0.6 * mw, 0.04), bend=-1.0, power=2)
        beard[window] = np.maximum(beard[window], w)
    if kind in ("beard", "both", "stubble"):
        line = mv + 0.02 + 0.9 * u * u
        jaw = np.clip((line - v) / 0.08, 0.0, 1.0) * np.clip((0.995 - r) / 0.03, 0.0, 1.0)
        beard = np.maximum(beard, jaw * (v < ident.eye_v - 0.15))
    lips = np.exp(-0.5 * ((u / (0.65 * mw)) ** 2 + ((v - mv) / 0.055) ** 2))
    beard *= np.clip(1.0 - 1.6 * lips, 0, 1) * (r < 1.0)
    return beard


def _grow_facial_hair(
    albedo: np.ndarray,
    height: np.ndarray,
    beard: np.ndarray,
    ident: Identity,
    kind: str,
    hair_density: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Strands of hair colour over ``beard`` (albedo, in place); returns the height with
    the hair's relief (none for stubble)."""
    if kind == "none":
        return height
    strands = rng.standard_normal(height.shape).astype(np.float32)
    strands = np.clip(0.5 + 0.35 * (strands + np.roll(strands, 1, axis=0)), 0, 1)
    density = 0.35 if kind == "stubble" else 0.9
    w = (density * hair_density) * beard * (0.6 + 0.4 * strands)
    albedo += w[..., None] * (np.asarray(ident.hair, np.float32) - albedo)
    if kind == "stubble":
        return height
    return height + 0.03 * hair_density * beard


def _darken_cavities(albedo: np.ndarray, height: np.ndarray, grid: FaceGrid) -> None:
    """Cavities (sockets, nostrils, mouth corners, under the jaw) hold less light from the
    room and skin darkens there: an occlusion term baked into the albedo, in place."""
    sigma = 0.08 * grid.scale
    around = cv2.GaussianBlur(np.maximum(height, 0.0), (0, 0), sigma)
    cavity = np.clip(around - np.maximum(height, 0.0), 0.0, None)
    albedo *= np.clip(1.0 - CAVITY_GAIN * cavity, 0.45, 1.0)[..., None]


def _visit_shine(
    shine: np.ndarray, face: np.ndarray, hair: np.ndarray, beard: np.ndarray, body: np.ndarray
) -> np.ndarray:
    """The visit's shine map: the face's own; the skin of the neck, ears and scalp edge
    as plain skin (at most 1); hair (0.5) and beard (0.3) duller; clothing matt (0.15)."""
    skin = np.where(face, shine, np.minimum(shine, 1.0))
    skin = skin + np.clip(hair, 0.0, 1.0) * (0.5 - skin)
    skin = skin + np.clip(beard, 0.0, 1.0) * (0.3 - skin)
    return np.where(body == 2, 0.15, skin).astype(np.float32)


def static_fields(ident: Identity, grid: FaceGrid) -> tuple[np.ndarray, ...]:
    """What :func:`face_fields` can reuse between visits of one person on one grid."""
    return _static(ident, grid)
