"""Where full tracebacks go: a log file by default, stderr under ``--debug``.

The user sees one line per failure; the developer who needs the stack finds it in the
log the line names. Logs sit in ``$PSFACE_LOG_DIR`` or an owner-only folder in the
system's temporary directory, one file per psface process, created on first use.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

_settings = {"debug": False}
#: This process's log file in each log folder used so far.
_logs: dict[Path, Path] = {}


def set_debug(debug: bool) -> None:
    """Print tracebacks on stderr (``True``) instead of writing them to the log file."""
    _settings["debug"] = debug


def log_folder() -> Path:
    """``$PSFACE_LOG_DIR``, else ``TMPDIR/psface-UID``, created owner-only."""
    folder = os.environ.get("PSFACE_LOG_DIR")
    path = Path(folder) if folder else Path(tempfile.gettempdir()) / f"psface-{os.getuid()}"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def record_traceback(context: str, text: str) -> str:
    """Keep ``text`` (a formatted traceback) about ``context``; return where it went."""
    if _settings["debug"]:
        print(f"--- {context}\n{text.rstrip()}", file=sys.stderr, flush=True)
        return "stderr"
    try:
        folder = log_folder()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        log = _logs.setdefault(folder, folder / f"psface-{stamp}-{os.getpid()}.log")
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(f"--- {context}\n{text.rstrip()}\n")
    except OSError:
        return "nowhere (the log folder is not writable; rerun with --debug)"
    return str(log)


def unexpected(context: str, summary: str, trace: str) -> str:
    """The one line for an error psface did not foresee: ``summary`` and where its
    traceback ``trace`` was kept (see :func:`record_traceback`)."""
    return f"{summary} (unexpected; traceback in {record_traceback(context, trace)})"
