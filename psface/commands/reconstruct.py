"""``psface reconstruct``: capture sessions to normal, albedo and depth maps."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from photostereo.integrate import INTEGRATORS
from photostereo.io.discover import (
    SessionRef,
    detect_layout,
    find_sessions,
    load_session,
    parse_ref,
)
from photostereo.io.outputs import quality_summary, write_reconstruction
from photostereo.reconstruct import reconstruct
from photostereo.solvers import SOLVERS
from psbase.errors import InputError, PsfaceError

HELP = "photometric stereo: sessions to normal, albedo and depth maps"
DESCRIPTION = """\
Reconstruct the face's surface normals, albedo and depth map from a capture session:
one still face photographed once per light (three or more lights).

SESSION is a session folder in any layout psface reads (canonical with lights.json,
Photoface with LightSource.m, or an Extended Yale B subject folder), or a folder of
many sessions (ROOT/SUBJECT/SESSION). One session writes straight into OUT:

  normal.npy (H,W,3)  albedo.npy (H,W)  depth.npy (H,W, NaN off the face)  mask.png
  normal.png albedo.png depth.png (previews)  mesh.ply  residual.npy  summary.json

Several sessions write OUT/SUBJECT/SESSION/ each; a broken session is reported and
skipped, and the others still finish (use --strict to fail the run instead).

Solvers: plain (least squares over all lights, fastest), shadow (drops shadowed and
saturated observations, the default), robust (reweighted, for many lights with
specular highlights). Integrators: masked (sparse least squares on the face mask, the
default), dct (Poisson with Neumann boundary), fft (Frankot-Chellappa).

examples:
  psface reconstruct data/generated/s0001/v00 -o out/s0001
  psface reconstruct yaleb/yaleB01 -o out/yaleB01 --solver robust
  psface reconstruct sessions/ -o out/ --integrator dct"""


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
    refs = collect(args.sessions)
    single = len(refs) == 1
    failures: list[str] = []
    progress = tqdm(refs, desc="reconstruct", unit="session", disable=single or None)
    for ref in progress:
        try:
            session = load_session(ref)
            rec = reconstruct(session, solver=args.solver, integrator=args.integrator)
            out = args.out if single else args.out / session.subject / session.session
            summary = {
                "session": str(ref),
                "subject": session.subject,
                "solver": args.solver,
                "integrator": args.integrator,
                "lights": session.n_lights,
                **quality_summary(rec),
            }
            write_reconstruction(out, rec, summary=summary)
        except PsfaceError as error:
            if single:
                raise
            failures.append(str(error))
    done = len(refs) - len(failures)
    if single:
        print(f"wrote {args.out}/ (normal, albedo, depth, mask, previews, mesh.ply)")
        return 0
    print(f"reconstructed {done} of {len(refs)} sessions into {args.out}/")
    if failures:
        print(f"{len(failures)} failed:", file=sys.stderr)
        for line in failures:
            print(f"  {line}", file=sys.stderr)
        if args.strict or done == 0:
            raise InputError(args.out, f"{len(failures)} of {len(refs)} sessions failed")
    return 0
