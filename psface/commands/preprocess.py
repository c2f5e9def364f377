"""``psface preprocess``: a tree of capture sessions to one aligned maps dataset."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from photostereo.integrate import INTEGRATORS
from photostereo.solvers import SOLVERS
from psbase.errors import InputError
from psface.options import (
    RESPONSE_HELP,
    integer,
    number,
    positive_int,
    positive_number,
    response_type,
)

HELP = "sessions to one HDF5 maps dataset (detect, align, reconstruct)"
DESCRIPTION = """\
Turn every capture session under ROOT into aligned maps in one HDF5 file: MTCNN finds
the face, five landmarks align it to a SIZE x SIZE crop, and photometric stereo runs in
the crop. The file holds normal (N,3,S,S), albedo, depth, image (the most frontal
capture, the 2D baseline) and mask (N,1,S,S), subject and session labels, and a meta
group (source, detection score and landmarks, photometric residual, ...).

It is safe to stop: finished sessions are saved every --checkpoint seconds by replacing
the file atomically, and running the same command again skips them. A file made with
another size or configuration (--response included, when given), or from another ROOT,
is refused, never mixed (--append adds another ROOT's sessions on purpose); a file
psface did not make is never replaced, and one run at a time writes a file. Sessions
that fail (no face, unreadable captures, bad lights, a crash, a lights.json whose
"response" differs from --response) are listed at the end, and in the file's `failed`
attribute; the
run exits 0 if any session succeeded, unless --strict.

examples:
  psface preprocess data/generated -o maps.h5 --size 64
  psface preprocess yaleb/ -o yale.h5 --no-detect --size 112
  psface preprocess more/ -o maps.h5 --size 64 --append
  psface preprocess phone_captures/ -o maps.h5 --response srgb
  psface preprocess sessions/ -o maps.h5 --dask tcp://scheduler:8786"""

#: Bytes in the GB of --max-memory (decimal, like the readers' messages).
GB = 1e9


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "preprocess",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("root", type=Path, metavar="ROOT", help="folder of sessions")
    parser.add_argument("-o", "--out", required=True, type=Path, help="maps file to write")
    parser.add_argument(
        "--size", type=integer(32, 1024), default=112, help="crop size in pixels (112)"
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="worker processes (default: cores); 1 works in this process, where a crash "
        "in native code ends the run instead of failing one session",
    )
    parser.add_argument(
        "--no-detect",
        action="store_true",
        help="skip MTCNN: take the central square (faces already cropped and aligned)",
    )
    parser.add_argument("--solver", choices=SOLVERS, default="shadow")
    parser.add_argument("--integrator", choices=INTEGRATORS, default="masked")
    parser.add_argument(
        "--response",
        type=response_type,
        metavar="CURVE",
        help=f"{RESPONSE_HELP}. Stored in the file's configuration when given",
    )
    parser.add_argument("--dask", metavar="ADDRESS", help="run on this Dask scheduler")
    parser.add_argument(
        "--checkpoint",
        type=number(0.0),
        default=10.0,
        metavar="SECONDS",
        help="save interval (10)",
    )
    parser.add_argument(
        "--max-memory",
        type=positive_number,
        metavar="GB",
        help="refuse a session whose captures would need more memory than this "
        "(default: the readers' limit, half of the machine's memory)",
    )
    parser.add_argument(
        "--append",
        action="store_true",
        help="add ROOT's sessions to a maps file made from another folder",
    )
    parser.add_argument("--strict", action="store_true", help="fail if any session fails")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # imported on use: the liveness networks bring torch, which other commands need not
    from photostereo.batch import run_preprocess
    from photostereo.preprocess import PreprocessConfig

    config = PreprocessConfig(
        size=args.size,
        detect=not args.no_detect,
        solver=args.solver,
        integrator=args.integrator,
        response=None if args.response is None else str(args.response),
    )
    bar = tqdm(total=0, desc="preprocess", unit="session", disable=None)

    saved_count = 0

    def saved(sources: list[str]) -> None:
        nonlocal saved_count
        saved_count += len(sources)
        bar.set_postfix_str(f"saved {saved_count}")
        if args.verbose:
            for source in sources:
                print(f"saved {source}", file=sys.stderr, flush=True)

    summary = run_preprocess(
        args.root,
        args.out,
        config,
        workers=args.workers,
        dask_address=args.dask,
        checkpoint_seconds=args.checkpoint,
        append=args.append,
        max_bytes=None if args.max_memory is None else int(args.max_memory * GB),
        on_total=lambda n: bar.reset(total=n),
        on_outcome=lambda outcome: bar.update(1),
        on_saved=saved,
    )
    bar.close()
    report: dict[str, Any] = {
        "out": str(args.out),
        "done": len(summary.done),
        "failed": [{"session": s, "reason": r} for s, r in summary.failed],
        "warnings": summary.warnings,
        "skipped": summary.skipped,
        "sessions_per_second": round(summary.rate, 3),
        "seconds": round(summary.seconds, 3),
        "step_seconds": {k: round(v, 3) for k, v in summary.step_seconds.items()},
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in report["step_seconds"].items())
        print(
            f"{args.out}: {report['done']} done, {len(summary.failed)} failed, "
            f"{summary.skipped} already there; {summary.rate:.1f} sessions/s ({steps})"
        )
        for warning in summary.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        for source, reason in summary.failed:
            print(f"failed: {source}: {reason}", file=sys.stderr)
    if summary.failed and (args.strict or not (summary.done or summary.skipped)):
        raise InputError(args.root, f"{len(summary.failed)} sessions failed")
    return 0
