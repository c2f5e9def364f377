"""emb.h5: one L2-normalised embedding per sample of a maps file (``psface embed``).

Layout (:func:`write_embeddings`): datasets ``embedding`` (N, D) float32, ``quality``
(N,) float32, ``subject`` and ``session`` (N,) UTF-8 strings; attributes
``model_fingerprint``, ``modality`` and ``schema_version``. The model is a run folder or
an exported file (:func:`recognition.models.load_model`); with an exported one nothing
here imports PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from photostereo.maps_file import MapsFile
from psbase.hdf5 import write_hdf5_atomically
from psbase.outputs import check_output_file
from recognition.models import load_model, model_files

EMBEDDINGS_SCHEMA_VERSION = 1


def write_embeddings(
    path: str | Path,
    embeddings: np.ndarray,
    quality: np.ndarray,
    subjects: np.ndarray,
    sessions: np.ndarray,
    *,
    model_fingerprint: str,
    modality: str,
) -> None:
    """Write emb.h5 (layout in the module docstring) atomically, owner-only."""
    strings = h5py.string_dtype("utf-8")

    def fill(handle: h5py.File) -> None:
        handle.create_dataset("embedding", data=embeddings.astype(np.float32))
        handle.create_dataset("quality", data=quality.astype(np.float32))
        handle.create_dataset("subject", data=[str(s) for s in subjects], dtype=strings)
        handle.create_dataset("session", data=[str(s) for s in sessions], dtype=strings)
        handle.attrs["model_fingerprint"] = model_fingerprint
        handle.attrs["modality"] = modality
        handle.attrs["schema_version"] = EMBEDDINGS_SCHEMA_VERSION

    write_hdf5_atomically(path, fill)


def embed_dataset(
    maps_path: str | Path,
    model: str | Path,
    out: str | Path,
    *,
    overwrite: bool = False,
    batch_size: int = 256,
    device: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, str]:
    """Embed every sample of ``maps_path`` with ``model`` (a run folder or an exported
    file) into ``out`` (emb.h5); return (samples, modality). ``out`` is checked first,
    so a refusal costs no work."""
    check_output_file(out, overwrite=overwrite, inputs=[Path(maps_path), *model_files(model)])
    embedder = load_model(model, device=device)
    with MapsFile(maps_path) as maps_file:
        embeddings, quality = embedder.embed_file(
            maps_file, batch_size=batch_size, progress=progress
        )
        subjects, sessions = maps_file.labels()
    write_embeddings(
        out,
        embeddings,
        quality,
        subjects,
        sessions,
        model_fingerprint=embedder.fingerprint,
        modality=embedder.modality,
    )
    return len(embeddings), embedder.modality
