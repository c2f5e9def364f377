"""Readers and writers of capture sessions on disk (canonical, Extended Yale B, Photoface)."""

from photostereo.io.canonical import read_canonical, write_canonical
from photostereo.io.discover import find_sessions, load_session
from photostereo.io.photoface import read_photoface
from photostereo.io.yaleb import read_yaleb

__all__ = [
    "find_sessions",
    "load_session",
    "read_canonical",
    "read_photoface",
    "read_yaleb",
    "write_canonical",
]
