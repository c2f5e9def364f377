"""Verifying two samples (1:1): their score and, given a threshold, same or different.

A sample is named ``FILE.h5:INDEX`` (row INDEX, from 0, of a maps file) or
``SUBJECT/SESSION`` (a session of the maps file given as ``maps``). The threshold is a
raw cosine or one calibrated to a false-accept rate on a labelled maps file
(:mod:`gallery.calibration`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gallery.calibration import Threshold, calibrate
from gallery.sources import LoadModel, OpenMaps, embed_rows
from psbase.errors import ConfigError, InputError


@dataclass(frozen=True)
class Verdict:
    """The score of a pair and, where a threshold was given, the decision it makes."""

    score: float
    threshold: Threshold | None = None

    @property
    def decision(self) -> str | None:
        if self.threshold is None:
            return None
        return "same" if self.score >= self.threshold.value else "different"


def resolve_sample(text: str, maps: Path | None, *, open_maps: OpenMaps) -> tuple[Path, int]:
    """(maps file, row) for ``FILE.h5:INDEX`` or ``SUBJECT/SESSION`` (looked up in maps)."""
    path_text, sep, index = text.rpartition(":")
    if sep and index.isdigit() and path_text.endswith((".h5", ".hdf5")):
        if not Path(path_text).is_file():
            raise InputError(path_text, "no such maps file")
        path, row = Path(path_text), int(index)
        with open_maps(path) as handle:
            if row >= len(handle):
                raise InputError(path, f"has {len(handle)} samples; no index {row}")
        return path, row
    subject, sep, session = text.rpartition("/")
    if not sep or not subject or not session:
        raise InputError(text, "not a sample; use SUBJECT/SESSION with --maps, or FILE.h5:INDEX")
    if maps is None:
        raise ConfigError(f"{text}: a SUBJECT/SESSION sample needs --maps maps.h5")
    with open_maps(maps) as handle:
        subjects, sessions = handle.labels()
    rows = np.flatnonzero((subjects == subject) & (sessions == session))
    if rows.size == 0:
        raise InputError(maps, f"no session {subject}/{session}")
    return maps, int(rows[0])


def verify_samples(
    a: str,
    b: str,
    run: str | Path,
    *,
    open_maps: OpenMaps,
    load_model: LoadModel,
    maps: Path | None = None,
    threshold: float | None = None,
    far: float | None = None,
    calibration: Path | None = None,
    batch_size: int = 256,
) -> Verdict:
    """Score samples ``a`` and ``b`` with the model in ``run``; decide with ``threshold``,
    or with the threshold of false-accept rate ``far`` on the ``calibration`` maps file."""
    if far is not None and calibration is None:
        raise ConfigError("--far needs --calibration, a labelled maps file to calibrate on")
    samples = [resolve_sample(text, maps, open_maps=open_maps) for text in (a, b)]
    model = load_model(run)
    vectors = []
    for path, row in samples:
        with open_maps(path) as handle:
            emb, _ = model.embed_file(handle, np.array([row]))
        vectors.append(emb[0])
    score = float(np.dot(vectors[0], vectors[1]))
    if threshold is not None:
        return Verdict(score, Threshold(threshold))
    if far is None or calibration is None:
        return Verdict(score)
    with open_maps(calibration) as handle:
        emb, _, subjects, _ = embed_rows(handle, model, batch_size=batch_size)
    return Verdict(score, calibrate(emb, subjects, far, source=calibration))
