"""Light rigs the generator photographs with: a named rig, ``ring:K``, or a rig file.

Named rigs are JSON files shipped in the package's ``data/rigs/`` (``photoface``,
``yale``); any JSON file of the same form can be given by path. A rig file holds
``name``, ``convention`` and ``lights``, one entry per light:

- ``zenith_azimuth_degrees``: (zenith, azimuth), see
  :func:`photostereo.lights.from_zenith_azimuth`;
- ``azimuth_elevation_degrees``: (azimuth, elevation), the Yale B convention, see
  :func:`photostereo.lights.from_azimuth_elevation`;
- ``vector``: (x, y, z) directions toward the light, in the image frame.

``ring:K`` places ``K`` lights evenly on a cone 30 degrees around the optical axis.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import numpy as np

from photostereo.lights import (
    from_azimuth_elevation,
    from_zenith_azimuth,
    normalize_directions,
    ring_directions,
)

#: The named rigs: package data, so an installed package finds them too.
RIGS_DIR = resources.files("synthetic_faces") / "data" / "rigs"
RING_ZENITH = 30.0
CONVENTIONS = ("zenith_azimuth_degrees", "azimuth_elevation_degrees", "vector")


@dataclass(frozen=True)
class Rig:
    """A named set of light directions (K, 3), unit vectors toward the lights."""

    name: str
    directions: np.ndarray

    @property
    def n_lights(self) -> int:
        return len(self.directions)


def parse_rig(spec: str) -> Rig:
    """Build a rig from its name: ``photoface``, ``yale`` or ``ring:K`` (K >= 3).

    Raises ``ValueError`` with a sentence naming the accepted forms otherwise.
    """
    name = spec.strip().lower()
    if (RIGS_DIR / f"{name}.json").is_file():
        return load_rig(RIGS_DIR / f"{name}.json")
    if spec.endswith(".json") and Path(spec).is_file():
        return load_rig(Path(spec))
    if name.startswith("ring:"):
        count = name.split(":", 1)[1]
        if not count.isdigit() or int(count) < 3:
            raise ValueError(f"rig {spec!r}: ring:K needs a whole number K of at least 3 lights")
        k = int(count)
        return Rig(f"ring:{k}", ring_directions(k, RING_ZENITH, azimuth0=90.0 / k))
    named = ", ".join(sorted(_stem(p) for p in RIGS_DIR.iterdir() if p.name.endswith(".json")))
    raise ValueError(f"unknown rig {spec!r}: use {named}, ring:K (e.g. ring:8) or a rig .json file")


def _stem(path: Path | Traversable) -> str:
    return path.name.removesuffix(".json")


def load_rig(path: Path | Traversable) -> Rig:
    """Read a rig file or a shipped rig (see the module docstring for its form)."""
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
        lights = np.asarray(spec["lights"], dtype=float)
        convention = spec["convention"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"rig file {path}: unreadable ({error})") from None
    if convention not in CONVENTIONS:
        raise ValueError(f"rig file {path}: convention must be one of {', '.join(CONVENTIONS)}")
    width = 3 if convention == "vector" else 2
    if lights.ndim != 2 or lights.shape[1] != width or len(lights) < 3:
        raise ValueError(f"rig file {path}: lights must be at least 3 rows of {width} numbers")
    if convention == "zenith_azimuth_degrees":
        directions = from_zenith_azimuth(lights[:, 0], lights[:, 1])
    elif convention == "azimuth_elevation_degrees":
        directions = from_azimuth_elevation(lights[:, 0], lights[:, 1])
    else:
        directions = normalize_directions(lights, where=str(path))
    return Rig(str(spec.get("name", _stem(path))), directions)
