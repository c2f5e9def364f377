"""HDF5 files written so that a full disk is one line, never a crash or a lost file.

HDF5 cannot close a file after one of its writes failed: the handle stays half-closed,
and the library crashes with a segmentation fault when it tries again, at the latest
when Python exits (h5py issue 914). So every file psface writes goes through
:class:`WriteGuard`, which keeps the first failed write's error, drops the writes after
it and reports success, letting HDF5 close cleanly; then the error is raised and the
half-written temporary file removed by the atomic writer.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import h5py
import numpy as np

from psbase.atomic import write_atomically


def write_hdf5_atomically(
    path: str | Path,
    build: Callable[[h5py.File], object],
    *,
    after_write: Callable[[], None] | None = None,
) -> None:
    """Write a new HDF5 file at ``path``: ``build`` fills it, then it replaces ``path``
    atomically, owner-only (see :func:`psbase.atomic.write_atomically`).

    ``after_write`` runs once the file is complete, before the rename (for tests).
    """

    def write(tmp: Path) -> None:
        with hdf5_writing(tmp, "w") as handle:
            build(handle)
        if after_write is not None:
            after_write()

    write_atomically(path, write)


@contextlib.contextmanager
def hdf5_writing(path: Path, mode: str) -> Iterator[h5py.File]:
    """``path`` open in HDF5 for writing through a :class:`WriteGuard`.

    A write the system refused is raised, as the ``OSError`` it was, once HDF5 has
    closed the file; it is the cause of whatever else failed after it. Long writers
    call :func:`raise_if_failed` between steps to stop early instead of filling memory.
    """
    guard = WriteGuard(path)
    try:
        with h5py.File(guard, mode) as handle:
            _GUARDS[handle.id.id] = guard
            try:
                yield handle
            finally:
                del _GUARDS[handle.id.id]
    except Exception:
        guard.close()
        guard.raise_error()
        raise
    guard.close()
    guard.raise_error()


def raise_if_failed(handle: h5py.File) -> None:
    """Raise the write the system refused to ``handle``'s file, if any, so far."""
    guard = _GUARDS.get(handle.file.id.id)
    if guard is not None:
        guard.raise_error()


class WriteGuard(io.RawIOBase):
    """The file object HDF5 writes through (h5py's ``fileobj`` driver).

    The first write or resize the system refuses (disk full, file too large, I/O error)
    is kept, and HDF5 is told it succeeded: it cannot recover from a failed write, while
    the file is discarded anyway. From then on writes land in memory pages that reads
    consult, so HDF5 reads back what it wrote (variable-length strings are read back
    from its heap while a file is built) and closes cleanly.
    """

    #: Bytes per in-memory page after a failed write.
    PAGE = 1 << 16

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.fd = os.open(path, os.O_RDWR)
        self.size = os.fstat(self.fd).st_size
        self.position = 0
        self.error: OSError | None = None
        self.pages: dict[int, bytearray] = {}

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.position, os.SEEK_END: self.size}[whence]
        self.position = base + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        n = max(0, min(len(view), self.size - self.position))
        got = os.preadv(self.fd, [view[:n]], self.position) if n else 0
        view[got:n] = bytes(n - got)  # written only to memory, or a hole
        for index in self._pages(self.position, n):
            page = self.pages.get(index)
            if page is not None:
                start = max(index * self.PAGE, self.position)
                stop = min((index + 1) * self.PAGE, self.position + n)
                view[start - self.position : stop - self.position] = page[
                    start - index * self.PAGE : stop - index * self.PAGE
                ]
        self.position += n
        return n

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        if self.error is None:
            try:
                done = 0
                while done < len(view):  # an unbuffered write may take part of it
                    done += os.pwrite(self.fd, view[done:], self.position + done)
            except OSError as error:
                self.error = error
        if self.error is not None:
            self._remember(view)
        self.position += len(view)
        self.size = max(self.size, self.position)
        return len(view)

    def truncate(self, size: int | None = None) -> int:
        size = self.position if size is None else size
        if self.error is None:
            try:
                os.ftruncate(self.fd, size)
            except OSError as error:
                self.error = error
        self.size = size
        return size

    def close(self) -> None:
        if not self.closed:
            os.close(self.fd)
            self.pages.clear()
        super().close()

    def raise_error(self) -> None:
        """Raise the write the system refused, if any."""
        if self.error is not None:
            raise self.error

    def _pages(self, start: int, length: int) -> range:
        return range(start // self.PAGE, (start + length + self.PAGE - 1) // self.PAGE)

    def _remember(self, view: memoryview) -> None:
        """Keep ``view``, written at the current position, in memory pages."""
        for index in self._pages(self.position, len(view)):
            page = self.pages.get(index)
            if page is None:
                page = bytearray(self.PAGE)
                page_start = index * self.PAGE
                got = os.preadv(self.fd, [memoryview(page)], page_start)
                page[got:] = bytes(self.PAGE - got)
                self.pages[index] = page
            start = max(index * self.PAGE, self.position)
            stop = min((index + 1) * self.PAGE, self.position + len(view))
            page[start - index * self.PAGE : stop - index * self.PAGE] = view[
                start - self.position : stop - self.position
            ]


#: The guard of each file open through :func:`hdf5_writing`, by HDF5 file id.
_GUARDS: dict[int, WriteGuard] = {}


def read_strings(dataset: h5py.Dataset) -> np.ndarray:
    """A UTF-8 string dataset as an array of str (empty datasets included)."""
    return np.asarray(dataset.asstr()[()], dtype=str) if dataset.shape[0] else np.array([], str)
