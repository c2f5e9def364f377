"""The Photoface summary the generator draws from, and the draws themselves."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from synthetic_faces import population

CSV = Path(__file__).resolve().parents[3] / "shared" / "reference" / "photoface_sessions.csv"


@pytest.mark.skipif(not CSV.is_file(), reason="the Photoface CSV lives outside user clones")
def test_shipped_summary_matches_the_csv():
    shipped = json.loads(population.STATS_FILE.read_text(encoding="utf-8"))
    assert shipped == population.summarize_photoface_csv(CSV)


def test_summary_is_self_consistent():
    stats = population.load_stats()
    per_person = stats["sessions_per_person"]
    assert sum(per_person.values()) == stats["people"]
    assert sum(int(n) * c for n, c in per_person.items()) == stats["sessions"]
    for counts in stats["attributes"].values():
        assert sum(counts.values()) == stats["sessions"]


def test_session_counts_follow_the_long_tail():
    stats = population.load_stats()
    rng = np.random.default_rng(0)
    draws = np.array([population.draw_session_count(rng, stats) for _ in range(4000)])
    expected_single = stats["sessions_per_person"]["1"] / stats["people"]
    assert abs(np.mean(draws == 1) - expected_single) < 0.03
    assert draws.max() > 20  # the tail is there


def test_session_attributes_use_the_photoface_vocabulary_and_frequencies():
    stats = population.load_stats()
    rng = np.random.default_rng(1)
    seen: dict[str, Counter] = {}
    for _ in range(300):
        person = population.draw_person(rng, stats)
        for _ in range(5):
            attrs = population.draw_session_attributes(rng, person, stats)
            assert attrs["gender"] == person["gender"]
            for name, value in attrs.items():
                seen.setdefault(name, Counter())[str(value)] += 1
    for name in ("spectacles", "facial_hair", "pose", "quality", "occlusion", "expression"):
        assert set(seen[name]) <= set(stats["attributes"][name]), name
    frontal = seen["pose"]["1"] / 1500
    assert abs(frontal - stats["attributes"]["pose"]["1"] / stats["sessions"]) < 0.04
    assert seen["facial_hair"]["none"] > seen["facial_hair"]["stubble"] > 0
