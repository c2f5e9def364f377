"""``psface gallery list|show|remove``: look after a gallery file."""

from __future__ import annotations

import argparse
from pathlib import Path

from psface.commands.enroll import add_timeout_arg

HELP = "list, inspect or remove people in a gallery"
DESCRIPTION = """\
Housekeeping for a gallery file made by `psface enroll`.

  list    one line per person: sessions enrolled and the latest enrolment time
  show    the gallery's model, modality, fingerprint, schema and sizes
  remove  delete people and every template of theirs (the file is rewritten
          without them, so their templates do not linger in it)

examples:
  psface gallery list gallery.h5
  psface gallery show gallery.h5
  psface gallery remove gallery.h5 s0007 s0012"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "gallery",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in (("list", "list enrolled people"), ("show", "describe the gallery")):
        sub = actions.add_parser(name, help=text, description=text)
        sub.add_argument("gallery", type=Path, metavar="GALLERY")
    sub = actions.add_parser("remove", help="remove people", description="remove people")
    sub.add_argument("gallery", type=Path, metavar="GALLERY")
    sub.add_argument("subjects", nargs="+", metavar="SUBJECT")
    add_timeout_arg(sub)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gallery.store import SCHEMA_VERSION, read_gallery, remove

    if args.action == "remove":
        removed = remove(args.gallery, args.subjects, timeout=args.timeout)
        print(f"removed {len(args.subjects)} people ({removed} templates) from {args.gallery}")
        return 0
    g = read_gallery(args.gallery)
    if args.action == "show":
        print(f"gallery      {g.path}")
        print(f"schema       {SCHEMA_VERSION}")
        print(f"model        {g.model}")
        print(f"modality     {g.modality}")
        print(f"fingerprint  {g.fingerprint}")
        print(f"people       {g.identities.size}")
        print(f"templates    {len(g)} x {g.dim} float32")
        print(f"updated      {g.updated}")
        return 0
    print(f"{'subject':<24} sessions  last enrolled")
    for ident, count, last in zip(g.identities, g.identity_counts, g.last_enrolled, strict=True):
        print(f"{ident:<24} {count:>8}  {last}")
    return 0
