"""Guards on what a command may write: never a user's file it did not make, never its input.

psface replaces an existing output only when the user says so (``--overwrite``), never
writes onto one of the command's own inputs, and names the problem in one line before
any work starts, so a long run does not fail at its last step.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from psbase.errors import InputError

#: Permission bits of every folder psface creates.
FOLDER_MODE = 0o700


def check_output_file(
    path: str | Path, *, overwrite: bool = False, inputs: Iterable[str | Path] = ()
) -> Path:
    """Check that ``path`` may be written as a whole-file output; return it.

    Refused: a folder, a file in a folder that does not exist, one of ``inputs`` (under
    any name: hard and symbolic links count), and an existing file unless ``overwrite``.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(path, "is a folder; name the file to write")
    for source in inputs:
        if _same_file(path, Path(source)):
            raise InputError(path, "is also an input of this command; write to another file")
    if not path.parent.is_dir():
        raise InputError(path, f"folder {path.parent} does not exist; create it first")
    if not os.access(path.parent, os.W_OK):
        raise InputError(path, f"folder {path.parent} is not writable")
    if path.exists() and not overwrite:
        raise InputError(
            path, "already exists; choose another name, or pass --overwrite to replace it"
        )
    return path


def prepare_output_folder(
    path: str | Path, *, overwrite: bool = False, inputs: Iterable[str | Path] = ()
) -> Path:
    """Create output folder ``path`` (owner-only), refusing one that already holds files.

    With ``overwrite``, a non-empty folder is accepted: files of the same names are
    replaced, nothing else in it is touched. ``inputs`` may not lie inside it or hold it.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(path, "is a file; name a folder to write into")
    for source in inputs:
        source = Path(source).resolve()
        target = path.resolve()
        if source == target or target in source.parents or source in target.parents:
            raise InputError(path, f"overlaps the input {source}; write somewhere else")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise InputError(
            path,
            "already holds files; choose an empty folder, or pass --overwrite to replace "
            "the files psface writes there",
        )
    try:
        make_folders(path)
    except OSError as error:
        raise InputError(path, f"cannot create the folder ({error.strerror})") from None
    return path


def make_folders(path: str | Path) -> Path:
    """``mkdir -p`` whose every new folder is owner-only (``Path.mkdir`` gives the
    parents the default mode)."""
    path = Path(path)
    for folder in reversed([path, *path.parents]):
        if not folder.is_dir():
            folder.mkdir(mode=FOLDER_MODE, exist_ok=True)
    return path


@contextlib.contextmanager
def output_folder(
    path: str | Path, *, overwrite: bool = False, inputs: Iterable[str | Path] = ()
) -> Iterator[Path]:
    """:func:`prepare_output_folder` for the block; if the block fails and the folder was
    created for it and is still empty, it is removed again: a failed run leaves nothing."""
    path = Path(path)
    missing = [p for p in (path, *path.parents) if not p.exists()]
    folder = prepare_output_folder(path, overwrite=overwrite, inputs=inputs)
    try:
        yield folder
    except BaseException:
        for created in missing:  # deepest first; stops at the first that holds anything
            if created.is_dir() and not any(created.iterdir()):
                created.rmdir()
        raise


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False
