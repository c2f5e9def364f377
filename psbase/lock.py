"""One writer at a time: an exclusive ``fcntl.flock`` on ``NAME.lock`` beside a file.

The kernel drops the lock when its holder dies, so a killed writer never leaves the
file locked; a second writer waits (saying so once) up to a timeout, then fails with
one line. The lock file itself is left in place: removing it would race a new writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from psbase.atomic import disk_errors
from psbase.errors import PsfaceError

#: Seconds a writer waits for another writer's lock before giving up.
LOCK_TIMEOUT = 30.0


class LockedError(PsfaceError):
    """Another process kept the file locked for longer than the timeout."""


def lock_path(path: str | Path) -> Path:
    """The lock file of ``path``: ``NAME.lock`` beside it."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def exclusive_lock(
    path: str | Path,
    *,
    timeout: float = LOCK_TIMEOUT,
    on_wait: Callable[[str], None] | None = None,
    what: str = "file",
) -> Iterator[None]:
    """Hold the exclusive writer lock of ``path`` for the block.

    If another process holds it, ``on_wait`` hears one sentence saying so and the lock
    is retried until ``timeout`` seconds have passed; then :class:`LockedError`.
    """
    path = Path(path)
    lock = lock_path(path)
    with disk_errors(lock):
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited and on_wait is not None:
                    on_wait(f"{path}: another process is writing this {what}; waiting for it")
                waited = True
                if time.monotonic() >= deadline:
                    raise LockedError(
                        f"{path}: still locked by another process after {timeout:g} s "
                        f"(lock file {lock.name}); try again when it has finished"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
