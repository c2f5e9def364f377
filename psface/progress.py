"""Progress bars belong to the command line; the library reports through callbacks.

A library function that takes seconds accepts ``progress: Progress | None``, a callable
``(done, total)`` it calls as work completes (``total`` may grow while it learns how much
there is). The commands hand it :func:`progress_bar`'s callback, so tqdm stays here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

#: ``(done, total)``: what a library function reports as it goes.
Progress = Callable[[int, int], None]


@contextmanager
def progress_bar(desc: str, unit: str) -> Iterator[Progress]:
    """A tqdm bar with rate and ETA, driven by the ``(done, total)`` callback this
    yields; hidden when stderr is not a terminal, and drawn only once the work has
    taken a second, so a quick step or an early one-line error leaves no bar behind."""
    bar = tqdm(total=0, desc=desc, unit=unit, disable=None, delay=1.0)

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
            bar.refresh()
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()
