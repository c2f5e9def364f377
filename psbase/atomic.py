"""The one way psface writes a whole file: into a temporary file beside the target,
flushed to disk, then renamed over it.

Readers never see half a file; a crash, a kill or a full disk leaves the previous file
as it was and no temporary file behind. Every file is created readable by its owner
only (0600): captures, maps, weights and galleries are biometric data.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from psbase.errors import InputError, ResourceError

#: Permission bits of every file psface writes.
FILE_MODE = 0o600
#: errno values that mean "the disk cannot take this write".
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def write_atomically(
    path: str | Path, write: Callable[[Path], object], *, temporary: Path | None = None
) -> None:
    """Call ``write(tmp_path)``, flush it to disk, then rename it onto ``path``.

    The folder must exist. A write that fails for lack of space, or on a read-only or
    forbidden folder, raises one-line :class:`ResourceError` or :class:`InputError`.
    ``temporary`` fixes the temporary file's name (default: a new random one); a writer
    that holds a lock on ``path`` uses it so that a killed run's copy is reused, not
    piled up.
    """
    path = Path(path)
    if temporary is None:
        tmp = new_temporary(path)
    else:
        tmp = temporary
        with disk_errors(path):
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE))
    try:
        with disk_errors(path):
            write(tmp)
            os.chmod(tmp, FILE_MODE)
            fsync_path(tmp)
            os.replace(tmp, path)
            fsync_path(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def new_temporary(path: Path) -> Path:
    """An empty owner-only file ``.NAME.RANDOM.tmp`` beside ``path``, for its next version."""
    with disk_errors(path):
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(name)


def fsync_path(path: Path) -> None:
    """Flush a file's (or a folder's entries') data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def disk_errors(path: str | Path) -> Iterator[None]:
    """Turn the operating system's write failures into one-line psface errors.

    HDF5 reports a failed write as an ``OSError`` whose message is a stack of lines;
    the errno, where it survives, or the text decides which one-liner the user gets.
    """
    try:
        yield
    except OSError as error:
        code = error.errno
        text = str(error)
        if code in _NO_SPACE or "No space left" in text or "File too large" in text:
            raise ResourceError(
                f"{path}: the disk is full (or over quota); free some space and run again. "
                "The previous file, if any, is unchanged"
            ) from None
        if code == errno.EROFS:
            raise InputError(path, "the folder is on a read-only file system") from None
        if code in (errno.EACCES, errno.EPERM):
            raise InputError(path, "permission denied; choose a folder you can write") from None
        if code == errno.ENOENT and not Path(path).parent.is_dir():
            raise InputError(
                path, f"folder {Path(path).parent} does not exist; create it first"
            ) from None
        raise
