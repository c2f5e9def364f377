"""Presentation attacks: what an impostor holds up to the rig instead of a live face.

Each attack is made from a photograph of the victim (:func:`photograph`: a synthetic
person under one lamp and room light, as a portrait or a social-media picture would be)
and photographed by the rig like a live session, with the same room light, lamp
calibration error, noise and response:

* ``print``: the photograph printed on matte or slightly glossy paper (reflectance from
  paper black to paper white), held flat and tilted up to :data:`MAX_TILT` degrees;
* ``curved-print``: the same print bent around an axis near the vertical (a cylinder
  of radius 0.4 to 1 image width), as an attacker curls it to look round;
* ``screen``: a phone or monitor showing the photograph. It emits its own light, the
  same under every flash; its glass adds a faint diffuse reflection and a glare of each
  lamp, and its pixel grid beats with the camera's into a moire pattern;
* ``mask``: a paper mask with a face's shape, someone else's (another synthetic
  person's head, posed as a visit), textured with the victim's photograph.

A print or a mask shows the photograph's own shading and highlights baked into its
reflectance; a screen shows them as emitted light. Randomness is keyed like the
generator's (:mod:`synthetic_faces.generate`): an attack session depends on the seed,
the victim, the attack and its index only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from photostereo.io.canonical import read_canonical, write_canonical
from synthetic_faces.generate import (
    LUMA,
    RenderedVisit,
    SynthConfig,
    build_scene,
    keyed_rng,
    person,
    run_jobs,
    subject_name,
    write_visit,
)
from synthetic_faces.render import RenderSettings, add_noise, miscalibrate, shade
from synthetic_faces.rigs import parse_rig
from synthetic_faces.scene import Scene

ATTACKS = ("print", "curved-print", "screen", "mask")
#: Key of an attack's randomness, beside the generator's IDENTITY, PERSON and VISIT.
ATTACK = 3
#: Largest tilt of a held print or screen, degrees.
MAX_TILT = 20.0
#: Paper's reflectance where the print is black and where it is white.
PAPER_BLACK, PAPER_WHITE = 0.04, 0.85


def attack_session_name(attack: str, index: int) -> str:
    return f"{attack}-{index:02d}"


def photograph(config: SynthConfig, victim: int, rng: np.random.Generator) -> np.ndarray:
    """(H, W) float32 in [0, 1]: the victim photographed under one lamp within 35
    degrees of the camera and strong room light, exposed so the face's brightest
    percent sits at full scale (one of the victim's visits, drawn by ``rng``)."""
    visit_index = int(rng.integers(0, 1000))
    scene, _, _ = build_scene(config, victim, visit_index)
    tilt, azimuth = np.radians(rng.uniform(0, 35)), rng.uniform(0, 2 * np.pi)
    lamp = np.array(
        [np.sin(tilt) * np.cos(azimuth), np.sin(tilt) * np.sin(azimuth), np.cos(tilt)], np.float32
    )
    settings = replace(config.settings, ambient=0.3, response="linear")
    albedo = (scene.albedo @ LUMA)[..., None]
    radiance = shade(
        scene.normal,
        albedo,
        lamp[None],
        np.ones(1, np.float32),
        depth=scene.depth,
        receivers=scene.person > 0.5,
        specular_map=scene.specular,
        settings=settings,
    )[0, ..., 0]
    level = np.percentile(radiance[scene.mask], 99) if scene.mask.any() else radiance.max()
    picture = add_noise(radiance / max(level, 1e-6), rng, settings)
    return picture.astype(np.float32)


def _reflectance(picture: np.ndarray) -> np.ndarray:
    """A print of ``picture``: paper black to paper white, (H, W)."""
    return (PAPER_BLACK + (PAPER_WHITE - PAPER_BLACK) * np.clip(picture, 0, 1)).astype(np.float32)


def _held(picture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``picture`` as the camera frames a held sheet: scaled 1 to 1.15 (it fills the
    frame), turned up to 5 degrees and shifted up to 4% of the frame."""
    h, w = picture.shape
    matrix = cv2.getRotationMatrix2D(
        (w / 2 + rng.uniform(-0.04, 0.04) * w, h / 2 + rng.uniform(-0.04, 0.04) * h),
        rng.uniform(-5, 5),
        rng.uniform(1.0, 1.15),
    )
    return cv2.warpAffine(picture, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)


def _rotation(rng: np.random.Generator, max_tilt: float) -> np.ndarray:
    """A random tilt about the image's x and y axes, up to ``max_tilt`` degrees each."""
    yaw, pitch = np.radians(rng.uniform(-max_tilt, max_tilt, 2))
    ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    rx = np.array(
        [[1, 0, 0], [0, np.cos(pitch), np.sin(pitch)], [0, -np.sin(pitch), np.cos(pitch)]]
    )
    return (rx @ ry).astype(np.float32)


def _pixel_grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres (x right, y up), origin at the image centre."""
    h, w = shape
    x = np.arange(w, dtype=np.float32) + 0.5 - w / 2
    y = -(np.arange(h, dtype=np.float32) + 0.5 - h / 2)
    return np.broadcast_to(x[None, :], shape), np.broadcast_to(y[:, None], shape)


def _plane(shape: tuple[int, int], rotation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normals (H, W, 3) and depth (H, W) of a plane turned by ``rotation``."""
    n = rotation @ np.array([0, 0, 1], np.float32)
    x, y = _pixel_grid(shape)
    depth = -(n[0] * x + n[1] * y) / n[2]
    return np.broadcast_to(n, (*shape, 3)).astype(np.float32), depth.astype(np.float32)


def _cylinder(radius: float, rotation: np.ndarray, picture: np.ndarray):
    """A sheet bent around a vertical axis ``radius`` pixels behind it, then turned by
    ``rotation``: normals (H, W, 3), depth (H, W) and ``picture`` wrapped on it (the
    sheet's arc length maps to the picture's columns, so its sides look compressed)."""
    h, w = picture.shape
    x, y = _pixel_grid((h, w))
    angle = np.arcsin(np.clip(x / radius, -0.95, 0.95))
    local = np.stack([np.sin(angle), np.zeros_like(angle), np.cos(angle)], axis=-1)
    normal = local @ rotation.T
    tilt = rotation @ np.array([0, 0, 1], np.float32)
    depth = radius * np.cos(angle) - (tilt[0] * x + tilt[1] * y) / tilt[2]
    columns = (radius * angle + w / 2 - 0.5).astype(np.float32)
    rows = np.broadcast_to(np.arange(h, dtype=np.float32)[:, None], (h, w))
    wrapped = cv2.remap(picture, columns, rows, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return normal.astype(np.float32), depth.astype(np.float32), wrapped


def _moire(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A moire pattern (H, W): the beat of the screen's pixel grid with the sensor's,
    a few percent of modulation near the sampling limit, the same in every capture."""
    x, y = _pixel_grid(shape)
    angle = rng.uniform(0, np.pi)
    frequency = rng.uniform(0.2, 0.45)
    phase = frequency * (np.cos(angle) * x + np.sin(angle) * y)
    return (1.0 + rng.uniform(0.02, 0.06) * np.sin(2 * np.pi * phase)).astype(np.float32)


@dataclass(frozen=True)
class Medium:
    """What an attack presents: its surface's normals (H, W, 3) and depth (H, W), its
    reflectance (or a screen's emitted light) ``albedo`` (H, W), and ``mask`` (H, W) bool
    where it shows the face."""

    normal: np.ndarray
    depth: np.ndarray
    albedo: np.ndarray
    mask: np.ndarray


def present(
    picture: np.ndarray,
    attack: str,
    lamps: np.ndarray,
    power: np.ndarray,
    settings: RenderSettings,
    rng: np.random.Generator,
    *,
    shape_of: Scene | None = None,
) -> tuple[np.ndarray, Medium]:
    """Linear radiance (K, H, W) of ``attack`` made from ``picture`` (H, W) in [0, 1],
    under ``lamps`` (K, 3) of ``power`` (K,) in a room of ``settings``, exposed so its
    centre's brightest percent sits at 75-95% of full scale; and the medium. A ``mask``
    takes its shape from ``shape_of`` (someone else's posed head, same size), required
    for it. The medium's tilt, gloss and the screen's brightness are drawn from ``rng``.
    """
    shape = picture.shape
    flat = replace(settings, interreflection=0.0, cast_shadows=False, roughness=0.2)
    ambient_scale = 1.0 + settings.ambient_jitter * rng.uniform(-1, 1)
    if attack == "screen":
        normal, depth = _plane(shape, _rotation(rng, 15.0))
        emitted = rng.uniform(0.4, 0.8) * np.clip(picture, 0, 1) * _moire(shape, rng)
        glass = shade(
            normal,
            np.full((*shape, 1), rng.uniform(0.01, 0.04), np.float32),
            lamps,
            power,
            specular_map=np.full(shape, rng.uniform(0.05, 0.3), np.float32),
            settings=replace(flat, ambient=0.0, roughness=0.15),
        )[..., 0]
        radiance = glass + emitted[None]
        medium = Medium(normal, depth, emitted.astype(np.float32), np.ones(shape, bool))
    else:
        receivers, room = None, flat
        if attack == "print":
            normal, depth = _plane(shape, _rotation(rng, MAX_TILT))
            texture, mask = picture, np.ones(shape, bool)
        elif attack == "curved-print":
            radius = rng.uniform(0.4, 1.0) * shape[1]
            normal, depth, texture = _cylinder(radius, _rotation(rng, 15.0), picture)
            mask = np.ones(shape, bool)
        elif attack == "mask" and shape_of is not None:
            normal, depth, mask = shape_of.normal, shape_of.depth, shape_of.mask
            receivers, room, texture = (
                shape_of.person > 0.5,
                replace(settings, roughness=0.2),
                picture,
            )
        else:
            raise ValueError(f"attack must be one of {', '.join(ATTACKS)} (a mask needs a shape)")
        albedo = _reflectance(texture)
        gloss = rng.uniform(0.0, 0.2 if attack == "mask" else 0.6)
        radiance = shade(
            normal,
            albedo[..., None],
            lamps,
            power,
            depth=depth,
            receivers=receivers,
            specular_map=np.full(shape, gloss, np.float32),
            settings=room,
            ambient_scale=ambient_scale,
        )[..., 0]
        medium = Medium(normal, depth, albedo, mask)
    h, w = shape
    centre = radiance[:, h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]
    gain = rng.uniform(0.75, 0.95) / max(float(np.percentile(centre, 99)), 1e-6)
    return radiance * np.float32(gain), medium


def render_attack(config: SynthConfig, victim: int, attack: str, index: int = 0) -> RenderedVisit:
    """One attack session against ``victim``: ``attack`` in :data:`ATTACKS`, the
    ``index``-th of its kind, labelled with the victim's name (the identity claimed),
    the session ``ATTACK-NN`` and ``attack``; the ground truth is the medium's own
    surface (the print's plane, the mask's shape)."""
    if attack not in ATTACKS:
        raise ValueError(f"attack must be one of {', '.join(ATTACKS)}, got {attack!r}")
    rng = keyed_rng(config.seed, victim, ATTACK, ATTACKS.index(attack), index)
    picture = _held(photograph(config, victim, rng), rng)
    rig = parse_rig(config.rig)
    intensities = (1.0 + 0.02 * rng.uniform(-1, 1, rig.n_lights)).astype(np.float32)
    lamps, power = miscalibrate(rig.directions, intensities, rng, config.settings)
    shape_of = None
    if attack == "mask":
        wearer = (victim + 1 + int(rng.integers(0, config.subjects))) % (config.subjects + 1)
        shape_of, _, _ = build_scene(config, wearer, int(rng.integers(0, 1000)))
    radiance, medium = present(
        picture, attack, lamps, power, config.settings, rng, shape_of=shape_of
    )
    captures = add_noise(radiance, rng, config.settings)
    _, habits, _ = person(config.seed, victim)
    mask = medium.mask
    return RenderedVisit(
        subject=subject_name(victim),
        session=attack_session_name(attack, index),
        images=captures.astype(np.float32),
        rgb=None,
        directions=rig.directions,
        intensities=intensities,
        attributes=dict(habits),
        ground_truth={
            "normal": np.where(mask[..., None], medium.normal, 0.0).astype(np.float32),
            "albedo": np.where(mask, medium.albedo, 0.0).astype(np.float32),
            "depth": np.where(mask, medium.depth, np.nan).astype(np.float32),
            "mask": mask,
        },
        response=config.settings.response,
        attack=attack,
    )


def _job(args: tuple[SynthConfig, str, int, str, int]) -> str:
    config, root, victim, attack, index = args
    visit = render_attack(config, victim, attack, index)
    return str(write_visit(root, visit, bits=config.bits))


def generate_attacks(
    root: str | Path,
    config: SynthConfig,
    attacks: Sequence[str],
    *,
    per_person: int = 1,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Write ``per_person`` sessions of each of ``attacks`` against every person of
    ``config`` under ``root`` (``ROOT/SUBJECT/ATTACK-NN/``, canonical layout, labelled
    ``"attack"`` in ``lights.json``); return the folders. Like
    :func:`synthetic_faces.generate.generate`, the output does not depend on ``workers``.
    """
    jobs = [
        (config, str(root), victim, attack, index)
        for victim in range(config.subjects)
        for attack in attacks
        for index in range(per_person)
    ]
    return run_jobs(_job, jobs, workers, progress)


def attack_from_capture(
    capture: np.ndarray,
    attack: str,
    directions: np.ndarray,
    intensities: np.ndarray,
    rng: np.random.Generator,
    settings: RenderSettings | None = None,
) -> np.ndarray:
    """(K, H, W) captures of a ``print``, ``curved-print`` or ``screen`` attack made
    from one real ``capture`` (H, W), linear, under the session's own lamps: the
    photograph becomes the print's reflectance or the screen's picture, scaled so its
    brightest percent is white. ``settings``: the room and sensor (default: the
    generator's realistic ones)."""
    settings = RenderSettings() if settings is None else settings
    picture = capture / max(float(np.percentile(capture, 99)), 1e-6)
    radiance, _ = present(
        np.clip(picture, 0, 1).astype(np.float32), attack, directions, intensities, settings, rng
    )
    return add_noise(radiance, rng, settings).astype(np.float32)


def write_capture_attacks(
    root: str | Path,
    rng: np.random.Generator,
    *,
    attacks: Sequence[str] = ("print", "screen"),
    per_session: int = 2,
) -> list[Path]:
    """Attacks made from real captures, beside the sessions they come from: for each
    four-light session ``ROOT/SUBJECT/SESSION`` (its name ending ``-4`` or holding
    ``ring``, as the Yale B protocol's do), ``per_session`` of each of ``attacks``, each
    from one of its captures drawn by ``rng`` (:func:`attack_from_capture`), written as
    ``SESSION-ATTACKn`` (16-bit, labelled); the folders written."""
    written = []
    for folder in sorted(Path(root).glob("*/*")):
        if not (folder.name.endswith("-4") or "ring" in folder.name):
            continue
        session = read_canonical(folder)
        for attack in attacks:
            for index in range(per_session):
                capture = session.images[int(rng.integers(0, session.n_lights))]
                images = attack_from_capture(
                    capture, attack, session.directions, session.intensities, rng
                )
                label = f"{session.session}-{attack}{index}"
                fake = replace(
                    session, images=images, session=label, attack=attack, source=None, valid=None
                )
                written.append(write_canonical(folder.parent / label, fake, bits=16))
    return written
