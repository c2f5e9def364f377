"""Writing ``maps.h5`` so that no finished session is ever lost.

HDF5 is not crash-safe: a process killed while appending can leave a file that does not
open. So the file on disk is only ever replaced, never edited: a checkpoint copies it,
appends the sessions finished since the last one to the copy, and renames the copy over
it (``os.replace`` is atomic). A kill at any moment leaves the previous or the new file,
both complete; the sessions a checkpoint reported are in it. Re-running skips them.

One run writes a file at a time: :func:`open_writer` holds its lock (``NAME.lock``
beside it) for the whole run, so a second run into the same file fails at once in one
line instead of appending every session a second time.

A full disk costs neither the previous file nor a crash: HDF5 writes through
:func:`psbase.hdf5.hdf5_writing`.

The last step rewrites the file with its rows sorted by folder and source path, so that
the same sessions give the same arrays however the work was split (local workers or a
Dask cluster) and in whatever order it finished.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from photostereo.maps_file import (
    LABEL_DATASETS,
    MAP_DATASETS,
    META_DATASETS,
    MapsFile,
    append_samples,
    create_datasets,
    meta_default,
)
from psbase.atomic import disk_errors, write_atomically
from psbase.errors import ConfigError, InputError
from psbase.hdf5 import hdf5_writing, raise_if_failed, read_strings
from psbase.lock import LockedError, exclusive_lock
from psbase.outputs import check_output_file

#: Rows copied at a time by the final sorted rewrite.
COPY_BATCH = 256


def check_maps_output(path: str | Path, root: str | Path) -> Path:
    """Refuse, before any work, an ``-o`` that cannot be this run's maps file.

    A folder, a file in a missing folder, anything inside ROOT (the captures are the
    input; psface never writes among them), and an existing file that is not a maps
    file (refused here, so that not even a lock file is left beside it). An existing
    maps file is checked again under the lock: of the same folder it is resumed.
    """
    path = check_output_file(path, overwrite=True)
    target, base = path.resolve(), Path(root).resolve()
    if target == base or base in target.parents:
        raise InputError(
            path, f"is inside the folder of sessions {root}; write the maps file outside it"
        )
    if path.exists():
        _open_existing(path).close()
    return path


@contextlib.contextmanager
def open_writer(
    path: str | Path,
    attributes: Mapping[str, object],
    *,
    root: str | Path,
    append: bool = False,
) -> Iterator[MapsWriter]:
    """Lock ``path`` for this run and yield its :class:`MapsWriter`.

    The lock is not waited for: a preprocess run lasts minutes to hours, so the second
    one is told at once.
    """
    path = Path(path)
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(exclusive_lock(path, timeout=0.0, what="maps file"))
    except LockedError:
        raise LockedError(
            f"{path}: another psface preprocess is writing this maps file; "
            "wait for it to finish, or write to another file"
        ) from None
    with stack:
        with disk_errors(path):
            # A killed run's copy. The fixed name is safe: only the lock holder uses it.
            _temporary(path).unlink(missing_ok=True)
        yield MapsWriter(path, attributes, root=root, append=append)


def _open_existing(path: Path) -> MapsFile:
    """An existing output opened as a maps file, or refused with the file left as it is."""
    try:
        return MapsFile(path)
    except InputError as error:
        raise InputError(
            path, f"{error.problem}; it is left as it is: write to another file"
        ) from None


class MapsWriter:
    """Checkpointing writer of one maps file, for one configuration and source folder.

    ``attributes`` (size, config, ...) must match an existing file's exactly, so that
    maps made differently are never mixed into one file; its rows must come from
    ``root`` too, unless ``append`` adds this folder's sessions to another's. Use
    :func:`open_writer`, which holds the file's lock.
    """

    def __init__(
        self,
        path: str | Path,
        attributes: Mapping[str, object],
        *,
        root: str | Path,
        append: bool = False,
    ) -> None:
        self.path = Path(path)
        self.root = str(Path(root).resolve())
        self.attributes: dict[str, Any] = {k: _attr(v) for k, v in attributes.items()}
        self.pending: list[dict] = []
        self.done: set[str] = set()
        if self.path.exists():
            self.done = self._check_existing(append)

    def _check_existing(self, append: bool) -> set[str]:
        """The keys of the sessions already in the file, after checking it is ours to add to."""
        with _open_existing(self.path) as maps:
            for key in ("size", "config"):
                have, want = _attr(maps.handle.attrs.get(key)), self.attributes[key]
                if have != want:
                    raise ConfigError(
                        f"{self.path}: was made with {key} {have}, not {want}; "
                        "use the same options or write to a new file"
                    )
            roots = maps.roots()
            if roots is None or "meta/source" not in maps.handle:
                raise InputError(
                    self.path,
                    "does not record the folder its sessions came from (an older psface "
                    "or another tool wrote it); write to a new file",
                )
            if self.root not in set(roots) and not append:
                built = ", ".join(sorted(set(roots))) or "no folder"
                raise InputError(
                    self.path,
                    f"holds sessions of {built}, not of {self.root}; pass --append to add "
                    "this folder's sessions to it, or write to a new file",
                )
            self._merge_rig(maps.handle.attrs.get("rig"))
            return {_key(r, s) for r, s in zip(roots, maps.sources(), strict=True)}

    def _merge_rig(self, existing: object) -> None:
        """The file's ``rig`` names every layout in it, this run's and earlier ones'."""
        if isinstance(_attr(existing), str):
            layouts = {*str(_attr(existing)).split(","), *str(self.attributes["rig"]).split(",")}
            self.attributes["rig"] = ",".join(sorted(layouts - {""}))

    def has(self, source: str) -> bool:
        """Whether session ``source`` (relative to this run's folder) is in the file."""
        return _key(self.root, source) in self.done

    def add(self, sample: dict) -> None:
        """Queue a finished session for the next checkpoint."""
        self.pending.append({**sample, "root": self.root})

    def checkpoint(self) -> list[str]:
        """Put the queued sessions into the file; return their sources (now safe)."""
        if not self.pending:
            return []

        def write(tmp: Path) -> None:
            existing = self.path.exists()
            if existing:
                shutil.copyfile(self.path, tmp)
            with hdf5_writing(tmp, "a" if existing else "w") as handle:
                if not existing:
                    create_datasets(handle, int(self.attributes["size"]))
                    handle.attrs.update(self.attributes)
                append_samples(handle, self.pending)

        write_atomically(self.path, write, temporary=_temporary(self.path))
        saved = [str(s["source"]) for s in self.pending]
        self.done.update(_key(self.root, s) for s in saved)
        self.pending = []
        return saved

    def finish(self, failed: list[tuple[str, str]]) -> None:
        """Checkpoint, then rewrite the file sorted by root and source, recording ``failed``."""
        self.checkpoint()
        if not self.path.exists():
            return

        def write(tmp: Path) -> None:
            with h5py.File(self.path, "r") as old, hdf5_writing(tmp, "w") as new:
                create_datasets(new, int(self.attributes["size"]))
                new.attrs.update(self.attributes)
                new.attrs["failed"] = json.dumps([{"session": s, "reason": r} for s, r in failed])
                sources, roots = (read_strings(old["meta"][n]) for n in ("source", "root"))
                order = np.lexsort((sources, roots))
                for start in range(0, len(order), COPY_BATCH):
                    rows = np.sort(order[start : start + COPY_BATCH])
                    _copy_rows(old, new, rows, order[start : start + COPY_BATCH])
                    raise_if_failed(new)  # a full disk: stop, rather than copy into memory

        write_atomically(self.path, write, temporary=_temporary(self.path))


def _temporary(path: Path) -> Path:
    """The one temporary name of ``path``'s next version; the run's lock makes it safe."""
    return path.with_name(f".{path.name}.tmp")


def _copy_rows(old: h5py.File, new: h5py.File, rows: np.ndarray, wanted: np.ndarray) -> None:
    """Append ``old``'s rows ``wanted`` (read in increasing order as ``rows``) to ``new``."""
    position = np.searchsorted(rows, wanted)
    n = len(rows)
    start = new["subject"].shape[0]
    names = [*MAP_DATASETS, *LABEL_DATASETS, *(f"meta/{m}" for m in META_DATASETS)]
    for name in names:
        dataset = new[name]
        if name in old:
            values = old[name][rows][position]
        else:  # a meta dataset an older psface did not write: nothing was recorded
            values = np.stack([np.asarray(meta_default(name.removeprefix("meta/")))] * n)
        dataset.resize(start + n, axis=0)
        dataset[start : start + n] = values


def _key(root: str, source: str) -> str:
    """A session's identity in the file: its folder, not just its path below the root."""
    return os.path.join(root, source)


def _attr(value: object) -> object:
    """Attributes as HDF5 stores them, so that a file's values compare with ours."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
