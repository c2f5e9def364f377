"""Liveness beside a match: is each presented sample a live face or a presentation attack?

Every session of a maps file may carry a liveness score in [0, 1] (higher: more likely a
live face; NaN where none was measured) and the file a calibration of it: the score
threshold for a target BPCER, the bona fide presentation classification error rate (the
share of live faces wrongly flagged as attacks). A sample is judged ``"live"`` when its
score is at least the threshold, ``"attack"`` below it, and ``"unknown"`` without a score
or without a calibration. Only the score decides; attack labels a file may hold are
ground truth for evaluation and are never read here.

A match (verify's "same", identify's accepted identity) involving a sample judged an
attack carries a warning; with ``require_live`` it is rejected instead, and so is one
whose liveness is unknown, since a requirement cannot be met without a measurement.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from gallery.sources import Maps

#: The BPCER whose threshold decides when none is asked for: 1 live face in 100 flagged.
DEFAULT_BPCER = 0.01
LIVE, ATTACK, UNKNOWN = "live", "attack", "unknown"


def decide(score: float, threshold: float | None) -> str:
    """``"live"`` when ``score >= threshold``, ``"attack"`` below it, ``"unknown"`` for a
    NaN score or no threshold."""
    if threshold is None or math.isnan(score) or math.isnan(threshold):
        return UNKNOWN
    return LIVE if score >= threshold else ATTACK


@dataclass(frozen=True)
class Liveness:
    """A sample's liveness score, the threshold it is judged at, and the verdict."""

    score: float  # NaN: not measured
    threshold: float | None  # None: the file has no calibration
    bpcer: float = DEFAULT_BPCER

    @property
    def decision(self) -> str:
        return decide(self.score, self.threshold)

    @property
    def measured(self) -> bool:
        """Whether the file said anything about liveness (a score or a calibration)."""
        return not math.isnan(self.score) or self.threshold is not None

    def as_json(self) -> dict[str, object]:
        """``{"score", "threshold", "bpcer", "decision"}``, null where not known."""
        return {
            "score": None if math.isnan(self.score) else self.score,
            "threshold": self.threshold,
            "bpcer": self.bpcer,
            "decision": self.decision,
        }

    def describe(self) -> str:
        """One phrase for a person: the score, the verdict, and what it was judged at."""
        if math.isnan(self.score):
            return "unknown (no liveness score measured)"
        if self.threshold is None:
            return f"{self.score:.3f} unknown (the maps file has no liveness calibration)"
        return (
            f"{self.score:.3f} {self.decision} "
            f"(live when >= {self.threshold:.3f}, BPCER {self.bpcer:g})"
        )

    def why(self) -> str:
        """Why this sample fails a liveness requirement: its score against the threshold
        (an attack), or what is missing (unknown); "" for a live sample."""
        if self.decision == LIVE:
            return ""
        if self.decision == ATTACK:
            return (
                f"liveness {self.score:.3f} < threshold {self.threshold:.3f} at BPCER "
                f"{self.bpcer:g}"
            )
        return f"liveness {self.describe()}"


def read_liveness(maps: Maps, rows: np.ndarray, bpcer: float = DEFAULT_BPCER) -> list[Liveness]:
    """The liveness of ``rows`` of an open maps file, at the threshold of its ``bpcer``."""
    rows = np.asarray(rows, dtype=np.int64)
    scores = np.asarray(maps.liveness(), np.float64)[rows]
    threshold = maps.liveness_threshold(bpcer)
    return [Liveness(float(s), threshold, bpcer) for s in scores]


def worth_reporting(samples: Sequence[Liveness], require_live: bool = False) -> bool:
    """Whether output should show liveness: a file said something about it, or the user
    requires it. Files from before liveness was measured print exactly as they did."""
    return require_live or any(s.measured for s in samples)


@dataclass(frozen=True)
class MatchCheck:
    """What liveness does to an accepted match: nothing, a warning, or a rejection."""

    warning: str | None = None  # the match stands, but a sample looks like an attack
    rejection: str | None = None  # the match is refused (``require_live``)


def check_match(
    samples: Mapping[str, Liveness], *, accepted: bool, require_live: bool = False
) -> MatchCheck:
    """Check an accepted match (``accepted``) against the liveness of the samples it
    involves, ``{name: liveness}``. A sample judged an attack warns, or rejects with
    ``require_live``, which also rejects a sample of unknown liveness. A match not
    accepted needs no check."""
    if not accepted:
        return MatchCheck()
    if require_live:
        failing = [f"{name} {s.why()}" for name, s in samples.items() if s.decision != LIVE]
        if failing:
            return MatchCheck(
                rejection="; ".join(failing) + ": --require-live needs every sample judged live"
            )
        return MatchCheck()
    attacks = [f"{name} {s.why()}" for name, s in samples.items() if s.decision == ATTACK]
    if not attacks:
        return MatchCheck()
    return MatchCheck(
        warning=f"presentation attack suspected: {'; '.join(attacks)}; the match may be a spoof"
    )
