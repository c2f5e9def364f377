"""The ``psface`` command: parses arguments, calls the stage, turns errors into one line.

Each stage lives in ``psface/commands/STAGE.py`` with ``register(subparsers)``, which adds
its parser and sets ``run`` to the function that does the work.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from psface import __version__
from psface.commands import STAGES
from psface.errors import PsfaceError

DESCRIPTION = """\
Photometric-stereo face recognition. A multi-light capture session (one still face,
one image per light) becomes surface normals, albedo and depth; those maps become
identities.

Run `psface STAGE --help` for each stage's options and examples."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="psface",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"psface {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what each step does")
    subparsers = parser.add_subparsers(title="stages", dest="command", metavar="STAGE")
    subparsers.required = True
    for stage in STAGES:
        stage.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.run(args) or 0)
    except PsfaceError as error:
        print(f"psface {args.command}: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"psface {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of our output went away (`psface identify ... | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
