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
path relative to the folder it was preprocessed from), ``root`` (that folder, resolved:
one file may hold several roots, added with ``--append``, and a session is identified
by ``root`` and ``source`` together, so equal relative paths under two roots never
collide), ``detection_score`` and ``n_faces`` (MTCNN;
NaN and 0 with ``--no-detect``), ``landmarks`` (N, 5, 2) in the capture's pixels (x
right, y down), ``residual`` (median photometric residual on the face),
``partial_fraction`` (face pixels solved from fewer than all lights) and ``attributes``
(the session's attributes as JSON). Root attributes ``tool_version``, ``size``,
``rig``, ``solver``, ``integrator``, ``config`` (the full configuration, JSON) and
``failed`` (JSON list of the sessions the last run could not use, with reasons).

:class:`MapsFile` checks all of this on open (dtypes, shapes, one length for every
dataset, the ``meta`` rows present), so a damaged or foreign file is one line naming the
dataset, never a silently shorter read.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import h5py
import numpy as np

from photostereo.liveness_cues import CUES
from psbase.errors import ConfigError, InputError, one_line
from psbase.hdf5 import read_strings

SCHEMA_VERSION = 1
#: Channels of each modality, in the order a joined modality stacks them.
CHANNELS = {"normal": 3, "albedo": 1, "depth": 1, "image": 1}
MAP_DATASETS = (*CHANNELS, "mask")
LABEL_DATASETS = ("subject", "session")
#: Per-session metadata in group ``meta``: name -> (shape of one row, dtype).
META_DATASETS: dict[str, tuple[tuple[int, ...], str | type[np.generic]]] = {
    "source": ((), "str"),
    "root": ((), "str"),
    "detection_score": ((), np.float32),
    "n_faces": ((), np.int32),
    "landmarks": ((5, 2), np.float32),
    "residual": ((), np.float32),
    "partial_fraction": ((), np.float32),
    "attributes": ((), "str"),
    "attack": ((), "str"),
    "liveness": ((), np.float32),
    "liveness_learned": ((), np.float32),
    "liveness_cues": ((len(CUES),), np.float32),
}
_STRING = h5py.string_dtype("utf-8")
#: What h5py raises for a file it cannot read as asked (damage, a missing filter, bad UTF-8).
_READ_ERRORS = (OSError, UnicodeDecodeError)


def parse_modality(text: str) -> tuple[str, ...]:
    """Split a joined modality (``normal+albedo``) into known names, in the given order."""
    names = tuple(part.strip() for part in text.split("+"))
    unknown = [n for n in names if n not in CHANNELS]
    if unknown or len(set(names)) != len(names) or not names:
        raise ConfigError(
            f"modality {text!r}: unknown or repeated name; use {', '.join(CHANNELS)} "
            "joined with '+' (for example normal+albedo)"
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
    handle.create_group("meta")
    add_missing_meta(handle)
    handle.attrs["schema_version"] = SCHEMA_VERSION


def meta_default(name: str) -> object:
    """What a row of ``meta`` dataset ``name`` holds where nothing was recorded."""
    shape, dtype = META_DATASETS[name]
    return "" if dtype == "str" else np.full(shape, np.nan if dtype == np.float32 else 0)


def add_missing_meta(handle: h5py.File) -> None:
    """Create the ``meta`` datasets a file made by an older psface lacks, their rows
    filled with :func:`meta_default` (no liveness measured, no attack labelled)."""
    rows = handle["subject"].shape[0]
    for name, (shape, dtype) in META_DATASETS.items():
        if name in handle["meta"]:
            continue
        dataset = handle["meta"].create_dataset(
            name,
            shape=(rows, *shape),
            maxshape=(None, *shape),
            chunks=(256, *shape),
            dtype=_STRING if dtype == "str" else dtype,
        )
        if rows:
            dataset[:] = np.stack([np.asarray(meta_default(name))] * rows)


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
        add_missing_meta(handle)
        for name, (_, dtype) in META_DATASETS.items():
            dataset = handle["meta"][name]
            dataset.resize(stop, axis=0)
            default = meta_default(name)
            values = [s.get(name, default) for s in batch]
            if dtype == "str":
                dataset[start:stop] = [str(v) for v in values]
            else:
                dataset[start:stop] = np.stack([np.asarray(v) for v in values])
    return len(batch)


class MapsFile:
    """Read access to a maps dataset, checked against the schema on open.

    Every check names the file and the dataset in one line, so a damaged or foreign file
    stops the command before any work instead of being read short or crashing later.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(self.path, "no such maps file; make one with `psface preprocess`")
        try:
            self.handle = h5py.File(self.path, "r")
        except OSError as error:
            raise InputError(self.path, f"not a readable HDF5 file ({one_line(error)})") from None
        try:
            _check_schema(self.handle, self.path)
        except BaseException:
            self.handle.close()
            raise

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
        subject, session = (self._strings(n) for n in LABEL_DATASETS)
        return subject, session

    def sources(self) -> np.ndarray:
        """Each row's session path relative to the folder it was preprocessed from (str)."""
        if "meta/source" not in self.handle:
            return np.array([f"{a}/{b}" for a, b in zip(*self.labels(), strict=True)])
        return self._strings("meta/source")

    def attributes(self) -> np.ndarray:
        """Each row's session attributes as JSON text ("{}" where the file has none)."""
        if "meta/attributes" not in self.handle:
            return np.full(len(self), "{}", dtype=object)
        return self._strings("meta/attributes")

    def attacks(self) -> np.ndarray:
        """(N,) the presentation attack each session is labelled as; empty strings
        for live faces and for files made before attacks were recorded."""
        if "meta/attack" not in self.handle:
            return np.full(len(self), "", dtype=object)
        return self._strings("meta/attack")

    def liveness(self) -> np.ndarray:
        """(N,) float32 liveness scores, what decisions read: the physical score of
        :mod:`photostereo.liveness`; NaN where none was measured."""
        return self._scores("meta/liveness")

    def learned_liveness(self) -> np.ndarray:
        """(N,) float32 scores of the learned liveness networks, which are recorded but
        do not decide (:mod:`photostereo.liveness`); NaN where none was measured."""
        return self._scores("meta/liveness_learned")

    def _scores(self, name: str) -> np.ndarray:
        """(N,) float32 per-session scores of dataset ``name``; NaN for a file made
        before it was recorded."""
        if name not in self.handle:
            return np.full(len(self), np.nan, np.float32)
        with self._reading(name):
            return np.asarray(self.handle[name][:], np.float32)

    def liveness_threshold(self, bpcer: float) -> float | None:
        """The liveness score below which a session counts as an attack, for a
        bona fide rejection rate ``bpcer``: read from the root attribute
        ``liveness_calibration`` (JSON ``{"bpcer": [...], "threshold": [...]}``, the
        scores of live faces at those rejection rates, which preprocess records), and
        interpolated in log BPCER between its entries (clamped to its ends). None for a
        file without that calibration."""
        text = self.handle.attrs.get("liveness_calibration")
        if text is None:
            return None
        try:
            table = json.loads(text)
            rates = np.asarray(table["bpcer"], np.float64)
            thresholds = np.asarray(table["threshold"], np.float64)
            if rates.ndim != 1 or rates.shape != thresholds.shape or not (rates > 0).all():
                raise ValueError("bpcer and threshold must be lists of one length, bpcer > 0")
        except (ValueError, TypeError, KeyError) as error:
            raise InputError(self.path, f"liveness_calibration is damaged ({error})") from None
        order = np.argsort(rates)
        return float(np.interp(np.log(bpcer), np.log(rates[order]), thresholds[order]))

    def roots(self) -> np.ndarray | None:
        """Each row's preprocessed folder (str), or None where the file does not say."""
        return self._strings("meta/root") if "meta/root" in self.handle else None

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
        with self._reading(name):
            if indices is None or isinstance(indices, slice):
                return dataset[slice(None) if indices is None else indices]
            indices = np.asarray(indices)
            order = np.argsort(indices)
            out = np.empty((len(indices), *dataset.shape[1:]), dataset.dtype)
            out[order] = dataset[indices[order]]  # HDF5 reads rows in increasing order
            return out

    def _strings(self, name: str) -> np.ndarray:
        with self._reading(name):
            return read_strings(self.handle[name])

    @contextlib.contextmanager
    def _reading(self, name: str) -> Iterator[None]:
        """A dataset that passed the checks but cannot be read (damaged chunks, a filter
        this HDF5 lacks, bytes that are not UTF-8) is one line, not a stack."""
        try:
            yield
        except _READ_ERRORS as error:
            raise InputError(self.path, f"cannot read dataset {name} ({one_line(error)})") from None


def _check_schema(handle: h5py.File, path: Path) -> None:
    """Refuse, in one line naming the dataset, a file that does not follow the schema."""
    _check_version(handle, path)
    rows = {name: _check_dataset(handle, name, path) for name in MAP_DATASETS}
    sizes = {name: handle[name].shape[-1] for name in MAP_DATASETS}
    if len(set(sizes.values())) > 1:
        raise InputError(path, f"the maps disagree on the crop size: {_brief(sizes)}")
    rows.update({name: _check_dataset(handle, name, path) for name in LABEL_DATASETS})
    if "meta" in handle:
        if not isinstance(handle.get("meta"), h5py.Group):
            raise InputError(path, "meta is not a group of datasets")
        for name in META_DATASETS:
            if f"meta/{name}" in handle:
                rows[f"meta/{name}"] = _check_dataset(handle, f"meta/{name}", path)
    n = rows["normal"]
    for name, count in rows.items():
        if count != n:
            raise InputError(
                path,
                f"dataset {name} has {count} rows but normal has {n}; the file is damaged "
                "or was not written by psface preprocess",
            )


def _check_version(handle: h5py.File, path: Path) -> None:
    try:
        version = handle.attrs.get("schema_version")
    except (OSError, TypeError, ValueError) as error:
        raise InputError(
            path, f"cannot read attribute schema_version ({one_line(error)})"
        ) from None
    if version is None:
        raise InputError(path, "not a psface maps file (no schema_version)")
    if isinstance(version, bool | np.bool_) or not isinstance(version, int | np.integer):
        raise InputError(path, f"schema_version {_brief(version)} is not a whole number")
    if version > SCHEMA_VERSION:
        raise InputError(
            path,
            f"schema version {int(version)} is newer than this psface reads "
            f"({SCHEMA_VERSION}); upgrade psface",
        )
    if version < 1:
        raise InputError(path, f"schema version {int(version)} is not one psface writes")


def _expected(name: str) -> tuple[tuple[object, ...], str]:
    """The shape of dataset ``name`` (``N`` and ``S`` free) and the dtype kinds it may have."""
    if name in CHANNELS:
        return ("N", CHANNELS[name], "S", "S"), "f"
    if name == "mask":
        return ("N", 1, "S", "S"), "biu"
    if name in LABEL_DATASETS:
        return ("N",), "str"
    row, dtype = META_DATASETS[name.removeprefix("meta/")]
    if dtype == "str":
        return ("N", *row), "str"
    return ("N", *row), "f" if np.dtype(dtype).kind == "f" else "biu"


_KIND_NAMES = {"f": "a float type", "biu": "an integer type"}


def _check_dataset(handle: h5py.File, name: str, path: Path) -> int:
    """Check one dataset's type, dtype and shape; return its number of rows."""
    try:
        dataset = handle.get(name)
    except (OSError, KeyError, ValueError) as error:
        raise InputError(path, f"cannot open dataset {name} ({one_line(error)})") from None
    if dataset is None:
        raise InputError(path, f"missing dataset {name}; not a complete psface maps file")
    if not isinstance(dataset, h5py.Dataset):
        raise InputError(path, f"{name} is not a dataset")
    shape, kinds = _expected(name)
    if kinds == "str":
        if h5py.check_string_dtype(dataset.dtype) is None:
            raise InputError(path, f"dataset {name} has dtype {dataset.dtype}, not strings")
    elif dataset.dtype.kind not in kinds:
        raise InputError(
            path, f"dataset {name} has dtype {dataset.dtype}, not {_KIND_NAMES[kinds]}"
        )
    have = dataset.shape
    fits = have is not None and len(have) == len(shape)
    fits = fits and all(d == h for d, h in zip(shape, have, strict=True) if isinstance(d, int))
    if fits and len(shape) == 4:
        fits = have[2] == have[3] and have[2] > 0
    if not fits:
        wanted = ", ".join(str(d) for d in shape)
        raise InputError(path, f"dataset {name} has shape {have}, not ({wanted})")
    return int(have[0])


def _brief(value: object, limit: int = 60) -> str:
    """A value in a message: on one line, and short."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
