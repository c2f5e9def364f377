"""Verifying two samples (1:1): their score and, given a threshold, same or different.

A sample is named ``FILE.h5:INDEX`` (row INDEX, from 0, of a maps file) or
``SUBJECT/SESSION`` (a session of the maps file given as ``maps``). The threshold is a
raw cosine or one calibrated to a false-accept rate on a labelled maps file
(:mod:`gallery.calibration`).

Each sample's liveness is judged too (:mod:`gallery.liveness`), at the threshold of the
maps file it comes from: a "same" decision with a sample judged a presentation attack
carries a warning, or, with ``require_live``, becomes "rejected".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from gallery.calibration import Threshold, calibrate
from gallery.liveness import (
    DEFAULT_BPCER,
    Liveness,
    MatchCheck,
    check_match,
    read_liveness,
    worth_reporting,
)
from gallery.sources import LoadModel, OpenMaps, embed_rows
from psbase.errors import ConfigError, InputError

REJECTED = "rejected"


@dataclass(frozen=True)
class Verdict:
    """The score of a pair and, where a threshold was given, the decision it makes; the
    liveness of each sample, ``{name: liveness}`` (A's first), and whether a match needs
    every sample judged live (``require_live``)."""

    score: float
    threshold: Threshold | None = None
    liveness: dict[str, Liveness] = field(default_factory=dict)
    require_live: bool = False

    @property
    def match(self) -> str | None:
        """What the score alone decides: "same", "different", or None without a threshold."""
        if self.threshold is None:
            return None
        return "same" if self.score >= self.threshold.value else "different"

    @property
    def check(self) -> MatchCheck:
        """Liveness's say on the match: a warning or a rejection, when it is "same"."""
        return check_match(
            self.liveness, accepted=self.match == "same", require_live=self.require_live
        )

    @property
    def decision(self) -> str | None:
        """The match, or "rejected" when ``require_live`` refuses a "same"."""
        return REJECTED if self.check.rejection is not None else self.match

    @property
    def reported_liveness(self) -> dict[str, Liveness]:
        """The liveness worth printing: none for samples of files that never measured it
        (unless required), which print exactly as before."""
        shown = worth_reporting(list(self.liveness.values()), self.require_live)
        return dict(self.liveness) if shown else {}


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
    bpcer: float = DEFAULT_BPCER,
    require_live: bool = False,
) -> Verdict:
    """Score samples ``a`` and ``b`` with the model in ``run``; decide with ``threshold``,
    or with the threshold of false-accept rate ``far`` on the ``calibration`` maps file.

    Each sample's liveness is judged at its maps file's threshold for ``bpcer``; with
    ``require_live`` a "same" needs both judged live (else the decision is "rejected")."""
    if far is not None and calibration is None:
        raise ConfigError("--far needs --calibration, a labelled maps file to calibrate on")
    samples = [resolve_sample(text, maps, open_maps=open_maps) for text in (a, b)]
    model = load_model(run)
    vectors = []
    liveness = {}
    for name, text, (path, row) in zip("AB", (a, b), samples, strict=True):
        with open_maps(path) as handle:
            emb, _ = model.embed_file(handle, np.array([row]))
            liveness[f"{name} ({text})"] = read_liveness(handle, np.array([row]), bpcer)[0]
        vectors.append(emb[0])
    score = float(np.dot(vectors[0], vectors[1]))
    decided = partial(Verdict, liveness=liveness, require_live=require_live)
    if threshold is not None:
        return decided(score, Threshold(threshold))
    if far is None or calibration is None:
        return decided(score)
    with open_maps(calibration) as handle:
        emb, _, subjects, _ = embed_rows(handle, model, batch_size=batch_size)
    return decided(score, calibrate(emb, subjects, far, source=calibration))
