"""Write the Extended Yale B real-data protocol (``data/protocols/yaleb.json``).

Run once, from the repository root::

    .venv/bin/python scripts/make_yaleb_protocol.py --data ../shared/data/yaleb \\
        -o data/protocols/yaleb.json --seed 0

Only the capture file names are read (light angles are in the names); the rules are
those of :mod:`photostereo.realdata.protocol`. The same names and seed always write the
same file, which ``tests/test_real_yaleb.py`` checks.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from photostereo.io.yaleb import CAPTURE
from photostereo.realdata.protocol import build_protocol

POSE = "00"


def capture_names(data: Path) -> dict[str, list[str]]:
    """Each ``yaleBNN`` folder's pose-P00 capture names (``*.pgm.bad`` never match)."""
    people = {}
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        names = [
            p.name for p in folder.iterdir() if (m := CAPTURE.match(p.name)) and m["pose"] == POSE
        ]
        if names:
            people[folder.name] = sorted(names)
    if not people:
        raise SystemExit(f"{data}: no Yale B subject folders with pose P00 captures")
    return people


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/yaleb"))
    parser.add_argument("-o", "--output", type=Path, default=Path("data/protocols/yaleb.json"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    protocol = build_protocol(capture_names(args.data), seed=args.seed)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(protocol, indent=1) + "\n", encoding="utf-8")
    sessions = sum(len(p["sessions"]) + len(p["rings"]) for p in protocol["people"].values())
    print(f"{args.output}: {len(protocol['people'])} people, {sessions} sessions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
