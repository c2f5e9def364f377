"""Top-k search: FAISS agrees with the plain reference, ties included."""

from __future__ import annotations

import numpy as np
import pytest

from gallery.protocol import gallery_probe_split
from gallery.search import (
    FaissFlat,
    FaissIVF,
    build_searcher,
    exact_topk,
    exact_topk_reference,
    rank_identities,
)
from gallery.templates import l2_normalise
from psbase.errors import ConfigError


def unit(rng, n, d=64):
    return l2_normalise(rng.normal(size=(n, d)))


@pytest.mark.parametrize(("n", "k", "queries"), [(5000, 1, 1), (5000, 10, 40), (300, 50, 40)])
def test_exact_search_returns_the_reference_topk(n, k, queries):
    rng = np.random.default_rng(n + k)
    gallery, probes = unit(rng, n), unit(rng, queries)
    ref_s, ref_i = exact_topk_reference(probes, gallery, k)
    got_s, got_i = exact_topk(probes, gallery, k)
    np.testing.assert_array_equal(got_i, ref_i)
    np.testing.assert_allclose(got_s, ref_s, atol=1e-5)
    assert got_s.dtype == np.float32 and got_i.dtype == np.int64
    assert np.all(np.diff(got_s, axis=1) <= 0)


@pytest.mark.parametrize("queries", [1, 50])  # FAISS scores few queries alone, many by BLAS
def test_ties_break_by_lower_index(queries):
    gallery = np.repeat(np.eye(4, dtype=np.float32), 3, axis=0)  # each row three times
    probes = np.repeat(gallery[:1], queries, axis=0)
    ref = exact_topk_reference(probes, gallery, 5)
    got = exact_topk(probes, gallery, 5)
    np.testing.assert_array_equal(got[1], ref[1])
    np.testing.assert_array_equal(got[1][0], [0, 1, 2, 3, 4])
    # Ten tied rows for two places: the two lowest indices, whatever FAISS kept.
    tied = np.ones((10, 4), np.float32) / 2
    np.testing.assert_array_equal(exact_topk(tied[:queries], tied, 2)[1][0], [0, 1])


@pytest.mark.parametrize("seed", range(20))
def test_many_ties_match_the_reference(seed):
    """Integer-valued rows from a small pool: exact, heavily tied scores at every k."""
    rng = np.random.default_rng(seed)
    pool = rng.normal(size=(int(rng.integers(1, 30)), 8)).round()
    gallery = pool[rng.integers(0, len(pool), int(rng.integers(1, 2000)))].astype(np.float32)
    probes = rng.normal(size=(int(rng.choice([1, 7, 64])), 8)).round().astype(np.float32)
    k = int(rng.integers(1, 60))
    for got, ref in zip(
        exact_topk(probes, gallery, k), exact_topk_reference(probes, gallery, k), strict=True
    ):
        np.testing.assert_array_equal(got, ref)


def test_small_gallery_pads_results():
    rng = np.random.default_rng(1)
    gallery, queries = unit(rng, 3), unit(rng, 2)
    for searcher in (build_searcher(gallery, method="numpy"), FaissFlat(gallery)):
        scores, idx = searcher.search(queries, 5)
        assert scores.shape == (2, 5)
        np.testing.assert_array_equal(idx[:, 3:], -1)
        assert np.all(np.isneginf(scores[:, 3:]))


def test_every_exact_method_is_the_flat_index():
    rng = np.random.default_rng(2)
    gallery = unit(rng, 100)
    for method in ("auto", "numpy", "faiss"):
        assert isinstance(build_searcher(gallery, method=method), FaissFlat)
    with pytest.raises(ConfigError, match="unknown search method"):
        build_searcher(gallery, method="annoy")
    with pytest.raises(ConfigError, match="at least 1"):
        exact_topk(gallery[:1], gallery, 0)


def rank_identities_reference(scores, labels, k):
    """Per query: each identity's best score, best k identities (ties by first template)."""
    names, best = [], []
    for row in scores:
        order = np.argsort(-row, kind="stable")
        seen = list(dict.fromkeys(labels[order]))[:k]
        names.append(seen + [""] * (k - len(seen)))
        best.append([row[labels == n].max() for n in seen] + [np.nan] * (k - len(seen)))
    return np.array(names, dtype=object), np.array(best, dtype=np.float32)


@pytest.mark.parametrize("seed", range(5))
def test_rank_identities_keeps_each_person_once(seed):
    rng = np.random.default_rng(seed)
    people = int(rng.integers(1, 12))
    labels = np.array([f"p{x:02d}" for x in rng.integers(0, people, 60)])
    gallery, probes = unit(rng, 60, d=16), unit(rng, 9, d=16)
    k = int(rng.integers(1, 15))
    names, scores = rank_identities(probes, gallery, labels, k, "auto")
    ref_names, ref_scores = rank_identities_reference(probes @ gallery.T, labels, k)
    np.testing.assert_array_equal(names, ref_names)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-6)
    assert scores.dtype == np.float32


def test_ivf_finds_genuine_probes_when_probing_every_cell():
    rng = np.random.default_rng(3)
    gallery = unit(rng, 4000)
    source = rng.integers(0, 4000, 100)
    probes = l2_normalise(0.7 * gallery[source] + 0.3 * unit(rng, 100))
    ivf = FaissIVF(gallery, nlist=16)
    ivf.nprobe = 16  # every cell: exact
    np.testing.assert_array_equal(ivf.search(probes, 1)[1][:, 0], source)


def test_split_enrols_earliest_sessions():
    subject = np.array(["a", "a", "a", "b", "b", "c"])
    session = np.array(["v2", "v0", "v1", "v1", "v0", "v0"])
    split = gallery_probe_split(subject, session, n_enrol=1)
    np.testing.assert_array_equal(split.gallery, [1, 4, 5])
    np.testing.assert_array_equal(split.probes, [0, 2, 3])
    two = gallery_probe_split(subject, session, n_enrol=2)
    np.testing.assert_array_equal(two.gallery, [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(two.probes, [0])
    with pytest.raises(ConfigError, match="at least 1"):
        gallery_probe_split(subject, session, n_enrol=0)
