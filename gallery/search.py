"""1:N search: the k gallery rows most similar (cosine) to each query.

Every searcher takes L2-normalised float32 rows, so the inner product is the cosine, and
returns ``(scores, indices)``, both (Q, k), best first; where the gallery has fewer than
k rows the missing slots hold score ``-inf`` and index ``-1``.

* :func:`exact_topk` — NumPy, blocked matrix products; the default for small galleries.
* :class:`FaissFlat` — FAISS ``IndexFlatIP``, also exact; chosen above
  :data:`FAISS_THRESHOLD` rows, or by asking for ``"faiss"``.
* :class:`FaissIVF` — FAISS ``IndexIVFFlat``, approximate (a query scans only the
  ``nprobe`` cells nearest to it); only on request, since it may miss the true best.
* :func:`exact_topk_reference` — the full score matrix and a sort; the readable
  reference the others are tested against.

Nothing here reads files; FAISS is imported only when a FAISS searcher is built.
"""

from __future__ import annotations

import math
from typing import Literal, Protocol

import numpy as np

#: Gallery rows from which ``method="auto"`` switches from NumPy to FAISS (exact).
FAISS_THRESHOLD = 100_000
#: Gallery rows per matrix product in :func:`exact_topk` (2^16 x Q scores at a time).
BLOCK_ROWS = 65_536
Method = Literal["auto", "numpy", "faiss", "ivf"]
METHODS: tuple[str, ...] = ("auto", "numpy", "faiss", "ivf")


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
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    return queries, gallery


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


def exact_topk(
    queries: np.ndarray, gallery: np.ndarray, k: int, *, block_rows: int = BLOCK_ROWS
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by cosine, one gallery block at a time.

    Each block's (Q, b) scores come from one matrix product (BLAS, all cores). The
    running top-k of every query gives a bar: only scores above it can enter, so after
    the first block a cheap comparison discards almost everything and only the few
    survivors are merged. A block with many survivors (the first, or an adversarial
    order) is cut to its own top-k by ``argpartition`` first. Memory: ``Q * block_rows``
    scores. Ties are broken by the lower gallery index, like the reference.
    """
    queries, gallery = _check(queries, gallery, k)
    n_queries, n = queries.shape[0], gallery.shape[0]
    best_s = np.full((n_queries, k), -np.inf, np.float32)
    best_i = np.full((n_queries, k), -1, np.int64)
    # A small first block sets every query's bar cheaply; the big blocks then only filter.
    first = min(block_rows, max(4096, 64 * k))
    for start in [0, *range(first, n, block_rows)] if n else []:
        stop = first if start == 0 else start + block_rows
        scores = queries @ gallery[start:stop].T  # (Q, b)
        b = scores.shape[1]
        bar = best_s[:, -1:]
        survivors = scores > bar  # a tie with the bar loses: later blocks have higher indices
        count = int(np.count_nonzero(survivors))
        if count > max(4 * n_queries * k, scores.size // 16) and b > k:
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            cand_s = np.take_along_axis(scores, top, axis=1)
            cand_i = top.astype(np.int64) + start
            best_s, best_i = _sort_rows(np.hstack([best_s, cand_s]), np.hstack([best_i, cand_i]), k)
        elif count:
            best_s, best_i = _merge_sparse(best_s, best_i, survivors, scores, start, k)
    return best_s, best_i


def _merge_sparse(
    best_s: np.ndarray,
    best_i: np.ndarray,
    survivors: np.ndarray,
    scores: np.ndarray,
    start: int,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Merge a few (row, column) survivors into the running (Q, k) top-k."""
    flat = np.flatnonzero(survivors)  # far faster than a 2-D np.nonzero
    rows, cols = np.divmod(flat, survivors.shape[1])
    n_queries = best_s.shape[0]
    all_rows = np.concatenate([np.repeat(np.arange(n_queries), k), rows])
    all_s = np.concatenate([best_s.ravel(), scores[rows, cols]])
    all_i = np.concatenate([best_i.ravel(), cols.astype(np.int64) + start])
    # Sort by row, then score descending, then index ascending; keep the first k per row.
    # Padding slots (index -1, score -inf) sort last among their row.
    order = np.lexsort((all_i, -all_s, all_rows))
    all_rows, all_s, all_i = all_rows[order], all_s[order], all_i[order]
    row_start = np.searchsorted(all_rows, np.arange(n_queries))
    take = row_start[:, None] + np.arange(k)[None, :]  # each row has >= k entries
    return all_s[take], all_i[take]


class NumpyExact:
    """:func:`exact_topk` over a fixed gallery, behind the :class:`Searcher` interface."""

    def __init__(self, gallery: np.ndarray, *, block_rows: int = BLOCK_ROWS) -> None:
        self.gallery = _as_rows(gallery, "gallery")
        self.block_rows = block_rows

    def __len__(self) -> int:
        return self.gallery.shape[0]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return exact_topk(queries, self.gallery, k, block_rows=self.block_rows)


def _faiss():
    import faiss  # imported here: it is heavy and only large galleries need it

    return faiss


def _faiss_result(scores: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    indices = indices.astype(np.int64)
    scores = np.where(indices < 0, -np.inf, scores).astype(np.float32)
    return scores, indices


class FaissFlat:
    """Exact inner-product search with FAISS ``IndexFlatIP`` (same top-k as NumPy)."""

    def __init__(self, gallery: np.ndarray) -> None:
        faiss = _faiss()
        gallery = _as_rows(gallery, "gallery")
        self.index = faiss.IndexFlatIP(gallery.shape[1])
        self.index.add(gallery)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = _as_rows(queries, "queries")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}.")
        return _faiss_result(*self.index.search(queries, k))


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
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}.")
        return _faiss_result(*self.index.search(queries, k))


def build_searcher(
    gallery: np.ndarray, *, method: Method = "auto", threshold: int = FAISS_THRESHOLD
) -> Searcher:
    """The searcher for ``method``; ``auto`` is NumPy below ``threshold`` rows, else FAISS.

    ``auto``, ``numpy`` and ``faiss`` are exact and return the same top-k; ``ivf`` is
    approximate and used only when asked for.
    """
    if method not in METHODS:
        raise ValueError(f"unknown search method {method!r}; use one of {', '.join(METHODS)}.")
    if method == "auto":
        method = "faiss" if len(gallery) >= threshold else "numpy"
    if method == "numpy":
        return NumpyExact(gallery)
    if method == "faiss":
        return FaissFlat(gallery)
    return FaissIVF(gallery)
