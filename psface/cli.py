"""The ``psface`` command: parses arguments, calls the stage, turns errors into one line.

Each stage lives in ``psface/commands/STAGE.py`` with ``register(subparsers)``, which adds
its parser and sets ``run`` to the function that does the work. Whatever goes wrong, the
user reads one line on stderr: psface's own errors say what to fix; anything else names
its type and the log file holding the traceback (``--debug`` prints it instead).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback

from psbase import __version__
from psbase.errors import PsfaceError, one_line
from psbase.failures import set_debug, unexpected
from psface.commands import STAGES
from psface.options import Parser

DESCRIPTION = """\
Photometric-stereo face recognition. A multi-light capture session (one still face,
one image per light) becomes surface normals, albedo and depth; those maps become
identities.

Run `psface STAGE --help` for each stage's options and examples."""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="psface",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"psface {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what each step does")
    parser.add_argument(
        "--debug", action="store_true", help="print full tracebacks on stderr instead of a log"
    )
    subparsers = parser.add_subparsers(
        title="stages", dest="command", metavar="STAGE", parser_class=Parser
    )
    subparsers.required = True
    for stage in STAGES:
        stage.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    set_debug(args.debug)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    prefix = f"psface {args.command}"
    try:
        return int(args.run(args) or 0)
    except PsfaceError as error:
        print(f"{prefix}: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of our output went away (`psface identify ... | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except MemoryError:
        print(
            f"{prefix}: error: out of memory; use smaller inputs or a larger machine",
            file=sys.stderr,
        )
        return 1
    except Exception as error:  # a bug or an unforeseen input: one line, stack in the log
        line = unexpected(prefix, one_line(error), traceback.format_exc())
        print(f"{prefix}: error: {line}", file=sys.stderr)
        return 1
