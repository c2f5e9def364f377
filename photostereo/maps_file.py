"""The maps dataset (``maps.h5``): aligned per-session maps that training, enrolment and
evaluation read.

Schema (INTERFACES.md, version :data:`SCHEMA_VERSION`), one row per session, S the crop:

========== ============ ======== ==================================================
dataset    shape        dtype    content
========== ============ ======== ==================================================
normal     (N, 3, S, S) float32  unit normals (x right, y up, z to camera); 0 off face
albedo     (N, 1, S, S) float32  albedo; 0 off the face
depth      (N, 1, S, S) float32  depth in crop pixels, zero mean on the face, 0 off it
image      (N, 1, S, S) float32  the most frontal capture, aligned like the maps, [0, 1]
mask       (N, 1, S, S) uint8    1 on the face
subject    (N,)         str      identity label (UTF-8)
session    (N,)         str      session label (UTF-8)
========== ============ ======== ==================================================

Root attribute ``schema_version``; more datasets and attributes may sit beside these.
Every array dataset is chunked one sample per chunk and gzip-compressed, so reading one
sample touches one chunk.

Beside them, group ``meta`` holds one row per session too: ``source`` (the session's
path relative to the preprocessed root), ``detection_score`` and ``n_faces`` (MTCNN;
NaN and 0 with ``--no-detect``), ``landmarks`` (N, 5, 2) in the capture's pixels (x
right, y down), ``residual`` (median photometric residual on the face),
``partial_fraction`` (face pixels solved from fewer than all lights) and ``attributes``
(the session's attributes as JSON). Root attributes ``tool_version``, ``size``,
``rig``, ``solver``, ``integrator``, ``config`` (the full configuration, JSON) and
``failed`` (JSON list of the sessions the last run could not use, with reasons).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import h5py
import numpy as np

from psbase.errors import InputError

SCHEMA_VERSION = 1
#: Channels of each modality, in the order a joined modality stacks them.
CHANNELS = {"normal": 3, "albedo": 1, "depth": 1, "image": 1}
MAP_DATASETS = (*CHANNELS, "mask")
LABEL_DATASETS = ("subject", "session")
#: Per-session metadata in group ``meta``: name -> (shape of one row, dtype).
META_DATASETS = {
    "source": ((), "str"),
    "detection_score": ((), np.float32),
    "n_faces": ((), np.int32),
    "landmarks": ((5, 2), np.float32),
    "residual": ((), np.float32),
    "partial_fraction": ((), np.float32),
    "attributes": ((), "str"),
}
_STRING = h5py.string_dtype("utf-8")


def parse_modality(text: str) -> tuple[str, ...]:
    """Split a joined modality (``normal+albedo``) into known names, in the given order."""
    names = tuple(part.strip() for part in text.split("+"))
    unknown = [n for n in names if n not in CHANNELS]
    if unknown or len(set(names)) != len(names) or not names:
        raise InputError(
            text, f"unknown or repeated modality; use {', '.join(CHANNELS)} joined with '+'"
        )
    return names


def create_datasets(handle: h5py.File, size: int) -> None:
    """Create the empty, growable schema datasets in an open file."""
    for name in MAP_DATASETS:
        channels = CHANNELS.get(name, 1)
        handle.create_dataset(
            name,
            shape=(0, channels, size, size),
            maxshape=(None, channels, size, size),
            chunks=(1, channels, size, size),
            dtype=np.uint8 if name == "mask" else np.float32,
            compression="gzip",
            compression_opts=4,
            shuffle=True,
        )
    for name in LABEL_DATASETS:
        handle.create_dataset(name, shape=(0,), maxshape=(None,), dtype=_STRING, chunks=(256,))
    meta = handle.create_group("meta")
    for name, (shape, dtype) in META_DATASETS.items():
        meta.create_dataset(
            name,
            shape=(0, *shape),
            maxshape=(None, *shape),
            chunks=(256, *shape),
            dtype=_STRING if dtype == "str" else dtype,
        )
    handle.attrs["schema_version"] = SCHEMA_VERSION


def append_samples(handle: h5py.File, samples: Iterable[Mapping[str, object]]) -> int:
    """Append samples to an open file; return how many.

    Each sample maps every dataset name (maps, labels, and the ``meta`` names, which
    default to empty where a sample lacks them) to its value.
    """
    batch = list(samples)
    if not batch:
        return 0
    start = handle["subject"].shape[0]
    stop = start + len(batch)
    for name in (*MAP_DATASETS, *LABEL_DATASETS):
        dataset = handle[name]
        dataset.resize(stop, axis=0)
        if name in LABEL_DATASETS:
            dataset[start:stop] = [str(s[name]) for s in batch]
        else:
            dataset[start:stop] = np.stack([np.asarray(s[name]) for s in batch])
    if "meta" in handle:
        for name, (shape, dtype) in META_DATASETS.items():
            dataset = handle["meta"][name]
            dataset.resize(stop, axis=0)
            default = "" if dtype == "str" else np.full(shape, np.nan if dtype == np.float32 else 0)
            values = [s.get(name, default) for s in batch]
            dataset[start:stop] = [str(v) for v in values] if dtype == "str" else np.stack(values)
    return len(batch)


class MapsFile:
    """Read access to a maps dataset, checked against the schema on open."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(self.path, "no such maps file; make one with `psface preprocess`")
        try:
            self.handle = h5py.File(self.path, "r")
        except OSError as error:
            raise InputError(self.path, f"not a readable HDF5 file ({error})") from None
        version = self.handle.attrs.get("schema_version")
        if version is None:
            raise InputError(self.path, "not a psface maps file (no schema_version)")
        if int(version) > SCHEMA_VERSION:
            raise InputError(
                self.path,
                f"schema version {int(version)} is newer than this psface reads "
                f"({SCHEMA_VERSION}); upgrade psface",
            )
        missing = [n for n in (*MAP_DATASETS, *LABEL_DATASETS) if n not in self.handle]
        if missing:
            raise InputError(self.path, f"missing datasets: {', '.join(missing)}")

    def __len__(self) -> int:
        return int(self.handle["subject"].shape[0])

    def __enter__(self) -> MapsFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.handle.close()

    @property
    def size(self) -> int:
        """The crop size S."""
        return int(self.handle["normal"].shape[-1])

    def labels(self) -> tuple[np.ndarray, np.ndarray]:
        """(subject, session) as arrays of str."""
        return tuple(read_strings(self.handle[n]) for n in LABEL_DATASETS)

    def sources(self) -> np.ndarray:
        """Each row's session path relative to the preprocessed root (str)."""
        if "meta" not in self.handle:
            return np.array([f"{a}/{b}" for a, b in zip(*self.labels(), strict=True)])
        return read_strings(self.handle["meta"]["source"])

    def read(self, modality: str, indices: np.ndarray | slice | None = None) -> np.ndarray:
        """The channels of ``modality`` (joined modalities stacked), float32 (n, C, S, S).

        ``indices`` may be a slice or an array of distinct row numbers in any order.
        """
        parts = [self._take(name, indices) for name in parse_modality(modality)]
        return np.concatenate(parts, axis=1).astype(np.float32, copy=False)

    def mask(self, indices: np.ndarray | slice | None = None) -> np.ndarray:
        """The face masks, bool (n, 1, S, S)."""
        return self._take("mask", indices).astype(bool)

    def _take(self, name: str, indices: np.ndarray | slice | None) -> np.ndarray:
        dataset = self.handle[name]
        if indices is None or isinstance(indices, slice):
            return dataset[slice(None) if indices is None else indices]
        indices = np.asarray(indices)
        order = np.argsort(indices)
        out = np.empty((len(indices), *dataset.shape[1:]), dataset.dtype)
        out[order] = dataset[indices[order]]  # HDF5 reads rows in increasing order
        return out


def read_strings(dataset: h5py.Dataset) -> np.ndarray:
    """A UTF-8 string dataset as an array of str (empty datasets included)."""
    return np.asarray(dataset.asstr()[()], dtype=str) if dataset.shape[0] else np.array([], str)
