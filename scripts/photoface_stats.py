"""Summarise the Photoface session metadata into synthetic_faces/data/photoface_stats.json.

Usage: python scripts/photoface_stats.py [CSV] [JSON]

The CSV (../shared/reference/photoface_sessions.csv in the development set-up) is not
shipped; the summary is, and the synthetic generator draws its attribute frequencies and
sessions-per-person counts from it. tests/synthetic/test_population.py checks the shipped
file equals what this script computes whenever the CSV is present.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from synthetic_faces.population import summarize_photoface_csv

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CSV = REPO.parent / "shared" / "reference" / "photoface_sessions.csv"
#: The package data file in this checkout (not an installed copy's).
STATS = REPO / "synthetic_faces" / "data" / "photoface_stats.json"


def main(argv: list[str]) -> int:
    source = Path(argv[0]) if argv else DEFAULT_CSV
    target = Path(argv[1]) if len(argv) > 1 else STATS
    stats = summarize_photoface_csv(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(stats, indent=1) + "\n", encoding="utf-8")
    print(f"{target}: {stats['sessions']} sessions of {stats['people']} people")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
