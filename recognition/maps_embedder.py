"""What every embedder does with maps, whatever runs its network (PyTorch or
onnxruntime): check their shape, and embed an open maps file batch by batch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from psbase.errors import ConfigError, InputError
from recognition.attributes import TASKS


class MapsEmbedder:
    """A base for embedders: subclasses give ``run``, ``modality``, ``size``,
    ``channels``, ``config`` (with ``embedding_dim`` and ``multitask``), and the
    network's :meth:`embed` and :meth:`attribute_logits` on stacked maps."""

    run: Path
    config: Any

    @property
    def modality(self) -> str:
        raise NotImplementedError

    @property
    def size(self) -> int:
        raise NotImplementedError

    @property
    def channels(self) -> int:
        raise NotImplementedError

    def embed(self, maps: np.ndarray, *, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings (n, D) float32 L2-normalised, quality (n,) float32)."""
        raise NotImplementedError

    def attribute_logits(self, maps: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
        """(n, T) attribute-head logits of a multi-task model."""
        raise NotImplementedError

    def checked(self, maps: np.ndarray) -> np.ndarray:
        """``maps`` if shaped (n, C, S, S) for this model; else a one-line error."""
        maps = np.asarray(maps)
        expected = (self.channels, self.size, self.size)
        if maps.ndim != 4 or maps.shape[1:] != expected:
            raise ConfigError(
                f"model {self.run} takes {self.modality} maps shaped (n, {expected[0]}, "
                f"{expected[1]}, {expected[2]}), got {tuple(maps.shape)}"
            )
        return maps

    def _rows(self, maps_file: Any, indices: np.ndarray | None) -> np.ndarray:
        if maps_file.size != self.size:
            raise InputError(
                maps_file.path,
                f"maps are {maps_file.size} px but model {self.run} takes {self.size} px",
            )
        return np.arange(len(maps_file)) if indices is None else np.asarray(indices)

    def embed_file(
        self,
        maps_file: Any,
        indices: np.ndarray | None = None,
        *,
        batch_size: int = 256,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Embed samples of an open maps file (all, or ``indices``), reading batch by batch;
        ``progress(done, total)`` counts samples."""
        rows = self._rows(maps_file, indices)
        parts_e = [np.zeros((0, self.config.embedding_dim), np.float32)]
        parts_q = [np.zeros(0, np.float32)]
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            emb, quality = self.embed(maps_file.read(self.modality, chunk), batch_size=batch_size)
            parts_e.append(emb)
            parts_q.append(quality)
            if progress is not None:
                progress(start + len(chunk), len(rows))
        return np.concatenate(parts_e), np.concatenate(parts_q)

    def attribute_logits_file(
        self,
        maps_file: Any,
        indices: np.ndarray | None = None,
        *,
        batch_size: int = 256,
    ) -> np.ndarray | None:
        """(n, T) attribute-head logits of a multi-task model for samples of an open maps
        file (all, or ``indices``), read batch by batch, columns in
        :data:`recognition.attributes.TASKS` order; None for a single-task model."""
        if not self.config.multitask:
            return None
        rows = self._rows(maps_file, indices)
        parts = []
        for start in range(0, len(rows), batch_size):
            maps = maps_file.read(self.modality, rows[start : start + batch_size])
            parts.append(self.attribute_logits(maps, batch_size=batch_size))
        return np.concatenate(parts) if parts else np.zeros((0, len(TASKS)), np.float32)
