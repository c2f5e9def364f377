"""Identifying every session of a maps file against a gallery (1:N), as answer records.

Each answer is JSON-ready: ``{"subject", "session", "answer", "candidates": [{"subject",
"score"}, ...]}``, candidates best first. The answer is the best candidate, or
``"unknown"`` when there is none or, in the open set (a ``threshold``), when its score
is below the threshold.

Where the maps file measured liveness (:mod:`gallery.liveness`), each answer also holds
``"liveness": {"score", "threshold", "bpcer", "decision"}``; a probe judged a presentation
attack whose answer is an accepted identity gets ``"warning"``, or with ``require_live``
(which also refuses an unknown liveness) the answer ``"unknown"`` and ``"rejected"``
saying why. Files without liveness give the records they always did.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gallery.liveness import DEFAULT_BPCER, Liveness, check_match, read_liveness, worth_reporting
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
    bpcer: float = DEFAULT_BPCER,
    require_live: bool = False,
) -> list[dict]:
    """Answers for every session of ``maps_path``, searched by the model in ``run``.

    By default each person is their aggregate template; ``per_session`` scores every
    enrolled session and keeps each person's best. Each probe's liveness is judged at
    the maps file's threshold for ``bpcer``; ``require_live`` refuses an identity to a
    probe not judged live.
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
        liveness = read_liveness(maps, np.arange(len(maps)), bpcer)
    if per_session:
        templates, labels = g.templates, g.subject
    else:
        templates, labels = g.identity_templates, g.identities
    names, scores = rank_identities(emb, templates, labels, top, method)
    return answers(
        names, scores, subject, session, threshold, liveness=liveness, require_live=require_live
    )


def answers(
    names: np.ndarray,
    scores: np.ndarray,
    subject: np.ndarray,
    session: np.ndarray,
    threshold: float | None = None,
    *,
    liveness: Sequence[Liveness] | None = None,
    require_live: bool = False,
) -> list[dict]:
    """Answer records from :func:`gallery.search.rank_identities`'s (Q, k) candidates,
    with each probe's ``liveness`` (one per probe; None: not measured)."""
    known = names[:, 0] != ""
    if threshold is not None:
        known &= scores[:, 0] >= threshold  # NaN (no candidate) is never above it
    best = np.where(known, names[:, 0], "unknown")
    if liveness is None:
        liveness = [Liveness(float("nan"), None) for _ in range(len(names))]
    if len(liveness) != len(names):
        raise ValueError(f"{len(liveness)} liveness verdicts for {len(names)} probes")
    shown = worth_reporting(liveness, require_live)
    records = []
    for q in range(len(names)):
        probe = f"{subject[q]}/{session[q]}"
        record: dict = {
            "subject": str(subject[q]),
            "session": str(session[q]),
            "answer": str(best[q]),
            "candidates": [
                {"subject": str(n), "score": float(s)}
                for n, s in zip(names[q], scores[q], strict=True)
                if n
            ],
        }
        if shown:
            record["liveness"] = liveness[q].as_json()
        check = check_match(
            {probe: liveness[q]}, accepted=bool(known[q]), require_live=require_live
        )
        if check.warning is not None:
            record["warning"] = check.warning
        if check.rejection is not None:
            record["answer"] = "unknown"
            record["rejected"] = f"{best[q]} refused: {check.rejection}"
        records.append(record)
    return records
