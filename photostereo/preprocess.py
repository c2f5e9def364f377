"""Sessions to aligned maps: the per-session work of ``psface preprocess``.

For each session: read the captures, find the face (MTCNN, batched over the sessions of
a chunk), warp the captures onto the canonical five-landmark crop (rotating the lights
with them, see :mod:`photostereo.align`), run photometric stereo and integration in the
crop, and return the sample the maps file stores. Work is done in chunks of sessions,
each chunk a pure function of its session list and the configuration, so the same
chunk gives the same arrays in a local worker and on a Dask cluster.

Whatever goes wrong with one session (a bad input, or an exception nobody foresaw: a
solver that does not converge, memory, a bug) becomes that session's one-line error and
the chunk goes on; an unforeseen one carries its formatted traceback back to the parent,
which logs it (workers may be other processes or machines).
"""

from __future__ import annotations

import contextlib
import json
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from photostereo.align import align_session, centre_crop_transform, similarity_to_template
from photostereo.detect import Detection, FaceDetector, detection_picture
from photostereo.io.discover import SessionRef, load_session
from photostereo.liveness import learned_liveness, physical_liveness
from photostereo.liveness_net import net_input
from photostereo.reconstruct import reconstruct
from photostereo.response import Response, parse_response
from photostereo.session import CaptureSession
from psbase.errors import ConfigError, InputError, PsfaceError, one_line

STEPS = ("read", "detect", "align", "solve", "integrate", "liveness")


@dataclass(frozen=True)
class PreprocessConfig:
    """Everything that shapes the maps; stored in the file so runs never mix.

    ``response`` is the ``--response`` asked for (``linear``, ``srgb``, ``gamma:G``), or
    None to decode each session by what it declares, else as linear. It is stored only
    when given, so the configuration of a run without it is the one files made before
    the option existed hold, and those files still resume.
    """

    size: int = 112
    detect: bool = True
    solver: str = "shadow"
    integrator: str = "masked"
    response: str | None = None

    def __post_init__(self) -> None:
        if not 32 <= self.size <= 1024:
            raise ConfigError(f"--size must be between 32 and 1024 pixels, got {self.size}")
        if self.response is not None:
            try:
                text = str(parse_response(self.response))
            except ValueError as error:
                raise ConfigError(f"--response {error}") from None
            object.__setattr__(self, "response", text)

    @property
    def camera_response(self) -> Response | None:
        """The asked-for response, parsed; None when the sessions decide."""
        return None if self.response is None else parse_response(self.response)

    def to_json(self) -> str:
        settings = asdict(self)
        if self.response is None:
            del settings["response"]
        return json.dumps(settings, sort_keys=True)


@dataclass
class SessionOutcome:
    """What became of one session: a sample, or the reason it has none."""

    source: str
    sample: dict | None = None
    error: str | None = None
    warning: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: The formatted traceback of an unforeseen exception, for the parent's log.
    trace: str | None = None


def process_chunk(
    refs: Sequence[SessionRef],
    root: str,
    config: PreprocessConfig,
    max_bytes: int | None = None,
) -> list[SessionOutcome]:
    """Preprocess a chunk of sessions; a failed session becomes an outcome with its error.

    ``max_bytes`` caps the memory one session's captures may need (None: the reader's
    default), so a huge session is refused in one line instead of exhausting the worker.
    """
    outcomes = [SessionOutcome(source=session_key(ref, root)) for ref in refs]
    sessions: list[CaptureSession | None] = []
    response = config.camera_response
    for ref, outcome in zip(refs, outcomes, strict=True):
        start = time.perf_counter()
        session = None
        with _session_failure(outcome):
            session = load_session(ref, max_bytes=max_bytes, response=response)
        sessions.append(session)
        outcome.timings["read"] = time.perf_counter() - start
    detections = _detect_chunk(sessions, outcomes) if config.detect else [None] * len(sessions)
    finished: list[tuple[dict, np.ndarray, dict[str, float]]] = []
    for session, detection, outcome in zip(sessions, detections, outcomes, strict=True):
        if session is None or outcome.error:
            continue
        with _session_failure(outcome):
            sample, liveness_input = _process(session, detection, outcome, config)
            outcome.sample = _storable(sample, session)
            finished.append((outcome.sample, liveness_input, outcome.timings))
    _score_learned_liveness(finished)
    return outcomes


def _score_learned_liveness(finished: list[tuple[dict, np.ndarray, dict[str, float]]]) -> None:
    """The learned liveness score of the chunk's finished sessions (sample, network
    input, timings), in one batch, each charged its share of the time."""
    if not finished:
        return
    start = time.perf_counter()
    scores = learned_liveness(np.stack([inputs for _, inputs, _ in finished]))
    share = (time.perf_counter() - start) / len(finished)
    for (sample, _, timings), score in zip(finished, scores, strict=True):
        sample["liveness_learned"] = np.float32(score)
        timings["liveness"] += share


def _storable(sample: dict, session: CaptureSession) -> dict:
    """The maps file holds text as UTF-8: a name that is not (a file name in another
    encoding) fails its own session here, not the writer's next checkpoint."""
    for key in ("source", "subject", "session"):
        try:
            str(sample[key]).encode("utf-8")
        except UnicodeEncodeError:
            raise InputError(
                session.where, f"{key} {sample[key]!r} is not valid UTF-8; rename the folder"
            ) from None
    return sample


@contextlib.contextmanager
def _session_failure(outcome: SessionOutcome) -> Iterator[None]:
    """Make any exception of one session's step that session's error, not the chunk's."""
    try:
        yield
    except PsfaceError as error:
        outcome.error = one_line(error)
    except Exception as error:  # unforeseen: name it in one line, keep the stack for the log
        outcome.error = one_line(error)
        outcome.trace = traceback.format_exc()


def _detect_chunk(
    sessions: list[CaptureSession | None], outcomes: list[SessionOutcome]
) -> list[Detection | None]:
    """The chunk's detections in one batch; if the batch fails, each session alone, so
    that only the session that breaks the detector fails."""
    try:
        return _detect(sessions, outcomes)
    except Exception:
        detections: list[Detection | None] = []
        for session, outcome in zip(sessions, outcomes, strict=True):
            found: list[Detection | None] = [None]
            with _session_failure(outcome):
                found = _detect([session], [outcome])
            detections.append(found[0])
        return detections


def _detect(
    sessions: list[CaptureSession | None], outcomes: list[SessionOutcome]
) -> list[Detection | None]:
    """One batched MTCNN pass per round: round r tries each unfound session's r-th most
    frontal capture, until every session has a face or has run out of captures."""
    start = time.perf_counter()
    live = {i: s for i, s in enumerate(sessions) if s is not None}
    order = {i: np.argsort(-s.directions[:, 2], kind="stable") for i, s in live.items()}
    detections: list[Detection | None] = [None] * len(sessions)
    pending = list(live)
    for round_ in range(max((s.n_lights for s in live.values()), default=0)):
        pending = [i for i in pending if live[i].n_lights > round_]
        if not pending:
            break
        pictures = [detection_picture(live[i].images[order[i][round_]]) for i in pending]
        for i, detection in zip(pending, _detector().detect(pictures), strict=True):
            detections[i] = detection
        pending = [i for i in pending if detections[i] is None]
    for i, session in live.items():
        found = detections[i]
        if found is None:
            outcomes[
                i
            ].error = f"{session.where}: no face found; use --no-detect if the face fills the frame"
        elif found.n_faces > 1:
            outcomes[i].warning = f"{session.where}: {found.n_faces} faces found; kept the largest"
    share = (time.perf_counter() - start) / max(len(live), 1)
    for i in live:
        outcomes[i].timings["detect"] = share
    return detections


@cache
def _detector() -> FaceDetector:
    """One MTCNN per process, built on first use."""
    return FaceDetector()


def _process(
    session: CaptureSession,
    detection: Detection | None,
    outcome: SessionOutcome,
    config: PreprocessConfig,
) -> tuple[dict, np.ndarray]:
    """The session's sample for the maps file, and the learned liveness networks'
    input, which the chunk scores in one batch."""
    start = time.perf_counter()
    if detection is None:
        matrix = centre_crop_transform(session.shape, config.size)
    else:
        matrix = similarity_to_template(detection.landmarks, config.size)
    aligned = align_session(session, matrix, config.size)
    outcome.timings["align"] = time.perf_counter() - start
    rec = reconstruct(aligned, solver=config.solver, integrator=config.integrator)
    outcome.timings.update(rec.timings)
    mask = rec.mask
    frontal = int(np.argmax(aligned.directions[:, 2]))
    depth = np.where(mask, rec.depth, 0.0)
    photometric = rec.photometric
    start = time.perf_counter()
    liveness = physical_liveness(aligned, rec.normals, rec.albedo, depth, mask, photometric)
    liveness_input = net_input(rec.normals, rec.albedo, mask)
    outcome.timings["liveness"] = time.perf_counter() - start
    sample = {
        "normal": np.moveaxis(rec.normals, -1, 0),
        "albedo": rec.albedo[None],
        "depth": depth[None].astype(np.float32),
        "image": aligned.images[frontal][None],
        "mask": mask[None].astype(np.uint8),
        "subject": session.subject,
        "session": session.session,
        "source": outcome.source,
        "detection_score": np.float32(detection.score if detection else np.nan),
        "n_faces": np.int32(detection.n_faces if detection else 0),
        "landmarks": (detection.landmarks if detection else np.full((5, 2), np.nan, np.float32)),
        "residual": np.float32(np.median(photometric.residual[mask]) if mask.any() else np.nan),
        "partial_fraction": np.float32(photometric.partial_fraction),
        "attributes": json.dumps(dict(session.attributes), sort_keys=True),
        "attack": session.attack,
        **liveness,
    }
    return sample, liveness_input


def session_key(ref: SessionRef, root: str) -> str:
    """The session's key: its path below the root, with the Yale B pose if any."""
    path = Path(ref.path).resolve()
    base = Path(root).resolve()
    text = str(path.relative_to(base)) if path.is_relative_to(base) else str(path)
    return f"{text}#{ref.part}" if ref.part else text
