"""Enrolling sessions of a maps file: choose them, embed them, add them to a gallery.

The checks that cost nothing come first (the gallery target, the chosen rows, the
gallery's model), so a refusal never waits for the embedding.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from gallery.protocol import gallery_probe_split
from gallery.sources import LoadModel, OpenMaps, embed_rows
from gallery.store import LOCK_TIMEOUT, EnrolResult, check_target, enroll, read_gallery
from psbase.errors import InputError


def select_rows(
    subject: np.ndarray, session: np.ndarray, people: list[str] | None, earliest: int | None
) -> np.ndarray:
    """Rows of the chosen people (all when ``people`` is empty), optionally only each
    person's ``earliest`` sessions."""
    rows = np.arange(subject.size)
    if people:
        rows = rows[np.isin(subject, people)]
    if earliest is not None:
        split = gallery_probe_split(subject[rows], session[rows], n_enrol=earliest)
        rows = rows[split.gallery]
    return rows


def enroll_maps(
    maps_path: Path,
    gallery_path: Path,
    run: str | Path,
    *,
    open_maps: OpenMaps,
    load_model: LoadModel,
    people: list[str] | None = None,
    earliest: int | None = None,
    batch_size: int = 256,
    timeout: float = LOCK_TIMEOUT,
    on_wait: Callable[[str], None] | None = None,
) -> EnrolResult:
    """Embed the chosen sessions of ``maps_path`` with the model in ``run`` and enrol them.

    ``people`` and ``earliest`` are :func:`select_rows`'; the gallery is created if
    absent and must otherwise hold the same model's templates. Sessions labelled as
    presentation attacks (test sets) are never enrolled: they are not the person.
    """
    check_target(gallery_path, must_exist=False)  # a maps file or model is refused untouched
    with open_maps(maps_path) as maps:
        subject, session = maps.labels()
        bona_fide = np.flatnonzero(np.asarray(maps.attacks(), dtype=str) == "")
        rows = bona_fide[select_rows(subject[bona_fide], session[bona_fide], people, earliest)]
        if rows.size == 0:
            raise InputError(maps_path, "no sessions to enrol (check --subject)")
        model = load_model(run)
        if gallery_path.exists():  # fail before the slow part; enroll() checks again under lock
            read_gallery(gallery_path).check_model(model.fingerprint, model.modality, str(run))
        emb, quality, subject, session = embed_rows(maps, model, rows, batch_size=batch_size)
    return enroll(
        gallery_path,
        emb,
        quality,
        subject,
        session,
        fingerprint=model.fingerprint,
        modality=model.modality,
        model=str(run),
        timeout=timeout,
        on_wait=on_wait,
    )
