"""Labels from data files (subject and session names): made safe to use as folder names,
and ordered as people read them.

A label is data: ``../../x``, ``/etc`` or ``a/b`` must not steer where psface writes.
Characters that a path would read as structure are percent-encoded, so the mapping is
one-to-one: two different labels never share a folder, and a readable label stays as is.
"""

from __future__ import annotations

import re

from psbase.errors import InputError

#: Characters that are path structure, or invisible, on the file systems psface meets.
_ENCODED = frozenset('/\\%:*?"<>|') | frozenset(chr(c) for c in range(32)) | {chr(127)}
#: Longest folder name most file systems take, in UTF-8 bytes.
MAX_NAME_BYTES = 255


def safe_component(label: str, *, what: str = "label") -> str:
    """``label`` as one path component: no separators, no ``.``/``..``, no hidden name."""
    text = "".join(f"%{ord(c):02X}" if c in _ENCODED else c for c in str(label))
    if text.startswith("."):
        text = "%2E" + text[1:]
    if not text:
        raise InputError(repr(label), f"an empty {what} cannot name a folder")
    if len(text.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        raise InputError(text[:40] + "...", f"{what} is too long to name a folder")
    return text


def natural_key(label: str) -> list[int | str]:
    """Sort key reading runs of digits as numbers: ``v2`` before ``v10``, ``im9`` before
    ``im10``. ``re.split`` with a group alternates text and digits, so the key's items
    at each position are all text or all numbers."""
    return [int(t) if i % 2 else t.lower() for i, t in enumerate(re.split(r"(\d+)", label))]
