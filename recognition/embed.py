"""Trained runs to embeddings with PyTorch: load a run, embed maps in batches.

:func:`load_embedder` rebuilds the model from ``RUN/config.json`` and loads
``RUN/model.safetensors`` (no pickle). :class:`Embedder` turns maps stacked as
``MapsFile.read(modality)`` returns them into L2-normalised embeddings and a quality
score, the feature magnitude before normalisation (meaningful under MagFace).
:mod:`recognition.onnx_model` does the same for an exported model without PyTorch, and
:mod:`recognition.embeddings_file` writes either's embeddings to emb.h5.

Long work reports through ``progress(done, total)``; drawing a bar is the caller's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from photostereo.maps_file import CHANNELS
from psbase.errors import InputError
from recognition.checkpoint import check_tensors, load_tensors, save_tensors
from recognition.config import TrainConfig, load_config, save_config
from recognition.device import autocast, autocast_dtype, resolve_device, uses_channels_last
from recognition.fusion import EmbeddingModel
from recognition.maps_embedder import MapsEmbedder
from recognition.models import RUN_FILES
from recognition.multitask import attribute_logits

MODEL_FILE = RUN_FILES[1]


@torch.no_grad()
def embed_arrays(
    model: EmbeddingModel,
    maps: np.ndarray,
    *,
    device: torch.device,
    batch_size: int = 256,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings (n, D) float32 L2-normalised, magnitudes (n,) float32) in eval mode."""
    was_training = model.training
    model.eval()
    embeddings, magnitudes = [], []
    try:
        for start in range(0, len(maps), batch_size):
            chunk = np.nan_to_num(maps[start : start + batch_size], nan=0.0)
            x = torch.from_numpy(np.ascontiguousarray(chunk, np.float32)).to(device)
            x = model.scale_inputs(x)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(device, amp_dtype):
                features = model(x).float()
            magnitudes.append(features.norm(dim=1).cpu())
            embeddings.append(F.normalize(features).cpu())
    finally:
        model.train(was_training)
    dim = model.embedding_dim
    if not embeddings:
        return np.zeros((0, dim), np.float32), np.zeros(0, np.float32)
    return torch.cat(embeddings).numpy(), torch.cat(magnitudes).numpy()


def save_model(run: str | Path, model: EmbeddingModel, config: TrainConfig) -> None:
    """RUN/model.safetensors (weights and input scale) and RUN/config.json."""
    run = Path(run)
    save_config(config, run / "config.json")
    save_tensors(run / MODEL_FILE, model.state_dict(), {"config": config.to_dict()})


def fingerprint(weights: Path, config: TrainConfig) -> str:
    """sha256 over the weight file's bytes and the canonical config JSON."""
    digest = hashlib.sha256()
    with weights.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    digest.update(config.to_json().encode())
    return digest.hexdigest()


@dataclass
class Embedder(MapsEmbedder):
    """A trained run ready to embed maps of its modality, through PyTorch."""

    model: EmbeddingModel
    config: TrainConfig
    fingerprint: str
    device: torch.device
    run: Path
    #: None: the run folder's split.json names its training people.
    trained_people: frozenset[str] | None = None

    @property
    def modality(self) -> str:
        return self.config.modality

    @property
    def size(self) -> int:
        return self.config.size

    @property
    def channels(self) -> int:
        return sum(CHANNELS[m] for m in self.config.modalities)

    def embed(self, maps: np.ndarray, *, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings (n, D) float32 L2-normalised, quality (n,) float32) for maps
        (n, C, S, S) stacked for :attr:`modality`."""
        return embed_arrays(
            self.model,
            self.checked(maps),
            device=self.device,
            batch_size=batch_size,
            amp_dtype=autocast_dtype(self.config, self.device),
            channels_last=uses_channels_last(self.config, self.device),
        )

    def attribute_logits(self, maps: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
        maps = np.nan_to_num(self.checked(maps), nan=0.0)
        return attribute_logits(self.model, maps, device=self.device, batch_size=batch_size)


def load_embedder(run_dir: str | Path, *, device: str | None = None) -> Embedder:
    """The trained model in ``run_dir``; a missing or corrupt run is an InputError."""
    run = Path(run_dir)
    if run.exists() and not run.is_dir():
        raise InputError(run, "is a file; --model names a run folder made by `psface train`")
    if not run.is_dir():
        raise InputError(run, "no such run folder; train one with `psface train`")
    config = load_config(run / "config.json")
    weights = run / MODEL_FILE
    tensors, _ = load_tensors(weights)
    model = EmbeddingModel(config)
    check_tensors(weights, tensors, model.state_dict(), against="config.json")
    model.load_state_dict(tensors)
    resolved = resolve_device(device)
    model.to(resolved).eval()
    if uses_channels_last(config, resolved):
        model.to(memory_format=torch.channels_last)
    return Embedder(model, config, fingerprint(weights, config), resolved, run)
