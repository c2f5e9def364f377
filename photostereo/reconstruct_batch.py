"""Reconstruct sessions into folders of maps: one straight into OUT, many into
OUT/SUBJECT/SESSION, a broken session listed while the others finish.

This is what ``psface reconstruct`` runs; the command only parses, calls
:func:`reconstruct_sessions` and prints its :class:`ReconstructReport`.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from photostereo.io.discover import (
    SessionRef,
    detect_layout,
    find_sessions,
    load_session,
    parse_ref,
    session_labels,
)
from photostereo.io.outputs import quality_summary, write_reconstruction
from photostereo.reconstruct import Reconstruction, reconstruct
from photostereo.response import Response
from psbase.errors import PsfaceError, one_line
from psbase.failures import unexpected
from psbase.labels import safe_component
from psbase.outputs import output_folder, prepare_output_folder


@dataclass(frozen=True)
class ReconstructOptions:
    """How every session of a run is solved and written."""

    solver: str = "shadow"
    integrator: str = "masked"
    response: Response | None = None
    max_bytes: int | None = None
    overwrite: bool = False


@dataclass
class ReconstructReport:
    """What a run did: the sessions asked for, and one line per failed one (in order)."""

    out: Path
    sessions: list[SessionRef]
    failed: dict[SessionRef, str] = field(default_factory=dict)

    @property
    def done(self) -> int:
        return len(self.sessions) - len(self.failed)


def collect_sessions(arguments: Sequence[str]) -> list[SessionRef]:
    """Session references for each argument, a session itself or every session below
    it; a session named twice runs once."""
    refs: list[SessionRef] = []
    for argument in arguments:
        path = Path(argument)
        found = find_sessions(path) if path.is_dir() and detect_layout(path) is None else []
        refs.extend(found or [parse_ref(argument)])
    return list(dict.fromkeys(refs))


def reconstruct_sessions(
    refs: Sequence[SessionRef],
    out: Path,
    options: ReconstructOptions,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> ReconstructReport:
    """One session straight into ``out`` (any failure is raised), or several into
    ``out/SUBJECT/SESSION`` (each failure listed in the report, the rest finished)."""
    report = ReconstructReport(Path(out), list(refs))
    if len(refs) == 1:
        with output_folder(out, overwrite=options.overwrite, inputs=[refs[0].path]) as folder:
            rec, summary = _reconstructed(refs[0], options)
            write_reconstruction(folder, rec, summary=summary)
        return report
    prepare_output_folder(out, overwrite=True, inputs=sorted({ref.path for ref in refs}))
    targets = _plan(report, options)
    for done, (ref, target) in enumerate(targets.items(), start=1):
        try:
            _reconstruct_into(ref, target, options)
        except Exception as error:  # the batch goes on, whatever broke this session
            report.failed[ref] = _failure(ref, error)
        if progress is not None:
            progress(done, len(targets))
    report.failed = {ref: report.failed[ref] for ref in refs if ref in report.failed}
    return report


def _plan(report: ReconstructReport, options: ReconstructOptions) -> dict[SessionRef, Path]:
    """Each session's output folder, from its labels alone (no image is read yet).

    Labels are data, confined to one folder name each. Sessions that would share a
    folder all fail here, before anything is written, so none silently replaces
    another; so does a folder that already holds files (unless ``overwrite``).
    """
    targets: dict[SessionRef, Path] = {}
    for ref in report.sessions:
        try:
            subject, session = session_labels(ref)
            target = report.out / safe_component(subject, what="subject label")
            target = target / safe_component(session, what="session label")
            if target.exists():
                prepare_output_folder(target, overwrite=options.overwrite, inputs=[ref.path])
            targets[ref] = target
        except Exception as error:
            report.failed[ref] = _failure(ref, error)
    sharing: dict[Path, list[SessionRef]] = {}
    for ref, target in targets.items():
        sharing.setdefault(target, []).append(ref)
    for target, group in sharing.items():
        for ref in group if len(group) > 1 else ():
            others = [str(other) for other in group if other != ref]
            more = f" (and {len(others) - 1} more)" if len(others) > 1 else ""
            report.failed[ref] = (
                f"{ref}: would write to {target}, as would {others[0]}{more}; "
                "give the sessions different subject or session labels"
            )
            del targets[ref]
    return targets


def _reconstruct_into(ref: SessionRef, target: Path, options: ReconstructOptions) -> None:
    """One session of a batch; its maps are freed on return, before the next loads."""
    rec, summary = _reconstructed(ref, options)
    out = prepare_output_folder(target, overwrite=options.overwrite, inputs=[ref.path])
    write_reconstruction(out, rec, summary=summary)


def _reconstructed(ref: SessionRef, options: ReconstructOptions) -> tuple[Reconstruction, dict]:
    session = load_session(ref, max_bytes=options.max_bytes, response=options.response)
    rec = reconstruct(session, solver=options.solver, integrator=options.integrator)
    summary = {
        "session": str(ref),
        "subject": session.subject,
        "solver": options.solver,
        "integrator": options.integrator,
        "response": str(session.response),
        "lights": session.n_lights,
        **quality_summary(rec),
    }
    return rec, summary


def _failure(ref: SessionRef, error: Exception) -> str:
    """One line for a failed session of a batch, naming it; a bug's traceback is logged."""
    if isinstance(error, MemoryError):
        text = "out of memory; reconstruct this session alone or on a larger machine"
    elif isinstance(error, PsfaceError):
        text = one_line(error)
    else:
        text = unexpected(f"psface reconstruct {ref}", one_line(error), traceback.format_exc())
    return text if text.startswith(str(ref.path)) else f"{ref}: {text}"
