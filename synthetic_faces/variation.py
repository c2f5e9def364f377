"""What changes between two visits of one person, drawn from the visit's attributes.

Photoface attributes become concrete parameters: ``pose`` 1..5 bounds the head rotation
(pose 1 is within 3 degrees of frontal, each step adds 3), ``expression`` sets the mouth,
cheeks and brows, ``spectacles`` adds a frame, ``facial_hair`` paints it, ``quality``
``dark`` under-exposes and ``blur`` defocuses, ``occlusion`` puts a hand, a lock of hair, a
phone or another object in front of the face. Position, scale, exposure, the lights'
brightness and the backdrop vary on every visit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from synthetic_faces.face import Expression
from synthetic_faces.grid import rgb
from synthetic_faces.occluders import Occluder, Spectacles
from synthetic_faces.scene import Pose

#: Largest rotation (degrees) for each Photoface pose code.
POSE_LIMIT = {1: 3.0, 2: 6.0, 3: 9.0, 4: 12.0, 5: 15.0}


@dataclass(frozen=True)
class Visit:
    """One session's concrete variation (see the module docstring)."""

    pose: Pose
    expression: Expression
    spectacles: Spectacles | None
    facial_hair: str
    hair_density: float
    exposure: float
    light_jitter: float
    blur: float
    background: tuple[float, float, float]
    background_slope: float
    occluder: Occluder | None
    clothing: tuple[float, float, float]


def _expression(rng: np.random.Generator, kind: str) -> Expression:
    if kind == "positive":
        smile = rng.uniform(0.45, 1.0)
        return Expression(
            smile=smile,
            open=rng.uniform(0, 0.4) * (rng.random() < 0.4),
            cheeks=smile,
            brows=rng.uniform(0, 0.3),
        )
    if kind == "negative":
        return Expression(
            smile=rng.uniform(-0.7, -0.25), open=0.0, cheeks=0.0, brows=rng.uniform(-1.0, -0.4)
        )
    if kind == "emoOther":
        return Expression(
            smile=rng.uniform(-0.2, 0.2),
            open=rng.uniform(0.35, 0.9),
            cheeks=0.0,
            brows=rng.uniform(0.4, 1.0),
        )
    return Expression(smile=rng.normal(0, 0.05), open=0.0, cheeks=0.0, brows=rng.normal(0, 0.1))


def _spectacles(rng: np.random.Generator) -> Spectacles:
    dark = rng.random() < 0.7
    colour = rng.uniform(0.02, 0.12, 3) if dark else np.full(3, rng.uniform(0.35, 0.6))
    return Spectacles(
        half_width=rng.uniform(0.16, 0.21),
        half_height=rng.uniform(0.1, 0.14),
        tube=rng.uniform(0.012, 0.024),
        squareness=rng.uniform(2.5, 5.0),
        colour=rgb(colour),
        stand_off=rng.uniform(0.08, 0.14),
    )


def _occluder(rng: np.random.Generator, kind: str, skin: tuple) -> Occluder | None:
    kind = kind.strip("-")
    if not kind:
        return None
    if kind.startswith("hand"):
        side = rng.choice([-1, 1])
        return Occluder(
            "hand",
            (side * rng.uniform(0.3, 0.6), rng.uniform(-0.95, -0.6)),
            (rng.uniform(0.2, 0.3), rng.uniform(0.14, 0.2)),
            rng.uniform(-0.6, 0.6),
            rgb([float(c) * 0.95 for c in skin]),
            0.25,
        )
    if kind == "hair":
        return Occluder(
            "hair",
            (rng.uniform(-0.4, 0.4), rng.uniform(0.35, 0.5)),
            (rng.uniform(0.25, 0.4), 0.05),
            rng.uniform(-0.5, 0.5),
            (0.05, 0.04, 0.03),
            0.03,
        )
    if kind == "mobile":
        side = rng.choice([-1, 1])
        return Occluder(
            "mobile",
            (side * rng.uniform(0.75, 0.9), rng.uniform(-0.4, 0.0)),
            (0.09, 0.2),
            rng.uniform(-0.2, 0.2),
            (0.04, 0.04, 0.05),
            0.15,
        )
    return Occluder(
        "other",
        (rng.uniform(-0.6, 0.6), rng.uniform(-0.9, -0.5)),
        (rng.uniform(0.1, 0.2), rng.uniform(0.1, 0.2)),
        0.0,
        rgb(rng.uniform(0.1, 0.7, 3)),
        0.2,
    )


def sample_visit(
    rng: np.random.Generator, attributes: dict[str, Any], skin: tuple[float, float, float]
) -> Visit:
    """Concrete parameters for a visit with these Photoface ``attributes``."""
    limit = POSE_LIMIT.get(int(attributes.get("pose", 1)), 3.0)
    pose = Pose(
        yaw=rng.uniform(-limit, limit),
        pitch=rng.uniform(-limit, limit) * 0.7,
        roll=rng.normal(0.0, 2.0) + rng.uniform(-0.3, 0.3) * limit,
        scale=rng.uniform(0.92, 1.08),
        shift=(rng.normal(0, 0.02), rng.normal(0, 0.015)),
    )
    quality = attributes.get("quality", "ok")
    exposure = rng.uniform(1.15, 1.45) * (rng.uniform(0.35, 0.5) if quality == "dark" else 1.0)
    grey = rng.uniform(0.06, 0.3)
    tint = 1.0 + rng.normal(0, 0.08, 3)
    return Visit(
        pose=pose,
        expression=_expression(rng, attributes.get("expression", "blankstare")),
        spectacles=_spectacles(rng) if attributes.get("spectacles") == "yes" else None,
        facial_hair=attributes.get("facial_hair", "none"),
        hair_density=rng.uniform(0.7, 1.0),
        exposure=float(exposure),
        light_jitter=0.04,
        blur=rng.uniform(1.0, 2.0) if quality == "blur" else 0.0,
        background=rgb(np.clip(grey * tint, 0.02, 0.5)),
        background_slope=rng.uniform(-0.4, 0.4),
        occluder=_occluder(rng, str(attributes.get("occlusion", "")), skin),
        clothing=rgb(rng.uniform(0.03, 0.6) * rng.uniform(0.6, 1.0, 3)),
    )
