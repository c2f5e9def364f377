"""The error hierarchy every stage raises and the CLI turns into one line on stderr."""

from __future__ import annotations

from pathlib import Path


class PsfaceError(Exception):
    """A problem with the user's input or set-up, explained in one line.

    Anything else that escapes is a bug in psface and keeps its traceback.
    """

    exit_code = 1


class InputError(PsfaceError):
    """A file, folder or session that cannot be used as it is.

    The message always starts with the path, so a batch log names what to fix.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class LightGeometryError(InputError):
    """Light directions that cannot determine a normal (fewer than three, or coplanar)."""


class ConfigError(PsfaceError):
    """An option or option combination that cannot work."""


class ResourceError(PsfaceError):
    """Not enough of something the machine has (memory, disk space) for the work asked."""


def one_line(error: BaseException, *, limit: int = 300) -> str:
    """A one-line account of any exception, for batch reports and the CLI.

    The project's own errors are already written for the user; anything else is named
    by its type, since its message alone ("SVD did not converge") may not say what
    broke. Multi-line messages (HDF5 stacks) keep their first line.
    """
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if not isinstance(error, PsfaceError):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
