"""What gallery's workflows need from a maps file and a trained model, named as protocols.

gallery sits below the packages that read maps files and load models (recognition
trains with gallery's metrics), so it never imports them. A workflow (enrol, identify,
verify, evaluate) is handed two callables instead: ``open_maps(path)``, a context
manager giving an open :class:`Maps` (``photostereo.maps_file.MapsFile`` is one), and
``load_model(run)``, giving a :class:`Model` (``recognition.embed.load_embedder`` with
its device bound is one). Only what the protocols list is used. ``psface evaluate``
also hands in an :class:`AttributeReader`: the attribute vocabulary, which lives with
the multi-task heads in ``recognition.attributes``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np


class Maps(Protocol):
    """An open maps dataset: where it is, and the labels of its rows."""

    @property
    def path(self) -> Path: ...

    def __len__(self) -> int: ...

    def labels(self) -> tuple[np.ndarray, np.ndarray]:
        """(subject (N,), session (N,)) strings."""
        ...

    def attributes(self) -> np.ndarray:
        """(N,) each row's session attributes as JSON object text ("{}" where none)."""
        ...

    def attacks(self) -> np.ndarray:
        """(N,) each row's presentation attack type as str; "" for a bona fide session."""
        ...

    def liveness(self) -> np.ndarray:
        """(N,) float32 liveness scores, higher = more likely live; NaN: not measured."""
        ...

    def learned_liveness(self) -> np.ndarray:
        """(N,) float32 scores of the learned liveness networks, recorded beside the
        deciding score but not deciding; NaN: not measured."""
        ...

    def liveness_threshold(self, bpcer: float) -> float | None:
        """The calibrated liveness threshold for a bona fide rejection rate ``bpcer``
        (score >= threshold: bona fide); None without a calibration."""
        ...


class ModelConfig(Protocol):
    @property
    def embedding_dim(self) -> int: ...


class Model(Protocol):
    """A trained embedder: what identifies it, and embedding rows of an open maps file."""

    @property
    def fingerprint(self) -> str: ...

    @property
    def trained_people(self) -> frozenset[str] | None:
        """The people the model was trained on where it carries them (an exported
        model does); None: the run folder's split.json says."""
        ...

    @property
    def config(self) -> ModelConfig: ...

    @property
    def modality(self) -> str: ...

    def embed_file(
        self,
        maps_file: Any,
        indices: np.ndarray | None = None,
        *,
        batch_size: int = 256,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings (n, D) float32, unit rows; quality (n,) float32)."""
        ...

    def attribute_logits_file(
        self,
        maps_file: Any,
        indices: np.ndarray | None = None,
        *,
        batch_size: int = 256,
    ) -> np.ndarray | None:
        """(n, T) logits of the model's attribute heads, columns in the
        :class:`AttributeReader`'s task order; None for a model without heads."""
        ...


@dataclass(frozen=True)
class AttributeReader:
    """Attribute labels from a maps file's per-row attributes (JSON text).

    ``labels(records)`` gives (labels (n, T) 0/1, known (n, T) bool), columns in
    ``tasks`` order (a model's attribute logits share it); ``changed(enrolled, probes)``
    gives (n, k) bool, columns in ``change_tasks`` order: whether each probe's attribute
    differs from ``enrolled``, the same person's record (False where either is unknown).
    ``recognition.attributes`` is one (:func:`psface.readers.attribute_reader`).
    """

    tasks: tuple[str, ...]
    change_tasks: tuple[str, ...]
    labels: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    changed: Callable[[np.ndarray, np.ndarray], np.ndarray]


OpenMaps = Callable[[Path], AbstractContextManager[Maps]]
LoadModel = Callable[[str | Path], Model]


def embed_rows(
    maps: Maps,
    model: Model,
    rows: np.ndarray | None = None,
    *,
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(embeddings, quality, subject, session) for ``rows`` of an open maps file (all)."""
    subject, session = maps.labels()
    rows = np.arange(len(maps)) if rows is None else rows
    emb, quality = model.embed_file(maps, rows, batch_size=batch_size)
    return emb, quality, subject[rows], session[rows]
