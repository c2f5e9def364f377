"""A cell's measures on real many-light captures (the Extended Yale B layout).

Yale B photographs each person under 64 point lights in one sitting, so a few-light rig
of any shape can be cut out of it: for each target light of the cell's cone rig, the
nearest real light not yet taken. Real captures have no ground truth, so a rig's maps
are scored against the person's many-light reference (the trimmed fit over every light
near the camera axis, :mod:`photostereo.realdata.reference`) on its face mask, and by
how well they predict captures under lights the rig did not use. The cell's noise and
calibration errors are added to what the solver sees and is told; the reference and the
held-out captures stay as photographed.

Every random draw comes from its own stream keyed by (seed, repeat, person, session),
so the cells of one repeat share their rig azimuths, noise and calibration errors
(common random numbers): a difference between cells is the factor's, not the draw's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import ClassVar

import numpy as np

from ablation.factors import Conditions
from ablation.maps import SessionMaps, cone_rig, session_maps, told_calibration
from ablation.recognition import recognition_measures
from photostereo.align import rotate_vectors, warp_image, warp_valid
from photostereo.io.yaleb import read_yaleb
from photostereo.realdata import metrics
from photostereo.realdata.protocol import REFERENCE_MAX_TILT, reference_lights
from photostereo.realdata.reference import face_mask, trimmed_fit
from photostereo.reconstruct import Reconstruction
from photostereo.session import CaptureSession
from psbase.errors import ConfigError, InputError

#: A person's folder: ``yaleBNN``.
PERSON_FOLDER = re.compile(r"yaleB\d+")
#: Held-out lights a session's relighting error predicts, at most.
RELIGHT_LIGHTS = 10
#: Independent random streams of one session, so that changing one factor leaves the
#: other draws as they were.
RIG, CALIBRATION, NOISE, RELIGHT = STREAMS = range(4)


@dataclass(frozen=True, eq=False)
class Person:
    """One person's captures and many-light reference, read and fitted once per process.

    ``lights``: rows of ``captures`` that are reference lights (the usable ones);
    ``calibrated``: (K, H, W) captures per unit light intensity (the dome's measured
    strobe brightness divided out), as the reference and the relighting targets use them;
    ``normals``: (H, W, 3) reference normals; ``face``: where the reference is trusted.
    """

    name: str
    captures: CaptureSession
    lights: np.ndarray
    calibrated: np.ndarray
    normals: np.ndarray
    face: np.ndarray


def find_people(folder: str) -> list[str]:
    """The ``yaleBNN`` person folders in ``folder``, sorted."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(root, "not a folder")
    people = sorted(
        p.name for p in root.iterdir() if p.is_dir() and PERSON_FOLDER.fullmatch(p.name)
    )
    if not people:
        raise InputError(root, "no person folders (yaleBNN, one per person) in this folder")
    return people


@cache
def load_person(folder: str, person: str) -> Person:
    """Read one person and fit their reference; cached, since every cell reuses it."""
    captures = read_yaleb(Path(folder) / person)
    row = {name: i for i, name in enumerate(captures.image_names)}
    lights = np.array([row[name] for name in reference_lights(captures.image_names)])
    calibrated = captures.images / captures.intensities[:, None, None]
    reference = trimmed_fit(calibrated[lights], captures.directions[lights])
    return Person(person, captures, lights, calibrated, reference.normals, face_mask(reference))


def nearest_rig(directions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Indices of ``directions`` nearest each of ``targets`` by angle, each used once.

    Greedy in the targets' order: a target takes the nearest light an earlier one has
    not taken, as the protocol's rings do.
    """
    cosine = np.asarray(targets, np.float64) @ np.asarray(directions, np.float64).T
    taken = np.zeros(len(directions), bool)
    chosen = np.empty(len(targets), np.intp)
    for t, row in enumerate(cosine):
        chosen[t] = np.argmax(np.where(taken, -np.inf, row))
        taken[chosen[t]] = True
    return chosen


@dataclass(frozen=True)
class RealData:
    """Real many-light captures, ``sessions`` few-light rigs cut per person and cell."""

    folder: str
    sessions: int = 3
    seed: int = 0
    kind: ClassVar[str] = "real"

    def __post_init__(self) -> None:
        if self.sessions < 2:
            raise ConfigError(f"{self.folder}: real data needs 2 or more sessions per person")

    def evaluate(
        self, conditions: Conditions, repeat: int, models: Sequence[tuple[str, str]]
    ) -> dict[str, float]:
        """Every measure of one cell and repeat, averaged over sessions and people."""
        people = [load_person(self.folder, name) for name in find_people(self.folder)]
        for person in people:
            if len(person.lights) < conditions.lights:
                raise ConfigError(
                    f"{self.folder}/{person.name}: a {conditions.lights}-light rig needs "
                    f"{conditions.lights} lights within {REFERENCE_MAX_TILT:g} degrees of the "
                    f"camera axis, and {len(person.lights)} are available"
                )
        rigs: list[Rig] = []
        spreads: list[float] = []
        for p, person in enumerate(people):
            own = [
                _rig(person, s, conditions, _streams(self.seed, repeat, p, s))
                for s in range(self.sessions)
            ]
            face = np.logical_and.reduce([r.face for r in own])  # face in every crop
            albedos = np.stack([r.result.albedo for r in own])
            solved = np.stack([r.result.mask for r in own])
            spreads.append(metrics.albedo_spread(albedos, solved, face))
            rigs += own
        return {
            "normal_error_deg": _mean([r.error for r in rigs]),
            "unsolved": _mean([r.unsolved for r in rigs]),
            "relight_error": _mean([r.relight for r in rigs]),
            "albedo_spread": _mean(spreads),
            # compared over the face, as for synthetic people: not the backdrop
            **recognition_measures([replace(r.maps, mask=r.face) for r in rigs], models),
        }


@dataclass(frozen=True, eq=False)
class Rig:
    """One few-light session's maps and reconstruction, the face mask in its crop, and
    its scores: mean normal error (degrees), unsolved share of the face, relighting error."""

    maps: SessionMaps
    result: Reconstruction
    face: np.ndarray
    error: float
    unsolved: float
    relight: float


def _streams(seed: int, repeat: int, person: int, session: int) -> list[np.random.Generator]:
    """The session's random streams (:data:`STREAMS`), the same in every cell."""
    return [np.random.default_rng([seed, repeat, person, session, k]) for k in STREAMS]


def _rig(
    person: Person, index: int, conditions: Conditions, streams: list[np.random.Generator]
) -> Rig:
    """Session ``index`` of ``person``: a rig cut from their lights, solved and scored."""
    captures = person.captures
    azimuth = streams[RIG].uniform(0.0, 360.0)
    targets = cone_rig(conditions.lights, conditions.spread, azimuth)
    rows = person.lights[nearest_rig(captures.directions[person.lights], targets)]
    images = captures.images[rows]
    if conditions.noise > 0:
        read = streams[NOISE].standard_normal(images.shape, dtype=np.float32)
        images = np.clip(images + conditions.noise * read, 0.0, None)  # ambient-subtracted >= 0
    directions, intensities = told_calibration(
        captures.directions[rows],
        captures.intensities[rows],
        conditions.calib_deg,
        conditions.intensity_err,
        streams[CALIBRATION],
    )
    session = CaptureSession(
        images=images,
        directions=directions,
        intensities=intensities,
        subject=person.name,
        session=f"rig{index}",
        source=captures.source,
        image_names=tuple(captures.image_names[r] for r in rows),
        saturation=captures.saturation,
        response=captures.response,
        valid=None if captures.valid is None else captures.valid[rows],
    )
    maps, result, crop = session_maps(session, conditions, person.name, index)
    size = result.mask.shape[0]
    normals = rotate_vectors(warp_image(person.normals, crop, size), crop)
    length = np.linalg.norm(normals, axis=-1, keepdims=True)
    normals = np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)
    face = warp_valid(person.face[None], crop, size, captures.shape)[0]
    error, unsolved = metrics.session_error(result.normals, result.mask, normals, face)
    unused = np.setdiff1d(person.lights, rows)
    held = streams[RELIGHT].choice(unused, min(RELIGHT_LIGHTS, len(unused)), replace=False)
    relight = float("nan")
    if len(held):
        observed = warp_image(np.moveaxis(person.calibrated[held], 0, -1), crop, size)
        relight = metrics.relighting_error(
            result.normals,
            result.albedo,
            result.mask,
            rotate_vectors(captures.directions[held], crop),
            np.moveaxis(observed.reshape(size, size, -1), -1, 0),
            face,
        )
    return Rig(maps, result, face, error, unsolved, relight)


def _mean(values: Sequence[float]) -> float:
    """Mean of the finite values (a session that solved no face pixel has none), or NaN."""
    finite = np.asarray(values, np.float64)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if len(finite) else float("nan")
