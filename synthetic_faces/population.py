"""Who is photographed and how often: attributes and session counts, Photoface-style.

The frequencies come from the Photoface session metadata (3,159 sessions of 441 people),
summarised by :func:`summarize_photoface_csv` into the package's
``data/photoface_stats.json`` (the CSV itself is not shipped). A person keeps their
gender; spectacles and facial hair follow the person's habit (their usual value, kept
with the within-person agreement the database shows, otherwise redrawn); pose, quality,
occlusion and expression are drawn per session.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

#: The shipped summary: package data, so an installed package finds it too.
STATS_FILE = resources.files("synthetic_faces") / "data" / "photoface_stats.json"

#: CSV column -> attribute name in the session's ``attributes``.
COLUMNS = {
    "Gender": "gender",
    "Spectacles": "spectacles",
    "Facial_Hair": "facial_hair",
    "Pose": "pose",
    "Quality": "quality",
    "Occlusion": "occlusion",
    "Emotion": "expression",
}
#: Attributes a person carries from visit to visit (with some change).
HABITS = ("spectacles", "facial_hair")


def summarize_photoface_csv(path: str | Path) -> dict[str, Any]:
    """Per-attribute value counts, the sessions-per-person histogram and habit agreement.

    ``agreement[attr]`` is the fraction of sessions (of people with two or more) whose
    value equals that person's most common one. ``facial_hair_by_gender`` splits the
    facial-hair counts by gender; ``gender_of_people`` counts people, not sessions.
    Counts are plain integers, keys sorted, so the result serialises identically.
    """
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    attributes: dict[str, dict[str, int]] = {}
    for column, name in COLUMNS.items():
        counts = Counter(row[column] for row in rows)
        attributes[name] = {value: counts[value] for value in sorted(counts)}
    by_person: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_person[row["id"]].append(row)
    histogram = Counter(len(sessions) for sessions in by_person.values())
    agreement = {}
    for name in HABITS:
        column = next(c for c, n in COLUMNS.items() if n == name)
        same = total = 0
        for sessions in by_person.values():
            if len(sessions) < 2:
                continue
            values = Counter(s[column] for s in sessions)
            same += values.most_common(1)[0][1]
            total += len(sessions)
        agreement[name] = round(same / total, 4)
    hair_by_gender: dict[str, dict[str, int]] = {}
    for gender in sorted({row["Gender"] for row in rows}):
        counts = Counter(row["Facial_Hair"] for row in rows if row["Gender"] == gender)
        hair_by_gender[gender] = {value: counts[value] for value in sorted(counts)}
    genders = Counter(sessions[0]["Gender"] for sessions in by_person.values())
    return {
        "source": "Photoface session metadata (Zafeiriou et al., IEEE TIFS 2013)",
        "sessions": len(rows),
        "people": len(by_person),
        "attributes": attributes,
        "gender_of_people": {g: genders[g] for g in sorted(genders)},
        "facial_hair_by_gender": hair_by_gender,
        "agreement": agreement,
        "sessions_per_person": {str(n): histogram[n] for n in sorted(histogram)},
    }


@lru_cache(maxsize=1)
def load_stats() -> dict[str, Any]:
    """The shipped Photoface summary."""
    if not STATS_FILE.is_file():
        raise FileNotFoundError(f"{STATS_FILE}: the Photoface summary is missing from the package")
    return json.loads(STATS_FILE.read_text(encoding="utf-8"))


def _draw(rng: np.random.Generator, counts: dict[str, int]) -> str:
    values = list(counts)
    p = np.array([counts[v] for v in values], float)
    return values[int(rng.choice(len(values), p=p / p.sum()))]


def draw_session_count(rng: np.random.Generator, stats: dict[str, Any] | None = None) -> int:
    """Sessions for one person, from the Photoface histogram (a long tail)."""
    stats = stats or load_stats()
    return int(_draw(rng, stats["sessions_per_person"]))


def draw_person(rng: np.random.Generator, stats: dict[str, Any] | None = None) -> dict[str, str]:
    """A person's fixed gender and usual spectacles and facial hair."""
    stats = stats or load_stats()
    gender = _draw(rng, stats["gender_of_people"])
    return {
        "gender": gender,
        "spectacles": _draw(rng, stats["attributes"]["spectacles"]),
        "facial_hair": _draw(rng, stats["facial_hair_by_gender"][gender]),
    }


def draw_session_attributes(
    rng: np.random.Generator, person: dict[str, str], stats: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One visit's attributes in the Photoface vocabulary (see the module docstring)."""
    stats = stats or load_stats()
    attrs: dict[str, Any] = {"gender": person["gender"]}
    for name in HABITS:
        keep = rng.random() < stats["agreement"][name]
        if keep:
            attrs[name] = person[name]
        elif name == "facial_hair":
            attrs[name] = _draw(rng, stats["facial_hair_by_gender"][person["gender"]])
        else:
            attrs[name] = _draw(rng, stats["attributes"][name])
    attrs["pose"] = int(_draw(rng, stats["attributes"]["pose"]))
    attrs["quality"] = _draw(rng, stats["attributes"]["quality"])
    attrs["occlusion"] = _draw(rng, stats["attributes"]["occlusion"])
    attrs["expression"] = _draw(rng, stats["attributes"]["expression"])
    return attrs
