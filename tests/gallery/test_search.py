"""Top-k search: blocked NumPy and FAISS agree with the plain reference and each other."""

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
)
from gallery.templates import l2_normalise


def unit(rng, n, d=64):
    return l2_normalise(rng.normal(size=(n, d)))


@pytest.mark.parametrize(("n", "k", "block"), [(5000, 1, 512), (5000, 10, 700), (300, 50, 64)])
def test_numpy_and_faiss_return_the_same_topk(n, k, block):
    rng = np.random.default_rng(n + k)
    gallery, queries = unit(rng, n), unit(rng, 40)
    ref_s, ref_i = exact_topk_reference(queries, gallery, k)
    np_s, np_i = exact_topk(queries, gallery, k, block_rows=block)
    fa_s, fa_i = FaissFlat(gallery).search(queries, k)
    np.testing.assert_array_equal(np_i, ref_i)
    np.testing.assert_array_equal(fa_i, ref_i)
    np.testing.assert_allclose(np_s, ref_s, atol=1e-6)
    np.testing.assert_allclose(fa_s, ref_s, atol=1e-5)
    assert np.all(np.diff(np_s, axis=1) <= 0)


def test_ties_break_by_lower_index():
    gallery = np.repeat(np.eye(4, dtype=np.float32), 3, axis=0)  # each row three times
    ref = exact_topk_reference(gallery[:1], gallery, 5)
    got = exact_topk(gallery[:1], gallery, 5, block_rows=2)
    np.testing.assert_array_equal(got[1], ref[1])
    np.testing.assert_array_equal(got[1][0, :3], [0, 1, 2])


def test_small_gallery_pads_results():
    rng = np.random.default_rng(1)
    gallery, queries = unit(rng, 3), unit(rng, 2)
    for searcher in (build_searcher(gallery, method="numpy"), FaissFlat(gallery)):
        scores, idx = searcher.search(queries, 5)
        assert scores.shape == (2, 5)
        np.testing.assert_array_equal(idx[:, 3:], -1)
        assert np.all(np.isneginf(scores[:, 3:]))


def test_auto_switches_to_faiss_above_threshold():
    rng = np.random.default_rng(2)
    gallery = unit(rng, 100)
    assert type(build_searcher(gallery, threshold=1000)).__name__ == "NumpyExact"
    assert type(build_searcher(gallery, threshold=50)).__name__ == "FaissFlat"
    with pytest.raises(ValueError, match="unknown search method"):
        build_searcher(gallery, method="annoy")


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
    out = gallery_probe_split(subject, session, open_set_fraction=0.5, seed=0)
    assert out.non_mated.size == 3 or out.non_mated.size == 2
    assert not set(subject[out.non_mated]) & set(subject[out.gallery])
