"""Relative intensities of the Extended Yale B lights, measured from the faces.

The 64 strobes of the Yale B dome are not equally bright: against a many-light fit of
each face, some lights read 0.8 of the median and others 1.4, the same for every
person (the spread across people is about 0.02). Uncalibrated, a dim light looks like a
shadow and a bright one bends every normal toward it, which on the few-light sessions
of ``data/protocols/yaleb.json`` cost plain least squares about 4 degrees.

For each person: fit normals and albedo by trimmed least squares over the protocol's
reference lights (:func:`photostereo.realdata.reference.trimmed_fit`) on the captures
divided by the current gains; each reference light's gain is the median, over face
pixels the light clearly lights (predicted at least 0.3 of the albedo, observed between
0.02 and 0.95), of observed / predicted; repeat three times. The table is the median
over people, scaled to a median of 1, written to ``photostereo/data/yaleb_intensities.json``;
the Yale B reader takes each light's value as its intensity. Lights beyond the
reference (more than 70 degrees off the camera axis, where skin is far from Lambertian)
are not measured and keep intensity 1.

Run: ``.venv/bin/python scripts/calibrate_yaleb_lights.py [--data ../shared/data/yaleb]``.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from photostereo.io.yaleb import read_yaleb
from photostereo.realdata.reference import face_mask, trimmed_fit

REPO = Path(__file__).resolve().parents[1]
PROTOCOL = REPO / "data" / "protocols" / "yaleb.json"
OUT = REPO / "photostereo" / "data" / "yaleb_intensities.json"
ROUNDS = 3
LIGHT = re.compile(r"A[+-]\d{3}E[+-]\d{2}")


def person_gains(folder: Path, reference_lights: list[str]) -> dict[str, float]:
    """One person's gain of every light, scaled to a median of 1."""
    session = read_yaleb(folder)
    session_names = list(session.image_names)
    rows = [session_names.index(name) for name in reference_lights]
    gains = np.ones(len(session_names))
    for _ in range(ROUNDS):
        fit = trimmed_fit(session.images[rows] / gains[rows, None, None], session.directions[rows])
        face = face_mask(fit)
        b = (fit.normals * fit.albedo[..., None])[face]
        predicted = b @ session.directions.T.astype(np.float64)  # (pixels, K)
        observed = session.images[:, face].T
        lit = (predicted > 0.3 * fit.albedo[face][:, None]) & (observed > 0.02) & (observed < 0.95)
        ratio = np.where(lit, observed / np.where(lit, predicted, 1.0), np.nan)
        for k in rows:  # only lights the Lambertian reference can vouch for
            if lit[:, k].sum() > 200:
                gains[k] = np.nanmedian(ratio[:, k])
        gains /= np.median(gains[rows])
    return {LIGHT.search(session_names[k])[0]: float(gains[k]) for k in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "yaleb")
    parser.add_argument("-o", "--out", type=Path, default=OUT)
    args = parser.parse_args()
    protocol = json.loads(PROTOCOL.read_text())
    per_person = [
        person_gains(args.data / person, plan["reference"])
        for person, plan in sorted(protocol["people"].items())
    ]
    lights = sorted(set().union(*per_person))
    table = {
        light: float(np.median([p[light] for p in per_person if light in p])) for light in lights
    }
    spread = float(
        np.median([np.std([p[light] for p in per_person if light in p]) for light in lights])
    )
    document = {
        "description": "Relative intensities of the Extended Yale B lights (median 1), "
        "measured from the faces by scripts/calibrate_yaleb_lights.py",
        "people": sorted(protocol["people"]),
        "median_spread_across_people": round(spread, 4),
        "intensities": {light: round(value, 4) for light, value in table.items()},
    }
    args.out.write_text(json.dumps(document, indent=1) + "\n")
    low, high = min(table.values()), max(table.values())
    print(f"{len(table)} lights, {low:.2f} to {high:.2f}; spread across people {spread:.3f}")


if __name__ == "__main__":
    main()
