"""A small tmpfs for disk-full tests: real ENOSPC from the kernel, not a mock.

Mounting needs root (CI runs as root); elsewhere the tests that need it are skipped,
which is the only case they skip.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_tmpfs(kib: int) -> Iterator[Path]:
    """A fresh folder on a tmpfs of ``kib`` KiB, unmounted afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="psface-full-"))
    if os.geteuid() != 0:
        folder.rmdir()
        pytest.skip("a small tmpfs needs root to mount")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
        folder.rmdir()
