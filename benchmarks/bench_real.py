"""Solvers on real faces: the Extended Yale B protocol, every figure against ``plain``.

Run: ``.venv/bin/python benchmarks/bench_real.py`` (``--data`` for another copy of the
captures, ``--solvers plain shadow`` for a subset). The protocol is
``data/protocols/yaleb.json``; its rules, the reference fit and the metrics are those of
:mod:`photostereo.realdata` (see ``data/protocols/README.md``). Each figure is printed
with its ratio to ``plain`` measured in this same run, ``(x1.23)``.

Tables: one per few-light session size (3, 4, 6 lights: 10 people x 5 sides) and one
for the Photoface-like rings (15, 25 and 35 degrees), then the mean error by side and by
ring, and the relighting of held-out lights from a many-light fit.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tables import by_key_table, ratio, table

from photostereo.realdata.runner import BASELINE, TRIMMED, load_protocol, run_protocol
from photostereo.solvers import SOLVERS

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "yaleb"
PROTOCOL = ROOT / "data" / "protocols" / "yaleb.json"
GROUP_TITLES = {
    "3": "3-light sessions",
    "4": "4-light sessions",
    "6": "6-light sessions",
    "ring": "Photoface-like rings (15, 25, 35 deg)",
}


def group_table(figures: dict, solvers: Sequence[str]) -> str:
    """One session group: error, worst difference to plain, unsolved, spread, rank-1, time."""
    base = figures[BASELINE]
    header = [
        "solver", "mean err deg", "worst vs plain", "unsolved %", "empty",
        "albedo spread", "rank-1 albedo", "rank-1 normal", "rank-1 photo", "ms/session",
    ]  # fmt: skip
    rows = []
    for name in solvers:
        f = figures[name]
        rows.append([
            name,
            f"{f['mean_error']:6.2f} {ratio(f['mean_error'], base['mean_error'])}",
            f"{f['worst_vs_plain']:+6.2f}",
            f"{100 * f['unsolved']:6.2f}",
            f"{f['empty']}/{f['sessions']}",
            f"{f['albedo_spread']:.3f} {ratio(f['albedo_spread'], base['albedo_spread'])}",
            f"{f['rank1_albedo']:.3f} {ratio(f['rank1_albedo'], base['rank1_albedo'])}",
            f"{f['rank1_normal']:.3f} {ratio(f['rank1_normal'], base['rank1_normal'])}",
            f"{f['rank1_photo']:.3f}",
            f"{1e3 * f['seconds']:7.1f} {ratio(f['seconds'], base['seconds'])}",
        ])  # fmt: skip
    return table(header, rows)


def side_errors(result: dict, solvers: Sequence[str]) -> dict:
    """{side: {solver: mean error}} over the few-light sessions of every size."""
    sides = dict.fromkeys(r["side"] for r in result["sessions"] if "side" in r)
    return {
        side: {
            name: float(
                np.nanmean(
                    [
                        r["solvers"][name]["error"]
                        for r in result["sessions"]
                        if r.get("side") == side
                    ]
                )
            )
            for name in solvers
        }
        for side in sides
    }


def relight_table(relight: dict, solvers: Sequence[str]) -> str:
    base = relight[BASELINE]
    rows = [
        [
            name,
            f"{relight[name]['error']:.4f} {ratio(relight[name]['error'], base['error'])}",
            f"{100 * relight[name]['unsolved']:6.2f}",
            f"{1e3 * relight[name]['seconds']:7.1f} "
            f"{ratio(relight[name]['seconds'], base['seconds'])}",
        ]
        for name in [*solvers, TRIMMED]
    ]
    return table(["fit", "relative RMS error", "unsolved %", "ms/fit"], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=DATA, help="Yale B folder (default %(default)s)"
    )
    parser.add_argument("--protocol", type=Path, default=PROTOCOL)
    parser.add_argument("--solvers", nargs="+", choices=SOLVERS, default=list(SOLVERS))
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"{args.data}: no such folder (the Extended Yale B captures)")
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, NumPy {np.__version__}"
    )
    protocol = load_protocol(args.protocol)
    start = time.perf_counter()
    result = run_protocol(args.data, protocol, args.solvers)
    elapsed = time.perf_counter() - start
    solvers = result["solvers"]
    print(
        f"data: {args.data} ({len(result['people'])} people), protocol: {args.protocol.name} "
        f"(seed {protocol['seed']}), face mask: {100 * result['face_fraction']:.1f}% of the image"
    )
    print(
        "errors: mean angular error to the many-light reference over the face pixels each "
        "solver solved;\nworst vs plain: max over sessions of error - plain's error; "
        "empty: sessions with no face pixel solved"
    )
    for group, title in GROUP_TITLES.items():
        if group in result["groups"]:
            sessions = result["groups"][group][BASELINE]["sessions"]
            print(f"\n## {title}: {sessions} sessions\n")
            print(group_table(result["groups"][group], solvers))
    print("\n## Mean error by side (few-light sessions of every size)\n")
    print(by_key_table(side_errors(result, solvers), solvers, BASELINE))
    print("\n## Mean error by ring zenith (deg)\n")
    print(by_key_table(result["rings"], solvers, BASELINE))
    fit = len(next(iter(protocol["people"].values()))["relight"]["fit"])
    print(
        f"\n## Relighting {protocol['rules']['held_out']} held-out lights from {fit} fit lights\n"
    )
    print(relight_table(result["relight"], solvers))
    print(f"\ntotal {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
