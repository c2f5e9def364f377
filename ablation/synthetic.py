"""A cell's measures on rendered people, against their exact ground truth.

Each session is rendered under a cone rig (the ``lights`` and ``spread`` factors) turned
to an azimuth of its own, so a person's sessions are lit differently; the solver is told
the rig with the cell's calibration error. Every random draw is keyed by (seed, repeat,
person, session) and never by the cell, so one repeat shows the same people, poses and
noise in every cell (common random numbers): cells differ only by their factors.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import numpy as np

from ablation.factors import Conditions
from ablation.maps import SessionMaps, cone_rig, session_maps, told_calibration
from ablation.recognition import recognition_measures
from photostereo.align import rotate_vectors, warp_image, warp_valid
from photostereo.realdata.metrics import angular_error_deg, unsolved_fraction
from photostereo.reconstruct import Reconstruction
from photostereo.response import parse_response, to_linear
from photostereo.session import SATURATION_FRACTION, CaptureSession
from psbase.errors import ConfigError
from synthetic_faces.generate import RenderedVisit, SynthConfig, render_visit
from synthetic_faces.render import RenderSettings

#: Repeats use seeds this far apart, so their people never overlap.
REPEAT_STRIDE = 1000
#: The generator's seed of --seed 0, repeat 0: not `psface synth`'s and `psface demo`'s
#: default 0, so a model trained on their people is measured on people it never saw.
PEOPLE_SEED = 500
#: Keys of a session's draws: the rig's azimuth, and the calibration the solver is told.
AZIMUTH, TOLD = 0, 1
#: Smallest frame rendered: MTCNN needs a face of about 40 pixels to find it reliably.
MIN_RENDER = 128
#: The captures are stored as a real camera stores them: 8 bits.
FULL_SCALE = 255
_SPELLING = re.compile(r"synth\s*:\s*(\d+)\s*[x×]\s*(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class SynthData:
    """``people`` rendered people with ``sessions`` visits each (the first is the gallery)."""

    people: int
    sessions: int
    seed: int = 0
    kind: ClassVar[str] = "synth"

    def evaluate(
        self, conditions: Conditions, repeat: int, models: Sequence[tuple[str, str]]
    ) -> dict[str, float]:
        """The cell's measures, averaged over every session: ``normal_error_deg``,
        ``unsolved``, ``albedo_error``, ``depth_error``, then the recognition figures
        (:func:`~ablation.recognition.recognition_measures`)."""
        samples: list[SessionMaps] = []
        scores: list[dict[str, float]] = []
        with tempfile.TemporaryDirectory(prefix="psface-ablate-") as folder:
            for person in range(self.people):
                for session in range(self.sessions):
                    visit = self._render(conditions, repeat, person, session, Path(folder))
                    told = told_calibration(
                        visit.directions,
                        visit.intensities,
                        conditions.calib_deg,
                        conditions.intensity_err,
                        self._rng(repeat, person, session, TOLD),
                    )
                    maps, rec, matrix = session_maps(
                        captured(visit, *told), conditions, visit.subject, session
                    )
                    truth = truth_in_crop(visit, matrix, conditions.size)
                    # recognition compares the face, not the lit backdrop around it
                    samples.append(replace(maps, mask=truth["mask"]))
                    scores.append(score(rec, truth))
        out = {key: _mean([s[key] for s in scores]) for key in scores[0]}
        out.update(recognition_measures(samples, models))
        return out

    def _rng(self, repeat: int, person: int, session: int, use: int) -> np.random.Generator:
        key = (repeat, person, session, use)
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=key))

    def _render(
        self, conditions: Conditions, repeat: int, person: int, session: int, folder: Path
    ) -> RenderedVisit:
        """One visit under the cell's rig, turned to the session's own azimuth, with the
        lamps exactly where the rig puts them (the told error is :func:`told_calibration`'s)."""
        azimuth = self._rng(repeat, person, session, AZIMUTH).uniform(0.0, 360.0)
        rig = folder / f"{person}-{session}.json"
        lights = cone_rig(conditions.lights, conditions.spread, azimuth).tolist()
        rig.write_text(
            json.dumps({"name": rig.stem, "convention": "vector", "lights": lights}), "utf-8"
        )
        settings = RenderSettings(
            cast_shadows=conditions.shadows,
            ambient=conditions.ambient,
            specular=conditions.specular,
            interreflection=conditions.bounce,
            read_noise=conditions.noise,
            shot_noise=1.5 * conditions.noise,
            direction_error=0.0,
            intensity_error=0.0,
        )
        config = SynthConfig(
            subjects=self.people,
            sessions=self.sessions,
            seed=PEOPLE_SEED + self.seed + REPEAT_STRIDE * repeat,
            rig=str(rig),
            size=render_size(conditions.size),
            settings=settings,
        )
        return render_visit(config, person, session)


def render_size(crop: int) -> int:
    """The side of the rendered frame for a crop of ``crop`` pixels: the generator frames
    the whole head in its backdrop, and the face crop spans about half of it."""
    return max(2 * crop, MIN_RENDER)


def parse_synth(text: str) -> SynthData:
    """``synth:PEOPLExSESSIONS`` (``x``, ``X`` or ``×``; spaces allowed) as :class:`SynthData`."""
    match = _SPELLING.fullmatch(text.strip())
    if match is None:
        raise ConfigError(
            f"data {text!r}: write synth:PEOPLExSESSIONS, for example synth:20x3 "
            "(20 rendered people, 3 sessions each)"
        )
    people, sessions = int(match[1]), int(match[2])
    if people < 1 or sessions < 2:
        raise ConfigError(
            f"data {text!r}: needs at least 1 person and 2 sessions each (the first session "
            "is the gallery, the others are probes)"
        )
    return SynthData(people, sessions)


def captured(
    visit: RenderedVisit, directions: np.ndarray, intensities: np.ndarray
) -> CaptureSession:
    """The session a reader makes of ``visit`` stored by an 8-bit camera, told the lights
    (``directions``, ``intensities``): the stored codes decoded by the visit's response,
    and the codes at the clip level marked invalid, as :mod:`photostereo.io.images` does."""
    curve = parse_response(visit.response)
    codes = np.round(visit.stored() * FULL_SCALE)
    return CaptureSession(
        images=to_linear((codes / FULL_SCALE).astype(np.float32), curve),
        directions=directions,
        intensities=intensities,
        subject=visit.subject,
        session=visit.session,
        attributes=visit.attributes,
        saturation=float(to_linear(np.array(SATURATION_FRACTION, np.float32), curve)),
        response=curve,
        valid=codes < math.ceil(SATURATION_FRACTION * FULL_SCALE),
    )


def truth_in_crop(visit: RenderedVisit, matrix: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """The visit's ground truth warped into the crop by ``matrix`` as the captures are.

    Lit captures are linear in b = albedo x normal, so the captures' warp (interpolation
    and its anti-alias blur, :func:`~photostereo.align.warp_image`) applied to b gives the
    b the warped captures show: its length is the albedo, its direction the normal, turned
    with the crop as :func:`~photostereo.align.align_session` turns the lights. Depth
    (pixels) is warped alike and scaled with the crop; the face mask keeps only crop
    pixels made wholly of face.
    """
    truth = visit.ground_truth
    b = warp_image(truth["normal"] * truth["albedo"][..., None], matrix, size)
    albedo = np.linalg.norm(b, axis=-1)
    normal = np.divide(b, albedo[..., None], out=np.zeros_like(b), where=albedo[..., None] > 0)
    shape = truth["mask"].shape
    face = warp_valid(truth["mask"][None], matrix, size, shape)[0]
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    depth = np.where(truth["mask"], truth["depth"], 0.0)
    return {
        "normal": rotate_vectors(normal, matrix),
        "albedo": albedo,
        "depth": scale * warp_image(depth, matrix, size),
        "mask": face,
    }


def score(rec: Reconstruction, truth: dict[str, np.ndarray]) -> dict[str, float]:
    """One session against its ground truth (all over the ground-truth face):

    ``normal_error_deg``, the mean angle over the pixels the solver solved;
    ``unsolved``, the share it left unsolved; ``albedo_error``, mean |a / (s a_true) - 1|
    with ``s`` the median ratio (the unknown exposure); ``depth_error``, the RMS depth
    difference after the best constant offset (depth's unobservable constant of
    integration), over the standard deviation of the true depth there.
    """
    face = truth["mask"]
    solved = face & rec.mask
    unsolved = unsolved_fraction(rec.mask, face)
    if not solved.any():
        nan = float("nan")
        return {
            "normal_error_deg": nan,
            "unsolved": unsolved,
            "albedo_error": nan,
            "depth_error": nan,
        }
    error = angular_error_deg(rec.normals[solved], truth["normal"][solved])
    ratio = rec.albedo[solved].astype(np.float64) / truth["albedo"][solved]
    true_depth = truth["depth"][solved].astype(np.float64)
    difference = rec.depth[solved] - true_depth
    rms = np.sqrt(np.mean((difference - difference.mean()) ** 2))
    return {
        "normal_error_deg": float(error.mean()),
        "unsolved": unsolved,
        "albedo_error": float(np.mean(np.abs(ratio / np.median(ratio) - 1.0))),
        "depth_error": float(rms / true_depth.std()),
    }


def _mean(values: list[float]) -> float:
    """The mean of the finite values (a session the solver left empty has none); NaN if none."""
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")
