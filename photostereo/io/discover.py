"""Finding capture sessions on disk and loading each with the reader for its layout."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from photostereo.io.canonical import LIGHTS_FILE, canonical_labels, read_canonical
from photostereo.io.photoface import LIGHTS_FILE as PHOTOFACE_LIGHTS
from photostereo.io.photoface import read_photoface
from photostereo.io.yaleb import CAPTURE, read_yaleb, yaleb_labels, yaleb_poses
from photostereo.response import Response
from photostereo.session import CaptureSession, folder_labels
from psbase.errors import InputError

LAYOUTS = ("canonical", "photoface", "yaleb")

log = logging.getLogger(__name__)


@dataclass(frozen=True, order=True)
class SessionRef:
    """Where one session lives: a folder, its layout, and the Yale B pose if any.

    ``str(ref)`` is the form the command line accepts back (``folder`` or
    ``folder#P00`` for one pose of a Yale B subject).
    """

    path: Path
    layout: str
    part: str | None = None

    def __str__(self) -> str:
        return f"{self.path}#{self.part}" if self.part else str(self.path)


def detect_layout(folder: Path) -> str | None:
    """The layout of a session folder, or None if it holds no session."""
    try:
        if (folder / LIGHTS_FILE).is_file():
            return "canonical"
        if (folder / PHOTOFACE_LIGHTS).is_file():
            return "photoface"
        names = os.listdir(folder)
    except OSError as error:
        raise InputError(folder, f"cannot be read ({error.strerror})") from None
    if any(CAPTURE.match(name) for name in names):
        return "yaleb"
    return None


def parse_ref(text: str | Path) -> SessionRef:
    """Turn a command-line session argument into a :class:`SessionRef`."""
    pose = re.fullmatch(r"(?P<path>.+)#(?P<part>P\d\d)", str(text))
    path = Path(pose["path"] if pose else text)
    part = pose["part"] if pose else None
    if not path.exists():
        raise InputError(path, "no such session folder")
    if not path.is_dir():
        raise InputError(path, "a session is a folder of captures, not a file")
    layout = detect_layout(path)
    if layout is None:
        raise InputError(
            path,
            f"no session here: expected {LIGHTS_FILE} (canonical), {PHOTOFACE_LIGHTS} "
            "(Photoface) or yaleBNN_P00A+000E+00.pgm captures (Yale B)",
        )
    return SessionRef(path, layout, part)


def load_session(
    ref: SessionRef | str | Path,
    *,
    max_bytes: int | None = None,
    response: Response | None = None,
) -> CaptureSession:
    """Read the session ``ref`` names, with the reader for its layout.

    A session whose captures would need more than ``max_bytes`` of memory to
    reconstruct is refused from their headers, before any is decoded (None: half of
    the machine's memory; see :mod:`photostereo.io.budget`). ``response`` is the
    command's ``--response``: None decodes by what the session declares (canonical
    ``lights.json``), else as linear; a canonical session declaring another refuses.
    """
    if not isinstance(ref, SessionRef):
        ref = parse_ref(ref)
    if ref.layout == "canonical":
        return read_canonical(ref.path, max_bytes=max_bytes, response=response)
    if ref.layout == "photoface":
        return read_photoface(ref.path, max_bytes=max_bytes, response=response)
    return read_yaleb(ref.path, pose=ref.part, max_bytes=max_bytes, response=response)


def session_labels(ref: SessionRef) -> tuple[str, str]:
    """(subject, session) that :func:`load_session` would give, without reading images."""
    if ref.layout == "canonical":
        return canonical_labels(ref.path)
    if ref.layout == "photoface":
        return folder_labels(ref.path)
    return yaleb_labels(ref.path, ref.part)


def find_sessions(root: str | Path) -> list[SessionRef]:
    """Every session under ``root`` (``ROOT/SUBJECT/SESSION``, Yale B subject folders, or
    ``root`` itself), sorted by path so that batches run in a stable order.

    Symbolically linked folders are followed (data is often gathered by linking); a
    folder already seen under another path (a link to an ancestor, or two links to one
    folder) is skipped, so loops end and no session is listed twice. Real folders are
    walked before links, so a session is listed under its own path where it can be.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "not a folder")
    refs: list[SessionRef] = []
    seen: set[str] = set()
    for folder, subfolders, _ in os.walk(root, followlinks=True, onerror=_unreadable):
        real = os.path.realpath(folder)
        if real in seen:
            subfolders.clear()
            continue
        seen.add(real)
        here = Path(folder)
        layout = detect_layout(here)
        if layout is None:
            subfolders.sort(key=lambda name: (os.path.islink(here / name), name))
            continue
        subfolders.clear()
        if layout == "yaleb":
            poses = yaleb_poses(here)
            refs.extend(SessionRef(here, layout, p if len(poses) > 1 else None) for p in poses)
        else:
            refs.append(SessionRef(here, layout))
    return sorted(refs)


def _unreadable(error: OSError) -> None:
    """Say which folder a walk could not list, rather than skip its sessions in silence."""
    log.warning(
        "%s: cannot be read (%s); sessions below it are skipped", error.filename, error.strerror
    )
