"""Which Yale B captures make up each real-data test: the rules behind ``yaleb.json``.

Extended Yale B photographs each person under 64 point lights on a dome. The protocol
picks, per person, from the lights' directions alone (file names, never pixels):

* ``reference``: every light at most :data:`REFERENCE_MAX_TILT` degrees from the camera
  axis (41 of the 64); beyond that most of the face is in attached shadow;
* ``sessions``: few-light sessions of 3, 4 and 6 reference lights from each side
  (:data:`SIDES`; in the image as the camera sees it, so ``left`` is the image's left,
  the subject's right). A side session's lights all lie in the side's half of the dome
  (l . u >= 0 for the side's image-plane axis u), their mean direction points within
  :data:`MAX_SIDE_ANGLE` of u and at least :data:`MIN_SIDE_TILT` off the camera axis;
  ``front`` lights lie within :data:`FRONT_MAX_TILT` of the axis and their mean within
  :data:`FRONT_MAX_MEAN_TILT`. Every session's light matrix has a condition number below
  :data:`MAX_CONDITION`. Sets are drawn uniformly by a seeded RNG until one satisfies
  the rules (rejection sampling, so every valid set is equally likely);
* ``rings``: Photoface-like rigs, the four reference lights nearest (by angle) to four
  lights :data:`RING_ZENITHS` degrees off the axis at image azimuths 45, 135, 225, 315
  (the 15 degree ring is the badly conditioned one);
* ``relight``: the reference lights split at random into ``held_out`` (:data:`HELD_OUT`)
  and ``fit`` (the rest).

Lights are stored as capture file names, so the protocol does not depend on the order
in which a reader lists the captures.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from photostereo.lights import from_azimuth_elevation

#: Reference lights are at most this many degrees from the camera axis.
REFERENCE_MAX_TILT = 70.0
#: The few-light sides, with their image-plane axes (x right, y up); ``front`` has none.
SIDES: dict[str, tuple[float, float] | None] = {
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "above": (0.0, 1.0),
    "below": (0.0, -1.0),
    "front": None,
}
#: Lights per few-light session.
SESSION_SIZES = (3, 4, 6)
#: A side session's mean direction lies within this many degrees of the side's axis ...
MAX_SIDE_ANGLE = 30.0
#: ... and at least this many degrees off the camera axis.
MIN_SIDE_TILT = 25.0
#: Front sessions use lights at most this far off the camera axis ...
FRONT_MAX_TILT = 30.0
#: ... with their mean direction at most this far off it.
FRONT_MAX_MEAN_TILT = 10.0
#: Every session's light matrix has a condition number below this.
MAX_CONDITION = 10.0
#: Zenith angles (degrees from the camera axis) of the Photoface-like rings.
RING_ZENITHS = (15.0, 25.0, 35.0)
#: Image-plane azimuths of a ring's four lights (degrees from image right toward up).
RING_AZIMUTHS = (45.0, 135.0, 225.0, 315.0)
#: Reference lights held out of the many-light relighting fit.
HELD_OUT = 10
#: Rejection-sampling draws allowed per session before giving up.
MAX_DRAWS = 100_000

_ANGLES = re.compile(r"A(?P<az>[+-]\d{3})E(?P<el>[+-]\d{2})\.pgm$")


def light_directions(names: Sequence[str]) -> np.ndarray:
    """(K, 3) float64 unit directions of Yale B captures, from the angles in their names."""
    found = [m for name in names if (m := _ANGLES.search(name))]
    if len(found) < len(names):
        missing = [name for name in names if not _ANGLES.search(name)]
        raise ValueError(f"not Yale B capture names (..._PppAaaaaEee.pgm): {missing[:3]}")
    matches = found
    az = np.array([int(m["az"]) for m in matches], np.float64)
    el = np.array([int(m["el"]) for m in matches], np.float64)
    return from_azimuth_elevation(az, el).astype(np.float64)


def tilt_deg(directions: np.ndarray) -> np.ndarray:
    """(...,) degrees between each (..., 3) direction and the camera axis z."""
    d = np.asarray(directions, np.float64)
    cosine = d[..., 2] / np.linalg.norm(d, axis=-1)
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def condition_number(directions: np.ndarray) -> float:
    """sigma_max / sigma_min of a (K, 3) light matrix (inf when rank-deficient)."""
    singular = np.linalg.svd(np.asarray(directions, np.float64), compute_uv=False)
    return float(singular[0] / singular[-1]) if singular[-1] > 0 else float("inf")


def reference_lights(names: Sequence[str], *, max_tilt: float = REFERENCE_MAX_TILT) -> list[str]:
    """The names, sorted, of the lights at most ``max_tilt`` degrees off the camera axis."""
    tilt = tilt_deg(light_directions(names))
    return sorted(name for name, t in zip(names, tilt, strict=True) if t <= max_tilt)


def side_candidates(directions: np.ndarray, side: str) -> np.ndarray:
    """Indices of the lights a ``side`` session may use (its half of the dome, or near front)."""
    axis = SIDES[side]
    if axis is None:
        return np.flatnonzero(tilt_deg(directions) <= FRONT_MAX_TILT)
    return np.flatnonzero(directions[:, :2] @ np.asarray(axis) >= -1e-9)


def is_valid_session(directions: np.ndarray, side: str) -> bool:
    """Whether (k, 3) candidate ``directions`` satisfy ``side``'s rules (see module doc)."""
    if condition_number(directions) >= MAX_CONDITION:
        return False
    mean = directions.mean(axis=0)
    axis = SIDES[side]
    if axis is None:
        return bool(tilt_deg(mean) <= FRONT_MAX_MEAN_TILT)
    u = np.asarray(axis)
    across = np.array([-u[1], u[0]])
    angle = np.degrees(np.arctan2(mean[:2] @ across, mean[:2] @ u))
    return bool(abs(angle) <= MAX_SIDE_ANGLE and tilt_deg(mean) >= MIN_SIDE_TILT)


def draw_session(names: Sequence[str], side: str, size: int, rng: np.random.Generator) -> list[str]:
    """A random valid ``size``-light session from ``side`` among ``names``, sorted.

    Draws ``size`` distinct candidates uniformly until the set passes
    :func:`is_valid_session`; raises ``ValueError`` after :data:`MAX_DRAWS` failures.
    """
    directions = light_directions(names)
    pool = side_candidates(directions, side)
    if len(pool) < size:
        raise ValueError(f"only {len(pool)} candidate lights for a {size}-light {side} session")
    for _ in range(MAX_DRAWS):
        pick = np.sort(rng.choice(pool, size=size, replace=False))
        if is_valid_session(directions[pick], side):
            return sorted(names[i] for i in pick)
    raise ValueError(f"no valid {size}-light {side} session in {MAX_DRAWS} draws")


def ring_lights(names: Sequence[str], zenith: float) -> list[str]:
    """The four distinct ``names`` nearest a ring at ``zenith`` degrees (order of azimuths).

    The ring's lights are (sin Z cos A, sin Z sin A, cos Z) for A in :data:`RING_AZIMUTHS`;
    each takes the nearest light by angle that an earlier one has not taken.
    """
    directions = light_directions(names)
    z, a = np.radians(zenith), np.radians(np.asarray(RING_AZIMUTHS))
    ring = np.stack([np.sin(z) * np.cos(a), np.sin(z) * np.sin(a), np.full_like(a, np.cos(z))], 1)
    cosine = ring @ directions.T
    chosen: list[int] = []
    for row in cosine:
        order = np.argsort(-row, kind="stable")
        chosen.append(int(next(i for i in order if i not in chosen)))
    return [names[i] for i in chosen]


def relight_split(
    names: Sequence[str], rng: np.random.Generator, *, held_out: int = HELD_OUT
) -> dict[str, list[str]]:
    """Random split of ``names`` into ``fit`` and ``held_out`` (``held_out`` of them), sorted."""
    order = rng.permutation(len(names))
    out = {int(i) for i in order[:held_out]}
    return {
        "fit": sorted(n for i, n in enumerate(names) if i not in out),
        "held_out": sorted(n for i, n in enumerate(names) if i in out),
    }


def person_protocol(names: Iterable[str], person: str, rng: np.random.Generator) -> dict:
    """One person's part of the protocol from the names of their captures (see module doc)."""
    reference = reference_lights(sorted(names))
    sessions = [
        {
            "id": f"{person}-{side}-{size}",
            "side": side,
            "lights": draw_session(reference, side, size, rng),
        }
        for size in SESSION_SIZES
        for side in SIDES
    ]
    rings = [
        {
            "id": f"{person}-ring{zenith:g}",
            "zenith": zenith,
            "lights": ring_lights(reference, zenith),
        }
        for zenith in RING_ZENITHS
    ]
    return {
        "reference": reference,
        "sessions": sessions,
        "rings": rings,
        "relight": relight_split(reference, rng),
    }


def build_protocol(captures: Mapping[str, Iterable[str]], *, seed: int) -> dict:
    """The whole protocol: ``captures`` maps each person to their capture file names.

    People are processed in sorted order from one ``np.random.default_rng(seed)``, so the
    same names and seed always give the same protocol.
    """
    rng = np.random.default_rng(seed)
    return {
        "dataset": "Extended Yale Face Database B, cropped, pose P00",
        "seed": seed,
        "rules": {
            "reference_max_tilt_deg": REFERENCE_MAX_TILT,
            "session_sizes": list(SESSION_SIZES),
            "sides": list(SIDES),
            "side_frame": "image as seen by the camera: left = image left = subject's right",
            "max_side_angle_deg": MAX_SIDE_ANGLE,
            "min_side_tilt_deg": MIN_SIDE_TILT,
            "front_max_tilt_deg": FRONT_MAX_TILT,
            "front_max_mean_tilt_deg": FRONT_MAX_MEAN_TILT,
            "max_condition": MAX_CONDITION,
            "ring_zeniths_deg": list(RING_ZENITHS),
            "ring_azimuths_deg": list(RING_AZIMUTHS),
            "held_out": HELD_OUT,
        },
        "people": {
            person: person_protocol(captures[person], person, rng) for person in sorted(captures)
        },
    }
