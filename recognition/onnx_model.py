"""An exported model (``psface export``) run by onnxruntime: embeddings without PyTorch.

:class:`OnnxEmbedder` does what :class:`recognition.embed.Embedder` does for the
gallery workflows and ``psface embed`` (the :class:`gallery.sources.Model` protocol),
from the ONNX file and its metadata alone (layout in :mod:`recognition.export`).
Nothing on this path imports torch: a deployment needs numpy, h5py and onnxruntime.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from psbase.errors import InputError
from recognition.maps_embedder import MapsEmbedder

_KEYS = ("modality", "size", "channels", "embedding_dim", "fingerprint", "tasks", "train_people")


@dataclass(frozen=True)
class OnnxConfig:
    """What the gallery workflows read of a model's config."""

    embedding_dim: int
    multitask: bool


class OnnxEmbedder(MapsEmbedder):
    """An exported model ready to embed maps of its modality (see module docstring)."""

    def __init__(self, path: Path, session: Any, meta: dict[str, str]) -> None:
        self.run = path
        self._session = session
        self.fingerprint = meta["fingerprint"]
        self._size = int(meta["size"])
        self._channels = int(meta["channels"])
        self._modality = meta["modality"]
        tasks = json.loads(meta["tasks"])
        self.config = OnnxConfig(int(meta["embedding_dim"]), bool(tasks))
        self.trained_people = frozenset(json.loads(meta["train_people"]))

    @property
    def modality(self) -> str:
        return self._modality

    @property
    def size(self) -> int:
        return self._size

    @property
    def channels(self) -> int:
        return self._channels

    def _run(self, maps: np.ndarray) -> list[np.ndarray]:
        feed = {self._session.get_inputs()[0].name: np.ascontiguousarray(maps, np.float32)}
        return self._session.run(None, feed)

    def embed(self, maps: np.ndarray, *, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings (n, D) float32 L2-normalised, quality (n,) float32) for maps
        (n, C, S, S) stacked for :attr:`modality`, as ``Embedder.embed`` gives them."""
        maps = self.checked(maps)
        parts = [np.zeros((0, self.config.embedding_dim), np.float32)]
        for start in range(0, len(maps), batch_size):
            parts.append(self._run(maps[start : start + batch_size])[0])
        features = np.concatenate(parts).astype(np.float32)
        magnitude = np.linalg.norm(features, axis=1)
        return features / np.maximum(magnitude, 1e-12)[:, None], magnitude.astype(np.float32)

    def attribute_logits(self, maps: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
        maps = self.checked(maps)
        parts = [self._run(maps[s : s + batch_size])[1] for s in range(0, len(maps), batch_size)]
        return np.concatenate(parts).astype(np.float32)


def load_onnx_embedder(path: str | Path) -> OnnxEmbedder:
    """The exported model at ``path``; a missing, corrupt or foreign file is an
    InputError that says how to make one."""
    import onnxruntime

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such model file; make one with `psface export RUN -o FILE`")
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: no warnings on stderr
    try:
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # onnxruntime raises its own types for a bad file
        raise InputError(path, f"is not a readable ONNX model ({type(error).__name__})") from None
    props = session.get_modelmeta().custom_metadata_map
    missing = [key for key in _KEYS if f"psface_{key}" not in props]
    if missing:
        raise InputError(path, "is not a model exported by `psface export` (no psface metadata)")
    return OnnxEmbedder(path, session, {key: props[f"psface_{key}"] for key in _KEYS})
