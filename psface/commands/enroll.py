"""``psface enroll``: embed sessions of a maps file and add them to a gallery."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from psface.options import number, positive_int
from psface.readers import maps_and_models

HELP = "add people from a maps file to a gallery of templates"
DESCRIPTION = """\
Embed sessions of a maps dataset with a trained model and store their templates in a
gallery file (created if absent). Each session keeps its own template; each person also
gets an aggregate (the quality-weighted mean of their sessions, renormalised), which is
what `psface identify` searches by default. Enrolling a session that is already in the
gallery replaces it.

The gallery remembers the model's fingerprint and modality; enrolling or matching with
another model is refused. Writes are atomic (a crash leaves the gallery as it was) and
serialised: a second enrolment waits for the first (up to --timeout seconds).

examples:
  psface enroll maps.h5 --model runs/normal --gallery gallery.h5
  psface enroll maps.h5 --model runs/normal --gallery gallery.h5 --earliest 1
  psface enroll maps.h5 --model runs/normal --gallery gallery.h5 --subject s0001 s0002"""


def add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        required=True,
        metavar="RUN",
        help="trained run folder, or a model exported by psface export (.onnx)",
    )
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--batch-size", type=positive_int, default=256, help="maps per batch (256)")


def add_timeout_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=number(0.0),
        default=120.0,
        help="seconds to wait for another writer of the gallery (120)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "enroll",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("maps", type=Path, metavar="MAPS", help="maps dataset (maps.h5)")
    add_model_args(parser)
    parser.add_argument("--gallery", required=True, type=Path, help="gallery file (.h5)")
    parser.add_argument("--subject", nargs="+", metavar="S", help="enrol only these people")
    parser.add_argument(
        "--earliest",
        type=positive_int,
        metavar="N",
        help="enrol only each person's earliest N sessions (N >= 1)",
    )
    add_timeout_arg(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gallery.enrolment import enroll_maps

    result = enroll_maps(
        args.maps,
        args.gallery,
        args.model,
        **maps_and_models(args.device),
        people=args.subject,
        earliest=args.earliest,
        batch_size=args.batch_size,
        timeout=args.timeout,
        on_wait=lambda message: print(message, file=sys.stderr),
    )
    print(
        f"enrolled {result.added} new and {result.replaced} replaced sessions "
        f"({result.new_identities} new people) into {args.gallery}: "
        f"{result.identities} people, {result.templates} templates"
    )
    return 0
