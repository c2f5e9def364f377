"""``psface verify A B``: are two sessions the same person? (1:1)"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from psbase.errors import ConfigError, InputError
from psface.commands.enroll import add_model_args
from psface.options import number

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


def resolve_sample(text: str, maps: Path | None) -> tuple[Path, int]:
    """(maps file, row) for ``FILE.h5:INDEX`` or ``SUBJECT/SESSION`` (looked up in maps)."""
    from photostereo.maps_file import MapsFile

    path_text, sep, index = text.rpartition(":")
    if sep and index.isdigit() and path_text.endswith((".h5", ".hdf5")):
        if not Path(path_text).is_file():
            raise InputError(path_text, "no such maps file")
        path, row = Path(path_text), int(index)
        with MapsFile(path) as handle:
            if row >= len(handle):
                raise InputError(path, f"has {len(handle)} samples; no index {row}")
        return path, row
    subject, sep, session = text.rpartition("/")
    if not sep or not subject or not session:
        raise InputError(text, "not a sample; use SUBJECT/SESSION with --maps, or FILE.h5:INDEX")
    if maps is None:
        raise ConfigError(f"{text}: a SUBJECT/SESSION sample needs --maps maps.h5")
    with MapsFile(maps) as handle:
        subjects, sessions = handle.labels()
    rows = np.flatnonzero((subjects == subject) & (sessions == session))
    if rows.size == 0:
        raise InputError(maps, f"no session {subject}/{session}")
    return maps, int(rows[0])


def run(args: argparse.Namespace) -> int:
    from gallery.calibration import Threshold, calibrate
    from photostereo.maps_file import MapsFile
    from recognition.embed import load_embedder

    if args.far is not None and args.calibration is None:
        raise ConfigError("--far needs --calibration, a labelled maps file to calibrate on")
    samples = [resolve_sample(t, args.maps) for t in (args.a, args.b)]
    embedder = load_embedder(args.model, device=args.device)
    vectors = []
    for path, row in samples:
        with MapsFile(path) as handle:
            emb, _ = embedder.embed_file(handle, np.array([row]), progress=False)
        vectors.append(emb[0])
    score = float(np.dot(vectors[0], vectors[1]))
    threshold = None
    if args.threshold is not None:
        threshold = Threshold(args.threshold)
    elif args.far is not None:
        with MapsFile(args.calibration) as handle:
            subjects, _ = handle.labels()
            emb, _ = embedder.embed_file(handle, batch_size=args.batch_size, progress=False)
        try:
            threshold = calibrate(emb, subjects, args.far)
        except ValueError as error:
            raise InputError(args.calibration, str(error)) from None
    decision = None if threshold is None else ("same" if score >= threshold.value else "different")
    if args.json:
        out = {"a": args.a, "b": args.b, "score": score, "decision": decision}
        if threshold is not None:
            out |= {"threshold": threshold.value, "far": threshold.far}
        print(json.dumps(out))
        return 0
    print(f"score {score:.4f}")
    if threshold is None:
        print("no decision: give --threshold SCORE or --far RATE --calibration FILE")
    else:
        print(f"decision {decision} (accept when {threshold.describe()})")
    return 0
