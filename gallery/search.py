"""1:N search: the k gallery rows most similar (cosine) to each query.

Every searcher takes L2-normalised float32 rows, so the inner product is the cosine, and
returns ``(scores, indices)``, both (Q, k), best first; where the gallery has fewer than
k rows the missing slots hold score ``-inf`` and index ``-1``.

* :class:`FaissFlat` — FAISS ``IndexFlatIP``, exact, with equal scores in gallery order
  (FAISS leaves their order, and which of them make the top k, unspecified);
  :func:`exact_topk` is a one-off search with it.
* :class:`FaissIVF` — FAISS ``IndexIVFFlat``, approximate (a query scans only the
  ``nprobe`` cells nearest to it); only on request, since it may miss the true best.
* :func:`exact_topk_reference` — the full score matrix and a sort; the readable
  reference the others are tested against.
* :func:`rank_identities` — the best k *distinct* identities, for galleries holding
  several templates per person.

Nothing here reads files; FAISS is imported only when a FAISS searcher is built.
"""

from __future__ import annotations

import math
from typing import Literal, Protocol

import numpy as np

from psbase.errors import ConfigError

#: ``auto``, ``numpy`` and ``faiss`` all name the exact search (``identify --search``).
Method = Literal["auto", "numpy", "faiss", "ivf"]
METHODS: tuple[str, ...] = ("auto", "numpy", "faiss", "ivf")
#: Scores per exact re-ranking of queries tied across the k-th place (bounds its memory).
TIE_SCORES = 1 << 22


class Searcher(Protocol):
    """What ``identify`` needs from an index: its size and a batched top-k."""

    def __len__(self) -> int: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...


def _as_rows(array: np.ndarray, name: str) -> np.ndarray:
    array = np.ascontiguousarray(array, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (rows, dim) array, got shape {array.shape}.")
    return array


def _check(queries: np.ndarray, gallery: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    queries, gallery = _as_rows(queries, "queries"), _as_rows(gallery, "gallery")
    if queries.shape[1] != gallery.shape[1]:
        raise ValueError(
            f"queries have dimension {queries.shape[1]}, the gallery {gallery.shape[1]}."
        )
    _check_k(k)
    return queries, gallery


def _check_k(k: int) -> None:
    if k < 1:
        raise ConfigError(f"candidates per query must be at least 1, got {k}")


def _pad(scores: np.ndarray, indices: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Widen (Q, m) results with m < k to (Q, k) with -inf / -1."""
    missing = k - scores.shape[1]
    if missing <= 0:
        return scores, indices
    q = scores.shape[0]
    return (
        np.hstack([scores, np.full((q, missing), -np.inf, np.float32)]),
        np.hstack([indices, np.full((q, missing), -1, np.int64)]),
    )


def _sort_rows(scores: np.ndarray, indices: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: best k by score descending, ties by index ascending (deterministic)."""
    # Sort by index first, then stably by score, so equal scores keep index order.
    by_index = np.argsort(indices, axis=1, kind="stable")
    scores = np.take_along_axis(scores, by_index, axis=1)
    indices = np.take_along_axis(indices, by_index, axis=1)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(indices, order, axis=1)


def exact_topk_reference(
    queries: np.ndarray, gallery: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The full (Q, N) score matrix, sorted: slow and memory-hungry, but plainly right."""
    queries, gallery = _check(queries, gallery, k)
    scores = queries @ gallery.T
    indices = np.broadcast_to(np.arange(gallery.shape[0], dtype=np.int64), scores.shape)
    return _pad(*_sort_rows(scores, indices, k), k)


def _faiss():
    import faiss  # imported here: it is heavy and only searching needs it

    return faiss


def _faiss_result(scores: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    indices = indices.astype(np.int64)
    scores = np.where(indices < 0, -np.inf, scores).astype(np.float32)
    return scores, indices


class FaissFlat:
    """Exact inner-product search with FAISS ``IndexFlatIP``; ties as the reference.

    FAISS returns the right scores but may order equal ones, and choose among those
    tied at the k-th place, as it likes. Asking for k + 1 settles it: where the
    (k + 1)-th score is below the k-th, the top-k *set* is exact and only needs
    sorting by (score, index); a query tied across the boundary (duplicate templates)
    is re-ranked by :func:`exact_topk_reference`.
    """

    def __init__(self, gallery: np.ndarray) -> None:
        faiss = _faiss()
        self.gallery = _as_rows(gallery, "gallery")
        self.index = faiss.IndexFlatIP(self.gallery.shape[1])
        self.index.add(self.gallery)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries, _ = _check(queries, self.gallery, k)
        scores, indices = _faiss_result(*self.index.search(queries, k + 1))
        tied = np.flatnonzero((scores[:, k] == scores[:, k - 1]) & (indices[:, k] >= 0))
        scores, indices = _sort_rows(scores[:, :k], indices[:, :k], k)
        step = max(1, TIE_SCORES // max(len(self), 1))
        for start in range(0, tied.size, step):
            rows = tied[start : start + step]
            scores[rows], indices[rows] = exact_topk_reference(queries[rows], self.gallery, k)
        return scores, indices


def exact_topk(queries: np.ndarray, gallery: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by cosine: :class:`FaissFlat` built for one search (ties by index)."""
    return FaissFlat(gallery).search(queries, k)


class FaissIVF:
    """Approximate search with FAISS ``IndexIVFFlat`` (inverted file over k-means cells).

    The gallery is split into ``nlist`` cells (k-means on a sample of at most
    ``train_size`` rows); a query scores only the rows of the ``nprobe`` cells whose
    centres are closest to it. Cost per query is about ``nprobe / nlist`` of an exact
    search; recall depends on the data, so measure it (``benchmarks/bench_gallery.py``).
    Defaults: ``nlist = 4 sqrt(N)``, ``nprobe = nlist / 64`` (at least 8), k-means on
    ``32 nlist`` sampled rows for ``niter`` rounds.
    """

    def __init__(
        self,
        gallery: np.ndarray,
        *,
        nlist: int | None = None,
        nprobe: int | None = None,
        train_size: int | None = None,
        niter: int = 10,
        seed: int = 0,
    ) -> None:
        faiss = _faiss()
        gallery = _as_rows(gallery, "gallery")
        n, d = gallery.shape
        if n == 0:
            raise ValueError("an IVF index needs at least one gallery row.")
        self.nlist = nlist or max(1, min(n, int(4 * math.sqrt(n))))
        quantizer = faiss.IndexFlatIP(d)
        self.index = faiss.IndexIVFFlat(quantizer, d, self.nlist, faiss.METRIC_INNER_PRODUCT)
        train_size = train_size or 32 * self.nlist
        rng = np.random.default_rng(seed)
        sample = gallery if n <= train_size else gallery[rng.choice(n, train_size, replace=False)]
        self.index.cp.seed = seed
        self.index.cp.niter = niter
        self.index.cp.min_points_per_centroid = 1  # a small sample is enough; keep quiet
        self.index.train(sample)
        self.index.add(gallery)
        self.nprobe = nprobe or min(self.nlist, max(8, self.nlist // 64))
        self._quantizer = quantizer  # FAISS does not own it; keep it alive

    @property
    def nprobe(self) -> int:
        return int(self.index.nprobe)

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self.index.nprobe = int(value)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = _as_rows(queries, "queries")
        _check_k(k)
        return _faiss_result(*self.index.search(queries, k))


def build_searcher(gallery: np.ndarray, *, method: Method = "auto") -> Searcher:
    """The searcher for ``method``: exact (:class:`FaissFlat`) unless ``ivf`` is asked for.

    ``auto``, ``numpy`` and ``faiss`` all name the exact search and return the same
    top-k; ``ivf`` is approximate and used only when asked for.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown search method {method!r}; use one of {', '.join(METHODS)}")
    return FaissIVF(gallery) if method == "ivf" else FaissFlat(gallery)


def rank_identities(
    queries: np.ndarray, templates: np.ndarray, labels: np.ndarray, k: int, method: Method
) -> tuple[np.ndarray, np.ndarray]:
    """The k best distinct identities per query, when a person may hold several templates.

    Returns ``(labels (Q, k) object, scores (Q, k) float32)``, best first, each identity
    scored by its best template; slots beyond the identities found hold ``""`` and NaN.
    Searching ``k`` times the most templates any identity holds always finds k distinct
    identities (where the gallery has them).
    """
    labels = np.asarray(labels)
    searcher = build_searcher(templates, method=method)
    per_label = int(np.unique(labels, return_counts=True)[1].max()) if labels.size else 1
    scores, idx = searcher.search(queries, min(len(templates), k * per_label) or 1)
    _, codes = np.unique(labels, return_inverse=True)
    code = np.where(idx >= 0, codes[np.maximum(idx, 0)], -1)
    # Keep each identity's first (best) hit: after a stable sort by code, the first of
    # each run of equal codes.
    by_code = np.argsort(code, axis=1, kind="stable")
    sorted_code = np.take_along_axis(code, by_code, axis=1)
    first_sorted = np.ones(code.shape, bool)
    first_sorted[:, 1:] = sorted_code[:, 1:] != sorted_code[:, :-1]
    first = np.zeros(code.shape, bool)
    np.put_along_axis(first, by_code, first_sorted, axis=1)
    keep = first & (idx >= 0)
    slot = np.cumsum(keep, axis=1) - 1  # the output column of each kept hit
    keep &= slot < k
    rows, cols = np.nonzero(keep)
    out_labels = np.full((len(scores), k), "", dtype=object)
    out_scores = np.full((len(scores), k), np.nan, scores.dtype)
    out_labels[rows, slot[rows, cols]] = labels[idx[rows, cols]]
    out_scores[rows, slot[rows, cols]] = scores[rows, cols]
    return out_labels, out_scores
