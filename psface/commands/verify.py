"""``psface verify A B``: are two sessions the same person? (1:1)"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from psface.commands.enroll import add_model_args
from psface.options import number
from psface.readers import maps_and_models

HELP = "compare two sessions: score and same/different decision (1:1)"
DESCRIPTION = """\
Embed two samples and compare them (cosine similarity of their templates).

A and B name samples of maps datasets, in either form:
  SUBJECT/SESSION   a session in the maps file given by --maps
  FILE.h5:INDEX     row INDEX (from 0) of a maps file (named .h5 or .hdf5)

The decision needs a threshold, given either as a raw score (--threshold 0.4) or as a
false-accept rate (--far 1e-3) chosen on a calibration set: a maps file of labelled
people (--calibration), whose impostor pairs fix the score that lets through that share
of impostors. A FAR is portable between models; a raw score is not. Without either,
only the score is printed.

examples:
  psface verify s0001/v00 s0001/v03 --maps maps.h5 --model runs/normal --threshold 0.4
  psface verify probe.h5:0 maps.h5:17 --model runs/normal --far 1e-3 --calibration cal.h5"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("a", metavar="A", help="SUBJECT/SESSION (with --maps) or FILE.h5:INDEX")
    parser.add_argument("b", metavar="B", help="the other sample, same forms")
    add_model_args(parser)
    parser.add_argument("--maps", type=Path, help="maps file for SUBJECT/SESSION samples")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--threshold", type=number(), help="accept when score >= this cosine")
    choice.add_argument(
        "--far",
        type=number(0.0, 1.0, low_open=True),
        help="false-accept rate in (0, 1], calibrated on --calibration",
    )
    parser.add_argument("--calibration", type=Path, help="labelled maps file for --far")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gallery.verify import verify_samples

    verdict = verify_samples(
        args.a,
        args.b,
        args.model,
        **maps_and_models(args.device),
        maps=args.maps,
        threshold=args.threshold,
        far=args.far,
        calibration=args.calibration,
        batch_size=args.batch_size,
    )
    threshold = verdict.threshold
    if args.json:
        out = {"a": args.a, "b": args.b, "score": verdict.score, "decision": verdict.decision}
        if threshold is not None:
            out |= {"threshold": threshold.value, "far": threshold.far}
        print(json.dumps(out))
        return 0
    print(f"score {verdict.score:.4f}")
    if threshold is None:
        print("no decision: give --threshold SCORE or --far RATE --calibration FILE")
    else:
        print(f"decision {verdict.decision} (accept when {threshold.describe()})")
    return 0
