"""``psface reconstruct``: capture sessions to normal, albedo and depth maps."""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from tqdm import tqdm

from photostereo.integrate import INTEGRATORS
from photostereo.io.budget import GB
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
from photostereo.solvers import SOLVERS
from psbase.errors import InputError, PsfaceError, one_line
from psbase.failures import unexpected
from psbase.labels import safe_component
from psbase.outputs import output_folder, prepare_output_folder
from psface.options import positive_number, response_type

HELP = "photometric stereo: sessions to normal, albedo and depth maps"
DESCRIPTION = """\
Reconstruct the face's surface normals, albedo and depth map from a capture session:
one still face photographed once per light (three or more lights).

SESSION is a session folder in any layout psface reads (canonical with lights.json,
Photoface with LightSource.m, or an Extended Yale B subject folder), or a folder of
many sessions (ROOT/SUBJECT/SESSION). One session writes straight into OUT:

  normal.npy (H,W,3)  albedo.npy (H,W)  depth.npy (H,W, NaN off the face)  mask.png
  normal.png albedo.png depth.png (previews)  mesh.ply  residual.npy  summary.json

Several sessions write OUT/SUBJECT/SESSION/ each, named by the sessions' labels
(characters a path would read as structure are percent-encoded, so a label never
leads outside OUT). A broken session is reported and skipped, and the others still
finish (use --strict to fail the run instead); so are sessions whose labels would
share a folder (none of them is written) and, unless --overwrite, sessions whose
folder already holds files.

Before decoding a session, its memory need is estimated from the captures' headers;
above --max-memory (default: half of this machine's memory) it is refused in one
line rather than left to exhaust the machine.

Camera response (--response): photometric stereo needs captures linear in radiance.
linear takes the pixel values as they are; srgb decodes 8-bit sRGB files (the usual
camera JPEG/PNG) with the IEC 61966-2-1 curve; gamma:G decodes value**G (e.g.
gamma:2.2). Default: what the session declares (a canonical lights.json's "response"),
else linear. A session whose lights.json declares a different response fails with one
line naming the file and both values, so a wrong curve is never silently used. Pixels
at 98% or more of full scale in a stored capture are saturated and left out of the
solve, whatever the response.

Solvers: plain (least squares over all lights, fastest), shadow (drops shadowed and
saturated observations, the default), robust (reweighted, for many lights with
specular highlights). Integrators: masked (sparse least squares on the face mask, the
default), dct (Poisson with Neumann boundary), fft (Frankot-Chellappa).

examples:
  psface reconstruct data/generated/s0001/v00 -o out/s0001
  psface reconstruct yaleb/yaleB01 -o out/yaleB01 --solver robust
  psface reconstruct sessions/ -o out/ --integrator dct
  psface reconstruct phone_captures/s01 -o out/s01 --response srgb"""

#: Help of the --response option of reconstruct and preprocess.
RESPONSE_HELP = (
    "camera response of the captures: linear, srgb or gamma:G (e.g. gamma:2.2); "
    "default: what the session's lights.json declares, else linear. A session that "
    "declares another response fails, naming lights.json and both values"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reconstruct",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("sessions", nargs="+", metavar="SESSION", help="session folder(s) or root")
    parser.add_argument("-o", "--out", required=True, type=Path, help="output folder")
    parser.add_argument("--solver", choices=SOLVERS, default="shadow", help="default: shadow")
    parser.add_argument(
        "--integrator", choices=INTEGRATORS, default="masked", help="default: masked"
    )
    parser.add_argument("--response", type=response_type, metavar="CURVE", help=RESPONSE_HELP)
    parser.add_argument(
        "--max-memory",
        type=positive_number,
        metavar="GB",
        help="refuse a session whose reconstruction would need more than GB gigabytes of "
        "memory, estimated from the captures' headers before any is decoded "
        "(default: half of this machine's memory)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="write into output folders that already hold files, replacing only the files "
        "psface writes there (normal.npy, ..., summary.json); nothing else is touched",
    )
    parser.add_argument("--strict", action="store_true", help="exit non-zero if any session fails")
    parser.set_defaults(run=run)


def collect(arguments: list[str]) -> list[SessionRef]:
    """Session references for each argument: a session itself or every session below it."""
    refs: list[SessionRef] = []
    for argument in arguments:
        path = Path(argument)
        found = find_sessions(path) if path.is_dir() and detect_layout(path) is None else []
        refs.extend(found or [parse_ref(argument)])
    return refs


def run(args: argparse.Namespace) -> int:
    refs = list(dict.fromkeys(collect(args.sessions)))  # a session named twice runs once
    max_bytes = None if args.max_memory is None else int(args.max_memory * GB)
    if len(refs) == 1:
        return _run_single(refs[0], args, max_bytes)
    return _run_batch(refs, args, max_bytes)


def _run_single(ref: SessionRef, args: argparse.Namespace, max_bytes: int | None) -> int:
    """One session straight into OUT; any failure is the command's error."""
    with output_folder(args.out, overwrite=args.overwrite, inputs=[ref.path]) as out:
        rec, summary = _reconstructed(ref, args, max_bytes)
        write_reconstruction(out, rec, summary=summary)
    print(f"wrote {out}/ (normal, albedo, depth, mask, previews, mesh.ply)")
    return 0


def _run_batch(refs: list[SessionRef], args: argparse.Namespace, max_bytes: int | None) -> int:
    """Every session into OUT/SUBJECT/SESSION; a failing one is listed, the rest finish."""
    prepare_output_folder(args.out, overwrite=True, inputs=sorted({ref.path for ref in refs}))
    failed: dict[SessionRef, str] = {}
    targets = _plan(refs, args, failed)
    for ref, target in tqdm(targets.items(), desc="reconstruct", unit="session", disable=None):
        try:
            _reconstruct_into(ref, target, args, max_bytes)
        except Exception as error:  # the batch goes on, whatever broke this session
            failed[ref] = _failure(ref, error)
    done = len(refs) - len(failed)
    print(f"reconstructed {done} of {len(refs)} sessions into {args.out}/")
    if failed:
        print(f"{len(failed)} failed:", file=sys.stderr)
        for ref in refs:
            if ref in failed:
                print(f"  {failed[ref]}", file=sys.stderr)
        if args.strict or done == 0:
            raise InputError(args.out, f"{len(failed)} of {len(refs)} sessions failed")
    return 0


def _plan(
    refs: list[SessionRef], args: argparse.Namespace, failed: dict[SessionRef, str]
) -> dict[SessionRef, Path]:
    """Each session's output folder, from its labels alone (no image is read yet).

    Labels are data, confined to one folder name each. Sessions that would share a
    folder all fail here, before anything is written, so none silently replaces
    another; so does a folder that already holds files (unless ``--overwrite``).
    """
    targets: dict[SessionRef, Path] = {}
    for ref in refs:
        try:
            subject, session = session_labels(ref)
            target = args.out / safe_component(subject, what="subject label")
            target = target / safe_component(session, what="session label")
            if target.exists():
                prepare_output_folder(target, overwrite=args.overwrite, inputs=[ref.path])
            targets[ref] = target
        except Exception as error:
            failed[ref] = _failure(ref, error)
    sharing: dict[Path, list[SessionRef]] = {}
    for ref, target in targets.items():
        sharing.setdefault(target, []).append(ref)
    for target, group in sharing.items():
        for ref in group if len(group) > 1 else ():
            others = [str(other) for other in group if other != ref]
            more = f" (and {len(others) - 1} more)" if len(others) > 1 else ""
            failed[ref] = (
                f"{ref}: would write to {target}, as would {others[0]}{more}; "
                "give the sessions different subject or session labels"
            )
            del targets[ref]
    return targets


def _reconstruct_into(
    ref: SessionRef, target: Path, args: argparse.Namespace, max_bytes: int | None
) -> None:
    """One session of a batch; its maps are freed on return, before the next loads."""
    rec, summary = _reconstructed(ref, args, max_bytes)
    out = prepare_output_folder(target, overwrite=args.overwrite, inputs=[ref.path])
    write_reconstruction(out, rec, summary=summary)


def _reconstructed(
    ref: SessionRef, args: argparse.Namespace, max_bytes: int | None
) -> tuple[Reconstruction, dict]:
    session = load_session(ref, max_bytes=max_bytes, response=args.response)
    rec = reconstruct(session, solver=args.solver, integrator=args.integrator)
    summary = {
        "session": str(ref),
        "subject": session.subject,
        "solver": args.solver,
        "integrator": args.integrator,
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
