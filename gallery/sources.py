"""What gallery's workflows need from a maps file and a trained model, named as protocols.

gallery sits below the packages that read maps files and load models (recognition
trains with gallery's metrics), so it never imports them. A workflow (enrol, identify,
verify, evaluate) is handed two callables instead: ``open_maps(path)``, a context
manager giving an open :class:`Maps` (``photostereo.maps_file.MapsFile`` is one), and
``load_model(run)``, giving a :class:`Model` (``recognition.embed.load_embedder`` with
its device bound is one). Only what the protocols list is used.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
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


class ModelConfig(Protocol):
    @property
    def embedding_dim(self) -> int: ...


class Model(Protocol):
    """A trained embedder: what identifies it, and embedding rows of an open maps file."""

    @property
    def fingerprint(self) -> str: ...

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
