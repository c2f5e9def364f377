"""``psface identify``: rank gallery people for every session of a maps file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from psface.commands.enroll import add_model_args
from psface.commands.verify import add_liveness_args
from psface.options import integer, number
from psface.readers import maps_and_models

HELP = "search a gallery: ranked candidates for each session (1:N)"
DESCRIPTION = """\
Embed each session of a maps dataset and search the gallery for the people it most
resembles (cosine similarity of templates). Prints the top-k candidates with scores.

By default each person is represented by their aggregate template (quality-weighted
mean of their enrolled sessions); --per-session scores every enrolled session and keeps
each person's best. With --threshold T the answer is open-set: a session whose best
score is below T is reported as "unknown".

Liveness (presentation-attack detection): where the maps file measured it, each probe's
liveness score is shown at the end of its row with a verdict: live (score >= the file's
threshold for --bpcer), attack (below it) or unknown (no score, or no liveness
calibration in the file; files made before liveness was measured print as they always
did). A probe judged an attack that still gets an identity gets a WARNING line on
stderr naming it and its score; --require-live refuses it the identity instead (answer
"unknown", a REJECTED line on stderr), and refuses a probe of unknown liveness too: the
requirement cannot be met without a measurement.

Search is exact (FAISS flat inner product; auto, numpy and faiss all name it); --search
ivf uses an approximate FAISS index for very large galleries. The gallery must have
been enrolled with the same model.

examples:
  psface identify probes.h5 --model runs/normal --gallery gallery.h5
  psface identify probes.h5 --model runs/normal --gallery gallery.h5 -k 3 --threshold 0.35
  psface identify probes.h5 --model runs/normal --gallery gallery.h5 --json > answers.json
  psface identify probes.h5 --model runs/normal --gallery gallery.h5 --require-live"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "identify",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("maps", type=Path, metavar="MAPS", help="maps dataset of the probes")
    add_model_args(parser)
    parser.add_argument("--gallery", required=True, type=Path, help="gallery file (.h5)")
    parser.add_argument(
        "-k", "--top", type=integer(1, 1000), default=5, help="candidates per probe, 1-1000 (5)"
    )
    parser.add_argument(
        "--threshold", type=number(), help="open set: below this cosine, answer unknown"
    )
    parser.add_argument("--per-session", action="store_true", help="search session templates")
    parser.add_argument(
        "--search", choices=("auto", "numpy", "faiss", "ivf"), default="auto", help="(auto)"
    )
    add_liveness_args(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gallery.identify import identify_maps

    answers = identify_maps(
        args.maps,
        args.gallery,
        args.model,
        **maps_and_models(args.device),
        top=args.top,
        threshold=args.threshold,
        per_session=args.per_session,
        method=args.search,
        batch_size=args.batch_size,
        bpcer=args.bpcer,
        require_live=args.require_live,
    )
    if args.json:
        print(json.dumps({"gallery": str(args.gallery), "probes": answers}, indent=1))
        return 0
    print(f"{'probe':<32} {'answer':<16} candidates (score)")
    for a in answers:
        probe = a["subject"] + "/" + a["session"]
        cands = "  ".join(f"{c['subject']} ({c['score']:.3f})" for c in a["candidates"])
        live = f"  [liveness {liveness_cell(a['liveness'])}]" if "liveness" in a else ""
        print(f"{probe:<32} {a['answer']:<16} {cands}{live}")
        if "warning" in a:
            print(f"psface identify: WARNING: {a['warning']}", file=sys.stderr)
        if "rejected" in a:
            print(
                f"psface identify: REJECTED (presentation attack suspected): {a['rejected']}",
                file=sys.stderr,
            )
    return 0


def liveness_cell(liveness: dict) -> str:
    """A probe's liveness in the table: its score and verdict ("- unknown": no score)."""
    score = liveness["score"]
    return f"{'-' if score is None else f'{score:.3f}'} {liveness['decision']}"
