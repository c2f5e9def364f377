"""``psface reconstruct``: capture sessions to normal, albedo and depth maps."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from photostereo.integrate import INTEGRATORS
from photostereo.io.budget import GB
from photostereo.reconstruct_batch import (
    ReconstructOptions,
    collect_sessions,
    reconstruct_sessions,
)
from photostereo.solvers import SOLVERS
from psbase.errors import InputError
from psface.options import RESPONSE_HELP, positive_number, response_type
from psface.progress import progress_bar

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


def run(args: argparse.Namespace) -> int:
    refs = collect_sessions(args.sessions)
    options = ReconstructOptions(
        solver=args.solver,
        integrator=args.integrator,
        response=args.response,
        max_bytes=None if args.max_memory is None else int(args.max_memory * GB),
        overwrite=args.overwrite,
    )
    if len(refs) == 1:
        reconstruct_sessions(refs, args.out, options)
        print(f"wrote {args.out}/ (normal, albedo, depth, mask, previews, mesh.ply)")
        return 0
    with progress_bar("reconstruct", "session") as progress:
        report = reconstruct_sessions(refs, args.out, options, progress=progress)
    print(f"reconstructed {report.done} of {len(refs)} sessions into {args.out}/")
    if report.failed:
        print(f"{len(report.failed)} failed:", file=sys.stderr)
        for line in report.failed.values():
            print(f"  {line}", file=sys.stderr)
        if args.strict or report.done == 0:
            raise InputError(args.out, f"{len(report.failed)} of {len(refs)} sessions failed")
    return 0
