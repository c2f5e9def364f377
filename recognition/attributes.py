"""Binary attribute labels for the multi-task heads, from each session's attributes.

Five tasks, in the attention cascade's order (:data:`TASKS`). Each sample's attributes
arrive as the JSON string the maps file stores (``meta/attributes``, written by
``psface preprocess`` from ``CaptureSession.attributes``) or as a mapping, in the
Photoface vocabulary (``shared/reference/photoface_sessions.csv``):

=========== ============================ ================= ==========
task        1 (positive)                 0 (negative)      share of 1
=========== ============================ ================= ==========
spectacles  wears them: ``yes``          ``no``            27%
facial_hair any: ``stubble``,            ``none``          30%
            ``moustache``, ``beard``,
            ``both``
expression  not a blank stare:           ``blankstare``    23%
            ``positive``, ``negative``,
            ``emoOther``
pose        not frontal: codes 2 to 5    frontal: code 1   16%
gender      ``female``                   ``male``          9%
=========== ============================ ================= ==========

0 is the plain, canonical face (no spectacles, clean-shaven, blank stare, frontal) and
1 the departure from it, which is also each task's rarer class on Photoface, so a
class-balanced focal-loss alpha weighs the positive class up (:func:`label_counts`).
Pose code 1 is frontal: the database's codes run 1 (frontal) to 5, and the synthetic
generator turns code 1 into at most 3 degrees of head rotation, each step adding 3
(``synthetic_faces/variation.py``).

Missing labels are masked out, never guessed: an absent key, an empty value, a value
outside the vocabulary (``unknown``, a pose code 6, a non-integral pose), two spellings
of one attribute that disagree, or attributes that are not a JSON object (invalid JSON
masks all five). Spellings are normalised before the lookup, so the synthetic
generator (``draw_session_attributes``: lower-case keys, ``pose`` an int), the
Photoface reader (``parse_attributes``: keys lower-cased, ``Emotion`` renamed
``expression``, digit strings made ints) and the CSV's own columns (``Facial_Hair``,
``Emotion``, pose as a string) all give the same labels: keys are matched
case-insensitively with spaces and hyphens read as underscores, values
case-insensitively with spaces, underscores and hyphens ignored (``emoOther``,
``EMOOTHER`` and ``emo other`` are one value; ``blank stare`` is ``blankstare``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from photostereo.io.photoface import ATTRIBUTE_KEYS

#: The attribute tasks, in the attention cascade's order (columns of the label arrays).
TASKS = ("spectacles", "facial_hair", "expression", "pose", "gender")
#: Tasks that :func:`attribute_changed` compares, in its column order.
CHANGE_TASKS = ("spectacles", "facial_hair", "expression")

#: One sample's attributes: the maps file's JSON string (bytes too), or a mapping.
AttributeRecord = str | bytes | Mapping[str, Any] | None

#: Normalised value -> label, per task (pose is matched by code, see :func:`_pose`).
VOCABULARY: dict[str, dict[str, int]] = {
    "spectacles": {"no": 0, "yes": 1},
    "facial_hair": {"none": 0, "stubble": 1, "moustache": 1, "beard": 1, "both": 1},
    "expression": {"blankstare": 0, "positive": 1, "negative": 1, "emoother": 1},
    "gender": {"male": 0, "female": 1},
}
#: Pose code -> label: 1 is frontal.
POSE_CODES = {1: 0, 2: 1, 3: 1, 4: 1, 5: 1}
#: Normalised key -> task: the project's names, the Photoface reader's aliases and the
#: CSV's column names (``Emotion`` is the expression).
KEYS = {alias: name for alias, name in ATTRIBUTE_KEYS.items() if name in TASKS}


def attribute_labels(
    attributes: Sequence[AttributeRecord] | np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and validity of every task for each sample.

    Parameters
    ----------
    attributes : (N,) the samples' attributes, each a JSON object string (as the maps
        file's ``meta/attributes``), its UTF-8 bytes, a mapping, or None (all missing)

    Returns
    -------
    labels : (N, 5) float32, columns in :data:`TASKS` order; 0 where masked
    mask : (N, 5) bool, True where the label is known
    """
    n = len(attributes)
    labels = np.zeros((n, len(TASKS)), np.float32)
    mask = np.zeros((n, len(TASKS)), bool)
    for i, record in enumerate(attributes):
        for j, value in enumerate(_labels_of(record)):
            if value is not None:
                labels[i, j] = value
                mask[i, j] = True
    return labels, mask


def label_counts(labels: np.ndarray, mask: np.ndarray) -> dict[str, tuple[int, int, int]]:
    """``{task: (negatives, positives, missing)}`` over the samples, in :data:`TASKS` order.

    For the logs and for class-balanced focal-loss weights (e.g. alpha = negatives /
    (negatives + positives) for the positive class).
    """
    labels, mask = np.asarray(labels), np.asarray(mask, bool)
    if labels.shape != mask.shape or labels.ndim != 2 or labels.shape[1] != len(TASKS):
        raise ValueError(
            f"labels {labels.shape} and mask {mask.shape} must both be (N, {len(TASKS)})"
        )
    counts = {}
    for j, task in enumerate(TASKS):
        known = mask[:, j]
        positives = int(np.count_nonzero(labels[known, j] > 0.5))
        counts[task] = (int(known.sum()) - positives, positives, int((~known).sum()))
    return counts


def attribute_changed(
    enrolled: Sequence[AttributeRecord] | np.ndarray,
    probes: Sequence[AttributeRecord] | np.ndarray,
) -> np.ndarray:
    """Whether spectacles, facial hair or expression differ between each probe and its
    person's enrolled session: (n_probes, 3) bool, columns :data:`CHANGE_TASKS`.

    ``enrolled[i]`` is the attributes of the enrolled session probe ``i`` is compared
    with (the same person's; with several enrolled sessions, the caller picks one, e.g.
    the earliest, as :func:`gallery.protocol.gallery_probe_split` orders them). A task
    whose label is masked on either side counts as *not changed*: nothing is known to
    have changed, so such probes stay in the "unchanged" group rather than being
    guessed into the "changed" one (the changed group is then exact; the unchanged one
    may hold a few unknowns, which :func:`attribute_labels` can count).
    """
    if len(enrolled) != len(probes):
        raise ValueError(
            f"{len(enrolled)} enrolled attributes for {len(probes)} probes: pass one per probe"
        )
    columns = [TASKS.index(task) for task in CHANGE_TASKS]
    enrolled_labels, enrolled_mask = attribute_labels(enrolled)
    probe_labels, probe_mask = attribute_labels(probes)
    known = enrolled_mask[:, columns] & probe_mask[:, columns]
    return known & (enrolled_labels[:, columns] != probe_labels[:, columns])


def _labels_of(record: AttributeRecord) -> list[int | None]:
    """One sample's label per task (None where missing)."""
    attributes = _as_mapping(record)
    if attributes is None:
        return [None] * len(TASKS)
    found: dict[str, set[int | None]] = {}
    for key, value in attributes.items():
        task = KEYS.get(_normal_key(key)) if isinstance(key, str) else None
        if task is not None:
            found.setdefault(task, set()).add(_label(task, value))
    # a single known label; an attribute spelt twice with different values is unknown
    return [next(iter(found[task])) if len(found.get(task, ())) == 1 else None for task in TASKS]


def _as_mapping(record: AttributeRecord) -> Mapping[Any, Any] | None:
    """The attributes as a mapping; None for anything that is not a JSON object."""
    if isinstance(record, Mapping):
        return record
    if isinstance(record, bytes):
        record = record.decode("utf-8", "replace")
    if not isinstance(record, str):
        return None
    try:
        parsed = json.loads(record)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        return None
    return parsed if isinstance(parsed, dict) else None


def _normal_key(key: str) -> str:
    return re.sub(r"[\s\-]+", "_", key.strip().lower())


def _label(task: str, value: Any) -> int | None:
    if task == "pose":
        return _pose(value)
    if not isinstance(value, str):
        return None
    return VOCABULARY[task].get(re.sub(r"[\s_\-]+", "", value.lower()))


def _pose(value: Any) -> int | None:
    """The pose label of a code given as an int, an integral float or a digit string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[0-9]{1,3}(?:\.0*)?", text):
            return None
        value = float(text)
    if isinstance(value, float | np.floating):
        if not math.isfinite(value) or not float(value).is_integer():
            return None
        value = int(value)
    if isinstance(value, int | np.integer):
        return POSE_CODES.get(int(value))
    return None
