"""Attribute labels for the multi-task heads: vocabulary, sources, masking and changes."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from photostereo.io import read_photoface
from recognition.attributes import (
    CHANGE_TASKS,
    TASKS,
    attribute_changed,
    attribute_labels,
    label_counts,
)
from synthetic_faces import population
from tests.fixtures import write_photoface_sphere

CSV = Path(__file__).resolve().parents[3] / "shared" / "reference" / "photoface_sessions.csv"

#: Every value of the Photoface vocabulary, per CSV column: its label (None = masked).
EXPECTED = {
    "Spectacles": {"no": 0, "yes": 1},
    "Facial_Hair": {"none": 0, "stubble": 1, "moustache": 1, "beard": 1, "both": 1},
    "Emotion": {"blankstare": 0, "positive": 1, "negative": 1, "emoOther": 1},
    "Pose": {"1": 0, "2": 1, "3": 1, "4": 1, "5": 1},
    "Gender": {"male": 0, "female": 1},
}
TASK_OF = {"Spectacles": "spectacles", "Facial_Hair": "facial_hair", "Emotion": "expression"}
TASK_OF |= {"Pose": "pose", "Gender": "gender"}


def one(**attributes) -> tuple[np.ndarray, np.ndarray]:
    labels, mask = attribute_labels([json.dumps(attributes)])
    return labels[0], mask[0]


def test_tasks_follow_the_cascade_order():
    assert TASKS == ("spectacles", "facial_hair", "expression", "pose", "gender")
    assert CHANGE_TASKS == ("spectacles", "facial_hair", "expression")


@pytest.mark.skipif(not CSV.is_file(), reason="the Photoface CSV lives outside user clones")
def test_every_value_of_the_photoface_csv_maps_to_its_label():
    with open(CSV, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for column, expected in EXPECTED.items():
        assert set(Counter(row[column] for row in rows)) == set(expected), column
    # as the CSV spells them (its own column names, pose a string) ...
    raw = [{c: row[c] for c in EXPECTED} for row in rows]
    # ... and as the project's attributes do (population.COLUMNS, pose an int)
    named = [{population.COLUMNS[c]: row[c] for c in EXPECTED} for row in rows]
    for record in named:
        record["pose"] = int(record["pose"])
    for records in (raw, named, [json.dumps(r) for r in named]):
        labels, mask = attribute_labels(records)
        assert mask.all()
        for column, expected in EXPECTED.items():
            j = TASKS.index(TASK_OF[column])
            want = np.array([expected[row[column]] for row in rows], np.float32)
            np.testing.assert_array_equal(labels[:, j], want, err_msg=column)
        counts = label_counts(labels, mask)
        assert counts["gender"] == (2863, 296, 0)
        assert counts["spectacles"] == (2311, 848, 0)
        assert counts["facial_hair"] == (2225, 373 + 360 + 190 + 11, 0)
        assert counts["pose"] == (2658, 364 + 101 + 20 + 16, 0)
        assert counts["expression"] == (2422, 456 + 243 + 38, 0)


def test_every_vocabulary_value_has_one_label():
    for column, expected in EXPECTED.items():
        j = TASKS.index(TASK_OF[column])
        for value, label in expected.items():
            labels, mask = one(**{column: value})
            assert mask[j] and labels[j] == label, (column, value)
            assert mask.sum() == 1  # the other tasks are missing, not guessed


def test_synthetic_attributes_map_with_nothing_masked():
    stats = population.load_stats()
    rng = np.random.default_rng(3)
    drawn = []
    for _ in range(60):
        person = population.draw_person(rng, stats)
        drawn += [population.draw_session_attributes(rng, person, stats) for _ in range(5)]
    stored = [json.dumps(dict(a), sort_keys=True) for a in drawn]  # as preprocess stores them
    labels, mask = attribute_labels(stored)
    assert mask.all()
    for a, row in zip(drawn, labels, strict=True):
        assert row[TASKS.index("spectacles")] == (a["spectacles"] == "yes")
        assert row[TASKS.index("facial_hair")] == (a["facial_hair"] != "none")
        assert row[TASKS.index("expression")] == (a["expression"] != "blankstare")
        assert row[TASKS.index("pose")] == (a["pose"] != 1)
        assert row[TASKS.index("gender")] == (a["gender"] == "female")
    negatives, positives, missing = zip(*label_counts(labels, mask).values(), strict=True)
    assert min(negatives) > 0 and min(positives) > 0 and max(missing) == 0  # both classes


def test_photoface_metadata_spelling_maps_through_the_reader(tmp_path):
    sessions = {
        "s1": "Gender: female\nSpectacles: yes\nFacial_Hair: none\nPose: 1\n"
        "Quality: ok\nOcclusion: \nEmotion: blankstare\n",
        "s2": "GENDER = Male\nspectacles no\nFacial-Hair: Stubble\nPose: 3\nEmotion: emoOther\n",
        "s3": "Sex: male\nGlasses: YES\nFacialHair: both\nPose: 2\nEmotion: Positive\n",
        "s4": "Gender: unknown\nFacial_Hair:\nPose: 9\nEmotion: happy\n",  # all masked
    }
    stored = []
    for name, text in sessions.items():
        folder = write_photoface_sphere(tmp_path / "1001" / name)
        (folder / "metadataII.txt").write_text(text)
        stored.append(json.dumps(dict(read_photoface(folder).attributes), sort_keys=True))
    labels, mask = attribute_labels(stored)
    # columns: spectacles, facial_hair, expression, pose, gender
    np.testing.assert_array_equal(labels[:3], [[1, 0, 0, 0, 1], [0, 1, 1, 1, 0], [1, 1, 1, 1, 0]])
    assert mask[:3].all() and not mask[3].any()


@pytest.mark.parametrize(
    "record",
    ["", "not json", "{'gender': 'male'}", '{"gender": "male"', "[1, 2]", "null", '"male"', None],
)
def test_invalid_attributes_mask_everything(record):
    labels, mask = attribute_labels([record, '{"gender": "female"}'])
    assert not mask[0].any() and not labels[0].any()
    assert mask[1].tolist() == [False, False, False, False, True]


@pytest.mark.parametrize(
    ("task", "value"),
    [
        ("gender", "unknown"),
        ("gender", ""),
        ("gender", "m"),
        ("gender", None),
        ("gender", 1),
        ("spectacles", "sometimes"),
        ("spectacles", True),
        ("facial_hair", "goatee"),
        ("expression", "happy"),
        ("expression", "fe\ufffdmale"),
        ("pose", 0),
        ("pose", 6),
        ("pose", 1.5),
        ("pose", float("nan")),
        ("pose", True),
        ("pose", "²"),
        ("pose", "frontal"),
        ("pose", [1]),
    ],
)
def test_unknown_values_are_masked(task, value):
    labels, mask = attribute_labels([{task: value, "quality": "ok"}])
    assert not mask.any() and not labels.any()


def test_spellings_are_normalised():
    assert one(Emotion="EMOOTHER")[0][TASKS.index("expression")] == 1
    assert one(expression="blank stare")[1][TASKS.index("expression")]
    for pose in (1, "1", " 1 ", 1.0, "1.0"):
        labels, mask = attribute_labels([{"pose": pose}])
        assert mask[0, TASKS.index("pose")] and labels[0, TASKS.index("pose")] == 0, pose
    labels, mask = attribute_labels([b'{"Gender": "Female"}', {"pose": np.int64(4)}])
    assert labels[0, TASKS.index("gender")] == 1 and labels[1, TASKS.index("pose")] == 1


def test_two_spellings_that_disagree_are_masked():
    _, mask = one(emotion="positive", expression="blankstare")
    assert not mask[TASKS.index("expression")]
    labels, mask = one(emotion="positive", expression="negative")  # both mean 1
    assert mask[TASKS.index("expression")] and labels[TASKS.index("expression")] == 1


def test_label_counts_by_hand():
    labels = np.array([[1, 0, 0, 1, 0], [0, 0, 1, 0, 0], [1, 1, 0, 0, 1]], np.float32)
    mask = np.array([[1, 1, 1, 1, 0], [1, 0, 1, 1, 0], [1, 1, 0, 1, 1]], bool)
    labels[~mask] = 0
    assert label_counts(labels, mask) == {
        "spectacles": (1, 2, 0),
        "facial_hair": (1, 1, 1),
        "expression": (1, 1, 1),
        "pose": (2, 1, 0),
        "gender": (0, 1, 2),
    }
    assert label_counts(np.zeros((0, 5), np.float32), np.zeros((0, 5), bool)) == dict.fromkeys(
        TASKS, (0, 0, 0)
    )
    with pytest.raises(ValueError, match="must both be"):
        label_counts(labels, mask[:, :4])


def test_attribute_changed_by_hand():
    base = {"spectacles": "no", "facial_hair": "none", "expression": "blankstare", "pose": 1}
    enrolled = [json.dumps(base)] * 5 + ["garbage"]
    probes = [
        dict(base, pose=3, quality="blur"),  # pose and quality are not compared
        dict(base, spectacles="yes"),
        dict(base, facial_hair="moustache", expression="positive"),
        dict(base, facial_hair="", expression="unknown"),  # masked: not changed
        {"Spectacles": "NO", "FacialHair": "Stubble", "Emotion": "emoOther"},  # other spelling
        dict(base, spectacles="yes"),  # the enrolled side is unreadable: not changed
    ]
    changed = attribute_changed(enrolled, probes)
    assert changed.dtype == bool and changed.shape == (6, 3)
    np.testing.assert_array_equal(
        changed,
        [[0, 0, 0], [1, 0, 0], [0, 1, 1], [0, 0, 0], [0, 1, 1], [0, 0, 0]],
    )
    # stubble to moustache is facial hair either way: the label does not change
    assert not attribute_changed([{"facial_hair": "stubble"}], [{"facial_hair": "both"}]).any()
    assert attribute_changed([], []).shape == (0, 3)
    with pytest.raises(ValueError, match="one per probe"):
        attribute_changed(enrolled, probes[:2])
