"""Writing ``maps.h5`` so that no finished session is ever lost.

HDF5 is not crash-safe: a process killed while appending can leave a file that does not
open. So the file on disk is only ever replaced, never edited: a checkpoint copies it,
appends the sessions finished since the last one to the copy, and renames the copy over
it (``os.replace`` is atomic). A kill at any moment leaves the previous or the new file,
both complete; the sessions a checkpoint reported are in it. Re-running skips them.

The last step rewrites the file with its rows sorted by source path, so that the same
sessions give the same arrays however the work was split (local workers or a Dask
cluster) and in whatever order it finished.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

from photostereo.maps_file import (
    LABEL_DATASETS,
    MAP_DATASETS,
    META_DATASETS,
    SCHEMA_VERSION,
    append_samples,
    create_datasets,
    read_strings,
)
from psbase.errors import ConfigError, InputError

#: Rows copied at a time by the final sorted rewrite.
COPY_BATCH = 256


class MapsWriter:
    """Checkpointing writer of one maps file for one configuration.

    ``attributes`` (size, solver, ...) must match an existing file's exactly, so that
    maps made differently are never mixed into one file.
    """

    def __init__(self, path: str | Path, attributes: Mapping[str, object]) -> None:
        self.path = Path(path)
        self.attributes = {k: _attr(v) for k, v in attributes.items()}
        self.pending: list[dict] = []
        self.done: set[str] = set()
        if self.path.exists():
            self.done = self._check_existing()

    def _check_existing(self) -> set[str]:
        try:
            handle = h5py.File(self.path, "r")
        except OSError as error:
            raise InputError(
                self.path, f"exists but is not a readable HDF5 file ({error})"
            ) from None
        with handle:
            version = handle.attrs.get("schema_version")
            if version is None or int(version) != SCHEMA_VERSION:
                raise ConfigError(
                    f"{self.path}: schema version {version} is not {SCHEMA_VERSION}; "
                    "write to a new file"
                )
            for key in ("size", "config"):
                have, want = _attr(handle.attrs.get(key)), self.attributes[key]
                if have != want:
                    raise ConfigError(
                        f"{self.path}: was made with {key} {have}, not {want}; "
                        "use the same options or write to a new file"
                    )
            return set(read_strings(handle["meta"]["source"]))

    def add(self, sample: dict) -> None:
        """Queue a finished session for the next checkpoint."""
        self.pending.append(sample)

    def checkpoint(self) -> list[str]:
        """Put the queued sessions into the file; return their sources (now safe)."""
        if not self.pending:
            return []
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        if self.path.exists():
            shutil.copyfile(self.path, tmp)
            mode = "a"
        else:
            mode = "w"
        with h5py.File(tmp, mode) as handle:
            if mode == "w":
                create_datasets(handle, int(self.attributes["size"]))
                handle.attrs.update(self.attributes)
            append_samples(handle, self.pending)
        _replace(tmp, self.path)
        saved = [str(s["source"]) for s in self.pending]
        self.done.update(saved)
        self.pending = []
        return saved

    def finish(self, failed: list[tuple[str, str]]) -> None:
        """Checkpoint, then rewrite the file sorted by source, recording ``failed``."""
        self.checkpoint()
        if not self.path.exists():
            return
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with h5py.File(self.path, "r") as old, h5py.File(tmp, "w") as new:
            create_datasets(new, int(self.attributes["size"]))
            new.attrs.update(self.attributes)
            new.attrs["failed"] = json.dumps([{"session": s, "reason": r} for s, r in failed])
            order = np.argsort(read_strings(old["meta"]["source"]), kind="stable")
            for start in range(0, len(order), COPY_BATCH):
                rows = np.sort(order[start : start + COPY_BATCH])
                _copy_rows(old, new, rows, order[start : start + COPY_BATCH])
        _replace(tmp, self.path)


def _copy_rows(old: h5py.File, new: h5py.File, rows: np.ndarray, wanted: np.ndarray) -> None:
    """Append ``old``'s rows ``wanted`` (read in increasing order as ``rows``) to ``new``."""
    position = np.searchsorted(rows, wanted)
    n = len(rows)
    start = new["subject"].shape[0]
    names = [*MAP_DATASETS, *LABEL_DATASETS, *(f"meta/{m}" for m in META_DATASETS)]
    for name in names:
        values = old[name][rows][position]
        dataset = new[name]
        dataset.resize(start + n, axis=0)
        dataset[start : start + n] = values


def _replace(tmp: Path, path: Path) -> None:
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _attr(value: object) -> object:
    """Attributes as HDF5 stores them, so that a file's values compare with ours."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value
