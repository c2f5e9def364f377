"""Make a synthetic data set: people, their visits, the captures and the ground truth.

Randomness is keyed, never sequential: a person's identity comes from
``SeedSequence(seed, spawn_key=(subject, IDENTITY))``, their gender, habits and number of
visits from ``(subject, PERSON)``, a visit from ``(subject, VISIT, session)``. So any
session is the same whatever the number of workers, the order they run in, or how many
other people or sessions are asked for.

:func:`render_visit` is pure (arrays in, arrays out); :func:`write_visit` and
:func:`generate` write the tree ``ROOT/SUBJECT/SESSION/`` in the canonical layout
(INTERFACES.md), with ``gt_normal.npy``, ``gt_albedo.npy``, ``gt_depth.npy`` and
``gt_mask.png``, and ``lights.json`` declaring the camera response the captures are
encoded with. How a capture is formed (room light, cast shadows, bounced light, skin
highlights, noise, the lamps' calibration error) is :mod:`synthetic_faces.render`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from photostereo.response import from_linear, parse_response
from synthetic_faces import population
from synthetic_faces.face import FaceFields, Identity, face_fields, sample_identity, static_fields
from synthetic_faces.grid import FaceGrid
from synthetic_faces.occluders import frame_fields, merge_layers, occluder_fields
from synthetic_faces.render import RenderSettings, add_noise, miscalibrate, shade
from synthetic_faces.rigs import Rig, parse_rig
from synthetic_faces.scene import Scene, compose, nominal_scale
from synthetic_faces.variation import Visit, sample_visit

IDENTITY, PERSON, VISIT = 0, 1, 2
#: Sub-keys of a visit's randomness: the scene, the captures' noise, the room and skin.
CAPTURE, ROOM = 1, 2
#: A visit's skin shine varies by this factor either way (washed, or late in the day).
SHINE_JITTER = 0.3
#: Exposure left for highlights: diffuse skin is exposed this much below the level it
#: would get without them (median face level about 0.42 of full scale).
HEADROOM = 0.85
#: Luminance weights (ITU-R BT.601), as the capture reader uses.
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
#: The face grid extends past the image so shifted or shrunk heads stay covered.
GRID_MARGIN = 1.3


@dataclass(frozen=True)
class SynthConfig:
    """What to generate.

    ``sessions`` is a count per person, or ``"photoface"`` to draw each person's count
    from the Photoface histogram. ``color`` is ``"grey"`` or ``"rgb"``; ``bits`` 8 or 16.
    """

    subjects: int = 10
    sessions: int | str = 4
    seed: int = 0
    rig: str = "photoface"
    size: int = 256
    bits: int = 8
    color: str = "grey"
    settings: RenderSettings = field(default_factory=RenderSettings)

    def __post_init__(self) -> None:
        if self.subjects < 1:
            raise ValueError(f"subjects must be at least 1, got {self.subjects}")
        if isinstance(self.sessions, str):
            if self.sessions != "photoface":
                raise ValueError(f"sessions must be a count or 'photoface', got {self.sessions!r}")
        elif self.sessions < 1:
            raise ValueError(f"sessions must be at least 1, got {self.sessions}")
        if self.size < 32:
            raise ValueError(f"size must be at least 32 pixels, got {self.size}")
        if self.bits not in (8, 16):
            raise ValueError(f"bits must be 8 or 16, got {self.bits}")
        if self.color not in ("grey", "rgb"):
            raise ValueError(f"color must be grey or rgb, got {self.color!r}")
        parse_rig(self.rig)


@dataclass
class RenderedVisit:
    """One session in memory.

    ``images`` (K, H, W) float32 grey captures in [0, 1], linear in radiance (luminance
    of ``rgb`` when RGB): what a reader returns after undoing ``response``;
    ``rgb`` (K, H, W, 3) or ``None``; ``directions`` (K, 3); ``intensities`` (K,);
    ``response`` the camera curve the written files are encoded with (:meth:`stored`);
    ``ground_truth`` maps ``normal`` (H, W, 3), ``albedo`` (H, W, the diffuse albedo),
    ``depth`` (H, W) in pixels with NaN outside the mask, ``mask`` (H, W) bool;
    ``attack`` the presentation attack it is (:mod:`synthetic_faces.attacks`), empty for
    a live face.
    """

    subject: str
    session: str
    images: np.ndarray
    rgb: np.ndarray | None
    directions: np.ndarray
    intensities: np.ndarray
    attributes: dict[str, Any]
    ground_truth: dict[str, np.ndarray]
    response: str = "linear"
    attack: str = ""

    def stored(self) -> np.ndarray:
        """The grey captures as the camera stores them: ``images`` encoded by ``response``
        (before quantisation). A reader that ignores the declared response sees these
        (an RGB session stores its channels encoded, so its luminance differs a little)."""
        return from_linear(self.images, parse_response(self.response))


def keyed_rng(seed: int, *key: int) -> np.random.Generator:
    """The generator of one keyed stream of the data set's randomness (module docstring)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def subject_name(index: int) -> str:
    return f"s{index + 1:04d}"


def session_name(index: int) -> str:
    return f"v{index:02d}"


@lru_cache(maxsize=64)
def person(seed: int, subject: int) -> tuple[Identity, dict[str, str], int]:
    """A person's identity, usual attributes and Photoface-style number of visits."""
    rng = keyed_rng(seed, subject, PERSON)
    habits = population.draw_person(rng)
    visits = population.draw_session_count(rng)
    ident = sample_identity(keyed_rng(seed, subject, IDENTITY), habits["gender"])
    return ident, habits, visits


@lru_cache(maxsize=8)
def _static(seed: int, subject: int, grid: FaceGrid) -> tuple[np.ndarray, ...]:
    return static_fields(person(seed, subject)[0], grid)


def session_count(config: SynthConfig, subject: int) -> int:
    if config.sessions == "photoface":
        return person(config.seed, subject)[2]
    return int(config.sessions)


def visit_plan(config: SynthConfig) -> list[tuple[int, int]]:
    """Every (subject, session) index pair the config asks for, in order."""
    return [(i, j) for i in range(config.subjects) for j in range(session_count(config, i))]


def _background(visit: Visit, size: int) -> np.ndarray:
    """A smooth backdrop: the visit's colour with a vertical gradient."""
    ramp = 1.0 + visit.background_slope * np.linspace(0.5, -0.5, size, dtype=np.float32)
    colour = np.asarray(visit.background, np.float32)
    return np.broadcast_to(ramp[:, None, None] * colour, (size, size, 3)).astype(np.float32)


@dataclass(frozen=True)
class VisitFace:
    """One visit's person, parameters, attributes and face on its grid, before posing."""

    ident: Identity
    visit: Visit
    attributes: dict
    grid: FaceGrid
    face: FaceFields


def visit_face(config: SynthConfig, subject: int, session: int) -> VisitFace:
    """The face of one visit, drawn from the visit's keyed randomness (what
    :func:`build_scene` poses, and :mod:`synthetic_faces.landmarks` reads)."""
    ident, habits, _ = person(config.seed, subject)
    rng = keyed_rng(config.seed, subject, VISIT, session)
    attributes = population.draw_session_attributes(rng, habits)
    visit = sample_visit(rng, attributes, ident.skin)
    n = int(np.ceil(config.size * GRID_MARGIN / 2) * 2)
    grid = FaceGrid(n, nominal_scale(config.size))
    face = face_fields(
        ident,
        grid,
        expression=visit.expression,
        facial_hair=visit.facial_hair,
        hair_density=visit.hair_density,
        rng=rng,
        static=_static(config.seed, subject, grid),
        clothing=visit.clothing,
    )
    return VisitFace(ident, visit, attributes, grid, face)


def build_scene(config: SynthConfig, subject: int, session: int) -> tuple[Scene, Visit, dict]:
    """The posed scene of one visit, the visit's parameters and its attributes."""
    drawn = visit_face(config, subject, session)
    ident, visit, attributes, grid, face = (
        drawn.ident, drawn.visit, drawn.attributes, drawn.grid, drawn.face
    )  # fmt: skip
    layers = []
    if visit.spectacles is not None:
        layers.append(frame_fields(visit.spectacles, ident, grid, face.height))
    if visit.occluder is not None:
        layers.append(occluder_fields(visit.occluder, grid, face.height))
    scene = compose(
        face,
        grid,
        visit.pose,
        config.size,
        frame=merge_layers(layers),
        background=_background(visit, config.size),
    )
    return scene, visit, attributes


def render_visit(config: SynthConfig, subject: int, session: int) -> RenderedVisit:
    """Render one session of the data set ``config`` describes.

    Besides the scene, each visit draws its room light (``ambient`` times a factor in
    ``1 ± ambient_jitter``) and its skin shine (the shine map times a factor in
    ``1 ± SHINE_JITTER``), and where its lamps really are (:func:`miscalibrate`: the
    session records the rig's directions and the intensities it meant to set). The
    exposure is set for the lamps plus the room light, with some headroom for highlights
    (:func:`_exposure`); a pale, oily nose under a frontal lamp still clips at times, as
    it does on a real camera.
    """
    rig: Rig = parse_rig(config.rig)
    settings = config.settings
    scene, visit, attributes = build_scene(config, subject, session)
    rng = keyed_rng(config.seed, subject, VISIT, session, CAPTURE)
    intensities = (1.0 + visit.light_jitter * rng.uniform(-1, 1, rig.n_lights)).astype(np.float32)
    room = keyed_rng(config.seed, subject, VISIT, session, ROOM)
    ambient_scale = 1.0 + settings.ambient_jitter * room.uniform(-1, 1)
    shine = scene.specular * np.float32(1.0 + SHINE_JITTER * room.uniform(-1, 1))
    lamps, power = miscalibrate(rig.directions, intensities, room, settings)
    albedo = scene.albedo if config.color == "rgb" else (scene.albedo @ LUMA)[..., None]
    radiance = shade(
        scene.normal,
        albedo,
        lamps,
        power,
        depth=scene.depth,
        receivers=scene.person > 0.5,
        specular_map=shine,
        settings=settings,
        exposure=_exposure(visit, settings, ambient_scale),
        ambient_scale=ambient_scale,
    )
    if visit.blur > 0:
        sigma = visit.blur * config.size / 256
        for k in range(len(radiance)):
            radiance[k] = cv2.GaussianBlur(radiance[k], (0, 0), sigma).reshape(radiance[k].shape)
    captures = add_noise(radiance, rng, settings)
    rgb = captures if config.color == "rgb" else None
    grey = captures @ LUMA if config.color == "rgb" else captures[..., 0]
    mask = scene.mask
    gt_albedo = np.where(mask, scene.albedo @ LUMA, 0.0).astype(np.float32)
    gt_normal = np.where(mask[..., None], scene.normal, 0.0).astype(np.float32)
    gt_depth = np.where(mask, scene.depth, np.nan).astype(np.float32)
    return RenderedVisit(
        subject=subject_name(subject),
        session=session_name(session),
        images=grey.astype(np.float32),
        rgb=rgb,
        directions=rig.directions,
        intensities=intensities,
        attributes=attributes,
        ground_truth={"normal": gt_normal, "albedo": gt_albedo, "depth": gt_depth, "mask": mask},
        response=settings.response,
    )


def _exposure(visit: Visit, settings: RenderSettings, ambient_scale: float) -> float:
    """The camera's gain: the visit's exposure over the room light's share, times
    ``HEADROOM`` when the skin has highlights."""
    gain = visit.exposure / (1.0 + settings.ambient * ambient_scale)
    return gain * (HEADROOM if settings.specular > 0 else 1.0)


def write_visit(root: str | Path, visit: RenderedVisit, *, bits: int = 8) -> Path:
    """Write one rendered session as ``root/SUBJECT/SESSION/`` (canonical layout).

    The captures are encoded by the visit's camera response before quantisation, and
    ``lights.json`` declares it (``"response": "linear"``, ``"srgb"``, ``"gamma:2.2"``).
    """
    from photostereo.io.canonical import write_canonical
    from photostereo.session import CaptureSession

    session = CaptureSession(
        images=visit.images,
        directions=visit.directions,
        intensities=visit.intensities,
        subject=visit.subject,
        session=visit.session,
        attributes=visit.attributes,
        attack=visit.attack,
    )
    folder = Path(root) / visit.subject / visit.session
    return write_canonical(
        folder,
        session,
        bits=bits,
        rgb_images=visit.rgb,
        ground_truth=visit.ground_truth,
        response=visit.response,
    )


def _job(args: tuple[SynthConfig, str, int, int]) -> str:
    config, root, subject, session = args
    return str(write_visit(root, render_visit(config, subject, session), bits=config.bits))


def _job_results(job: Callable[[Any], str], jobs: list, workers: int) -> Iterator[str]:
    if workers <= 1:
        yield from map(job, jobs)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        chunk = max(1, min(16, len(jobs) // (workers * 4)))
        yield from pool.map(job, jobs, chunksize=chunk)


def run_jobs(
    job: Callable[[Any], str],
    jobs: list,
    workers: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Run ``job`` (picklable: a module-level function writing one session and
    returning its folder) over ``jobs`` in up to ``workers`` processes; the folders."""
    workers = max(1, min(workers, len(jobs), os.cpu_count() or 1))
    folders = []
    for done, folder in enumerate(_job_results(job, jobs, workers), start=1):
        folders.append(Path(folder))
        if progress is not None:
            progress(done, len(jobs))
    return folders


def generate(
    root: str | Path,
    config: SynthConfig,
    *,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Render and write every session of ``config`` under ``root``; return the folders.

    ``workers`` processes share the sessions; the output does not depend on how many.
    ``progress(done, total)`` is called as each session is written.
    """
    jobs = [(config, str(root), i, j) for i, j in visit_plan(config)]
    return run_jobs(_job, jobs, workers, progress)
