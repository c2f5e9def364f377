"""``psface verify A B``: are two sessions the same person? (1:1)"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gallery.liveness import DEFAULT_BPCER
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

Liveness (presentation-attack detection): each sample's liveness score, from its maps
file, is printed with a verdict: live (score >= the file's threshold for --bpcer),
attack (below it) or unknown (no score measured, or a file without a liveness
calibration; files made before liveness was measured print as they always did). Either
sample may be the one presented, so both are judged. A "same" decision with a sample
judged an attack prints a WARNING line naming it; --require-live makes that decision
"rejected (presentation attack suspected)" instead, and rejects an unknown liveness
too: the requirement cannot be met without a measurement.

examples:
  psface verify s0001/v00 s0001/v03 --maps maps.h5 --model runs/normal --threshold 0.4
  psface verify probe.h5:0 maps.h5:17 --model runs/normal --far 1e-3 --calibration cal.h5
  psface verify probe.h5:0 maps.h5:17 --model runs/normal --threshold 0.4 --require-live"""


def add_liveness_args(parser: argparse.ArgumentParser) -> None:
    """--bpcer and --require-live, for the matching stages."""
    parser.add_argument(
        "--bpcer",
        type=number(0.0, 1.0, low_open=True, high_open=True),
        default=DEFAULT_BPCER,
        metavar="RATE",
        help="liveness threshold as a bona fide presentation classification error rate: "
        "the share of live faces you accept being wrongly flagged as attacks, in (0, 1) "
        f"({DEFAULT_BPCER:g}); lower flags fewer live faces but lets more attacks through",
    )
    parser.add_argument(
        "--require-live",
        action="store_true",
        help="reject a match unless every sample is judged live: a suspected attack "
        "rejects it, and so does an unknown liveness (no score, or no calibration in the "
        "maps file)",
    )


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
    add_liveness_args(parser)
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
        bpcer=args.bpcer,
        require_live=args.require_live,
    )
    threshold, check = verdict.threshold, verdict.check
    liveness = verdict.reported_liveness
    if args.json:
        out: dict[str, object] = {
            "a": args.a,
            "b": args.b,
            "score": verdict.score,
            "decision": verdict.decision,
        }
        if threshold is not None:
            out |= {"threshold": threshold.value, "far": threshold.far}
        if liveness:
            out["liveness"] = {
                key: sample.as_json() for key, sample in zip("ab", liveness.values(), strict=True)
            }
        if check.warning is not None:
            out["warning"] = check.warning
        if check.rejection is not None:
            out["rejected"] = check.rejection
        print(json.dumps(out))
        return 0
    print(f"score {verdict.score:.4f}")
    if threshold is None:
        print("no decision: give --threshold SCORE or --far RATE --calibration FILE")
    elif check.rejection is not None:
        print("decision rejected (presentation attack suspected)")
        print(f"the score alone says {verdict.match} (accept when {threshold.describe()})")
    else:
        print(f"decision {verdict.decision} (accept when {threshold.describe()})")
    for name, sample in liveness.items():
        print(f"liveness {name}: {sample.describe()}")
    if check.warning is not None:
        print(f"WARNING: {check.warning}")
    if check.rejection is not None:
        print(f"rejected: {check.rejection}")
    return 0
