"""Memory a session will need, estimated from its captures' headers before any is decoded.

Reconstruction needs far more memory than the captures take on disk (four 8000 x 8000
JPEGs of a few MB need about 37 GB), and a machine that runs out part-way either kills
the process or fails with a traceback after minutes of swapping. So each reader asks
:func:`check_memory` first: it reads only the header of each capture (Pillow's plugins
parse the size without decoding pixels) and refuses the session in one line when the
estimate exceeds the limit.

The estimate is ``PER_LIGHT`` bytes per pixel of every capture plus ``PER_PIXEL`` bytes
per pixel of the frame. Measured peak resident memory (``ru_maxrss``) of reading,
reconstructing and writing one session with the default solver (shadow) and integrator
(masked), full-frame faces, in bytes per pixel of the frame::

    lights   1000 x 1000   2000 x 2000   3000 x 3000
    4        435           400           390
    8        452           416

Each light adds about 4 bytes per pixel (its float32 capture); the masked
integrator's sparse system is most of the rest. The same 1000 x 1000 session peaked at
up to 517 bytes per pixel on a busy machine (the allocator's per-thread arenas), so the
constants give 580 and 620 bytes per pixel for 4 and 8 lights, at least 12% above every
measurement; the plain and robust solvers measured within 2% of the default, and the
dct and fft integrators need about half, so the estimate errs high.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path

from PIL import (
    BmpImagePlugin,  # noqa: F401  (importing a plugin registers its header reader)
    Image,
    JpegImagePlugin,  # noqa: F401
    PngImagePlugin,  # noqa: F401
    PpmImagePlugin,  # noqa: F401
    TiffImagePlugin,  # noqa: F401
)

from psbase.errors import ResourceError

#: Bytes per pixel of each capture: the decoded captures and the solver's copy of them.
PER_LIGHT = 10
#: Bytes per pixel of the frame: normals, albedo, diagnostics and the integrator's system.
PER_PIXEL = 540
#: Share of the machine's memory a session may take unless the caller says otherwise.
DEFAULT_FRACTION = 0.5
#: Pillow's readers for the formats psface accepts (see ``IMAGE_SUFFIXES``).
_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "PPM")
#: Where Linux control groups (v2, then v1) state a memory limit below the machine's.
_CGROUP_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
)
GB = 1e9


def machine_memory() -> int:
    """Bytes of physical memory, or of the control group's limit where that is lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in _CGROUP_LIMITS:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def default_limit() -> int:
    """The memory a session may take by default: half of :func:`machine_memory`."""
    return int(DEFAULT_FRACTION * machine_memory())


def capture_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from an image file's header, or None if no reader recognises it.

    Only the header is parsed: a 30000 x 30000 capture costs no more than a small one.
    A header that cannot be parsed is left to the decoder to refuse.
    """
    try:
        with open(path, "rb") as handle, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prefix = handle.read(16)
            for name in _FORMATS:
                factory, accept = Image.OPEN[name]
                if accept is not None and accept(prefix):
                    handle.seek(0)
                    return factory(handle, str(path)).size
    except (OSError, SyntaxError, ValueError, EOFError):
        pass
    return None


def estimate_bytes(sizes: Iterable[tuple[int, int]]) -> int:
    """Peak memory of reconstructing captures of these (width, height) (see the module)."""
    pixels = [width * height for width, height in sizes]
    return PER_LIGHT * sum(pixels) + PER_PIXEL * max(pixels, default=0)


def check_memory(captures: Iterable[Path], *, where: str | Path, max_bytes: int | None) -> int:
    """Refuse the session at ``where`` if its ``captures`` need more than ``max_bytes``.

    ``max_bytes`` None means :func:`default_limit`. Returns the estimate in bytes.
    """
    sizes = [size for path in captures if (size := capture_size(path)) is not None]
    need = estimate_bytes(sizes)
    limit = default_limit() if max_bytes is None else max_bytes
    if need > limit:
        width, height = max(sizes, key=lambda size: size[0] * size[1])
        source = "half of this machine's memory" if max_bytes is None else "--max-memory"
        raise ResourceError(
            f"{where}: needs about {need / GB:.1f} GB of memory for {len(sizes)} captures "
            f"of up to {width}x{height} pixels, more than the limit of {limit / GB:.1f} GB "
            f"({source}); use smaller captures, or raise the limit with --max-memory GB"
        )
    return need
