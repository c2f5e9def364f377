"""Identifying every session of a maps file against a gallery (1:N), as answer records.

Each answer is JSON-ready: ``{"subject", "session", "answer", "candidates": [{"subject",
"score"}, ...]}``, candidates best first. The answer is the best candidate, or
``"unknown"`` when there is none or, in the open set (a ``threshold``), when its score
is below the threshold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gallery.search import Method, rank_identities
from gallery.sources import LoadModel, OpenMaps, embed_rows
from gallery.store import read_gallery
from psbase.errors import InputError


def identify_maps(
    maps_path: Path,
    gallery_path: Path,
    run: str | Path,
    *,
    open_maps: OpenMaps,
    load_model: LoadModel,
    top: int = 5,
    threshold: float | None = None,
    per_session: bool = False,
    method: Method = "auto",
    batch_size: int = 256,
) -> list[dict]:
    """Answers for every session of ``maps_path``, searched by the model in ``run``.

    By default each person is their aggregate template; ``per_session`` scores every
    enrolled session and keeps each person's best.
    """
    g = read_gallery(gallery_path)
    if len(g) == 0:
        raise InputError(
            gallery_path, "holds no enrolled people; enrol some with `psface enroll` first"
        )
    model = load_model(run)
    g.check_model(model.fingerprint, model.modality, str(run))
    if g.dim != model.config.embedding_dim:
        raise InputError(
            gallery_path,
            f"holds {g.dim}-dimensional templates but its model gives "
            f"{model.config.embedding_dim}-dimensional embeddings; the file is damaged",
        )
    with open_maps(maps_path) as maps:
        emb, _, subject, session = embed_rows(maps, model, batch_size=batch_size)
    if per_session:
        templates, labels = g.templates, g.subject
    else:
        templates, labels = g.identity_templates, g.identities
    names, scores = rank_identities(emb, templates, labels, top, method)
    return answers(names, scores, subject, session, threshold)


def answers(
    names: np.ndarray,
    scores: np.ndarray,
    subject: np.ndarray,
    session: np.ndarray,
    threshold: float | None = None,
) -> list[dict]:
    """Answer records from :func:`gallery.search.rank_identities`'s (Q, k) candidates."""
    known = names[:, 0] != ""
    if threshold is not None:
        known &= scores[:, 0] >= threshold  # NaN (no candidate) is never above it
    best = np.where(known, names[:, 0], "unknown")
    return [
        {
            "subject": str(subject[q]),
            "session": str(session[q]),
            "answer": str(best[q]),
            "candidates": [
                {"subject": str(n), "score": float(s)}
                for n, s in zip(names[q], scores[q], strict=True)
                if n
            ],
        }
        for q in range(len(names))
    ]
