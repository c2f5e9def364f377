"""Benchmark: every photometric-stereo solver on realistic synthetic faces, against ground truth.

Renders ``--sessions`` sessions per group (one per synthetic person, each with its own
pose, expression, spectacles, ...) with the generator's realistic defaults (room light,
cast shadows, bounced light, Torrance-Sparrow skin highlights, sensor noise) and 8-bit
quantisation, runs every solver named in ``photostereo.solvers.SOLVERS`` (read at run
time) and prints, per group and solver:

* ``error``: mean angular error (degrees) over the face pixels the solver solved (the
  ground-truth mask), averaged over sessions; ``x plain`` its ratio to ``plain``'s;
* ``worst``: the largest per-session excess over ``plain`` (degrees; negative: never
  worse);
* ``unsolved``: the share of the face the solver left unsolved (%), with its ratio to
  plain's where plain leaves any;
* ``albedo``: mean relative albedo error |a / (s a_true) - 1| (%) over the solved face,
  ``s`` the session's median ratio (the unknown exposure), and its ratio to plain's.

The error and unsolved share are defined as in the real-data table
(``benchmarks/bench_real.py``, :func:`photostereo.realdata.metrics.session_error`), and
the groups are its groups: sessions of 3, 4 and 6 lights from one side (left, right,
above, below, front), with the very light sets of the Yale B protocol
(``data/protocols/yaleb.json``; without it, ``K`` lights 20 degrees around an axis
tilted 35 degrees toward the side), and its Photoface-like rings (4 lights at 15, 25 and
35 degrees off the camera), plus the Photoface rig itself (4 lights at 20 degrees). So
the two tables read side by side.

Options: ``--response srgb`` renders with that camera curve; the solvers then see the
stored values decoded as the session declares, or as stored with ``--undecoded`` (a
reader that ignores the declaration). ``--ideal`` renders the old exact conditions
(Lambertian, no room light, shadows or noise) for comparison.

Usage: python benchmarks/bench_synthetic_solvers.py [--sessions 24] [--size 160] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from itertools import cycle, islice
from pathlib import Path

import numpy as np
from tables import by_key_table, ratio, table

from photostereo.lights import from_zenith_azimuth
from photostereo.realdata.metrics import angular_error_deg, unsolved_fraction
from photostereo.realdata.protocol import RING_AZIMUTHS, RING_ZENITHS, light_directions
from photostereo.realdata.runner import BASELINE, warm_up
from photostereo.response import parse_response, to_linear
from photostereo.solvers import SOLVERS, solve
from synthetic_faces.generate import RenderedVisit, SynthConfig, render_visit
from synthetic_faces.render import RenderSettings

#: The real-data protocol whose light sets the 3-, 4- and 6-light groups reuse.
PROTOCOL = Path(__file__).resolve().parents[1] / "data" / "protocols" / "yaleb.json"
#: Without the protocol: the sides' azimuths (image frame) and the side rigs' geometry.
SIDES = {"left": 180.0, "right": 0.0, "above": 90.0, "below": 270.0, "front": None}
SIDE_TILT, SIDE_SPREAD = 35.0, 20.0


def ring_rigs(count: int) -> list[tuple[str, np.ndarray]]:
    """``count`` (zenith, directions) rings, cycling through ``RING_ZENITHS``."""
    rings = [
        (f"{zenith:g}", from_zenith_azimuth(np.full(4, zenith), np.array(RING_AZIMUTHS)))
        for zenith in RING_ZENITHS
    ]
    return list(islice(cycle(rings), count))


def protocol_rigs(path: Path, k: int) -> list[tuple[str, np.ndarray]]:
    """(side, (k, 3) directions) of every k-light session of the Yale B protocol."""
    people = json.loads(path.read_text(encoding="utf-8"))["people"]
    rigs = []
    for person in people.values():
        for session in person["sessions"]:
            if len(session["lights"]) == k:
                rigs.append((session["side"], light_directions(session["lights"])))
    return rigs


def side_rig(k: int, side: str) -> np.ndarray:
    """``k`` lights ``SIDE_SPREAD`` degrees around an axis tilted ``SIDE_TILT`` toward ``side``."""
    azimuth = SIDES[side]
    axis = np.array([0.0, 0.0, 1.0]) if azimuth is None else from_zenith_azimuth(SIDE_TILT, azimuth)
    e1 = np.cross(axis, [0.0, 1.0, 0.0] if abs(axis[1]) < 0.9 else [1.0, 0.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    phi = 2 * np.pi * np.arange(k) / k
    ring = np.cos(phi)[:, None] * e1 + np.sin(phi)[:, None] * e2
    spread = np.radians(SIDE_SPREAD)
    return np.cos(spread) * axis + np.sin(spread) * ring


def group_rigs(k: int, count: int, protocol: Path) -> list[tuple[str, np.ndarray]]:
    """``count`` (side, directions) rigs of ``k`` lights: the protocol's, or side rigs."""
    rigs = protocol_rigs(protocol, k) if protocol.is_file() else []
    if not rigs:
        rigs = [(side, side_rig(k, side)) for side in SIDES]
    return list(islice(cycle(rigs), count))


def rig_file(folder: Path, name: str, directions: np.ndarray) -> str:
    """Write a ``vector`` rig file for the generator; return its path."""
    path = folder / f"{name}.json"
    spec = {"name": name, "convention": "vector", "lights": np.asarray(directions).tolist()}
    path.write_text(json.dumps(spec), encoding="utf-8")
    return str(path)


def captures(visit: RenderedVisit, *, bits: int = 8, undecoded: bool = False) -> np.ndarray:
    """The captures a reader gets from the written session: encoded by the visit's
    response, quantised to ``bits``, then decoded (unless ``undecoded``)."""
    curve = parse_response(visit.response)
    full = 2**bits - 1
    stored = np.round(visit.stored() * full) / full
    return stored.astype(np.float32) if undecoded else to_linear(stored, curve)


def score(visit: RenderedVisit, images: np.ndarray, method: str) -> dict[str, float]:
    """One solver on one session: error (deg), unsolved share, albedo error, seconds."""
    truth = visit.ground_truth
    face = truth["mask"]
    start = time.perf_counter()
    result = solve(
        images, visit.directions, method=method, intensities=visit.intensities, mask=face
    )
    seconds = time.perf_counter() - start
    scored = face & result.mask
    unsolved = unsolved_fraction(result.mask, face)
    if not scored.any():
        return {"error": np.nan, "unsolved": unsolved, "albedo": np.nan, "seconds": seconds}
    error = float(angular_error_deg(result.normals[scored], truth["normal"][scored]).mean())
    ratio = result.albedo[scored] / truth["albedo"][scored]
    albedo = float(np.mean(np.abs(ratio / np.median(ratio) - 1.0)))
    return {"error": error, "unsolved": unsolved, "albedo": albedo, "seconds": seconds}


def run_group(
    rigs: list[tuple[str, str]],
    solvers: list[str],
    args: argparse.Namespace,
    settings: RenderSettings,
) -> list[dict]:
    """Per-session records: person i photographed under ``rigs[i]`` = (side, rig)."""
    records = []
    for person, (side, rig) in enumerate(rigs):
        config = SynthConfig(
            subjects=len(rigs),
            sessions=1,
            seed=args.seed,
            rig=rig,
            size=args.size,
            settings=settings,
        )
        visit = render_visit(config, person, 0)
        images = captures(visit, undecoded=args.undecoded)
        records.append(
            {"side": side, "solvers": {name: score(visit, images, name) for name in solvers}}
        )
    return records


def summarise(records: list[dict], solvers: list[str]) -> dict[str, dict[str, float]]:
    """Per solver: means over sessions, the worst per-session excess over plain, empties."""
    out = {}
    for name in solvers:
        rows = [r["solvers"][name] for r in records]
        excess = [r["solvers"][name]["error"] - r["solvers"][BASELINE]["error"] for r in records]
        figures = {key: _mean([row[key] for row in rows]) for key in rows[0]}
        figures["worst"] = _max(excess)
        figures["empty"] = int(sum(not np.isfinite(row["error"]) for row in rows))
        figures["sessions"] = len(rows)
        out[name] = figures
    return out


def side_errors(
    groups: dict[str, list[dict]], solvers: list[str], *, rings: bool = False
) -> dict[str, dict]:
    """{side: {solver: mean error}} over the few-light sessions of every size, or with
    ``rings`` {zenith: ...} over the rings and the Photoface rig."""
    ringed = ("ring", "photoface")
    records = [r for name, rs in groups.items() if (name in ringed) == rings for r in rs]
    sides = dict.fromkeys(r["side"] for r in records)
    if rings:
        sides = dict.fromkeys(sorted(sides, key=float))
    return {
        side: {
            name: _mean([r["solvers"][name]["error"] for r in records if r["side"] == side])
            for name in solvers
        }
        for side in sides
    }


def _mean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _max(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.max(finite)) if finite else float("nan")


def group_table(figures: dict[str, dict[str, float]], solvers: list[str]) -> str:
    """One group: error, worst difference to plain, unsolved, albedo error, time."""
    base = figures[BASELINE]
    header = [
        "solver", "mean err deg", "worst vs plain", "unsolved %", "empty",
        "albedo err %", "ms/session",
    ]  # fmt: skip
    rows = []
    for name in solvers:
        f = figures[name]
        rows.append([
            name,
            f"{f['error']:6.2f} {ratio(f['error'], base['error'])}",
            f"{f['worst']:+6.2f}",
            f"{100 * f['unsolved']:6.2f} {ratio(f['unsolved'], base['unsolved'])}",
            f"{f['empty']}/{f['sessions']}",
            f"{100 * f['albedo']:6.2f} {ratio(f['albedo'], base['albedo'])}",
            f"{1e3 * f['seconds']:7.1f} {ratio(f['seconds'], base['seconds'])}",
        ])  # fmt: skip
    return table(header, rows)


def conditions(args: argparse.Namespace, settings: RenderSettings) -> str:
    if args.ideal:
        return "ideal renders (Lambertian, no room light, cast shadows, highlights or noise)"
    return (
        f"realistic renders (room light {settings.ambient:g} +-{100 * settings.ambient_jitter:.0f}%"
        f", bounce {settings.interreflection:g}, highlights x{settings.specular:g} "
        f"(m {settings.roughness:g}), cast shadows, noise)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=24, help="sessions (people) per group")
    parser.add_argument("--size", type=int, default=160, help="image size in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--response", default="linear", help="linear, srgb or gamma:G")
    parser.add_argument("--undecoded", action="store_true", help="solve on stored values")
    parser.add_argument("--ideal", action="store_true", help="the old exact renders")
    parser.add_argument("--protocol", type=Path, default=PROTOCOL, help="Yale B protocol")
    parser.add_argument("--json", type=Path, help="also write the per-session figures here")
    args = parser.parse_args()
    settings = RenderSettings.ideal() if args.ideal else RenderSettings()
    settings = replace(settings, response=args.response)
    solvers = [BASELINE, *(name for name in SOLVERS if name != BASELINE)]
    start = time.perf_counter()
    warm_up(solvers, (3, 4, 6))
    groups: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k in (3, 4, 6):
            rigs = group_rigs(k, args.sessions, args.protocol)
            files = [(side, rig_file(Path(tmp), f"{k}-{i}", d)) for i, (side, d) in enumerate(rigs)]
            groups[str(k)] = run_group(files, solvers, args, settings)
        rings = ring_rigs(args.sessions)
        files = [(z, rig_file(Path(tmp), f"ring-{i}", d)) for i, (z, d) in enumerate(rings)]
        groups["ring"] = run_group(files, solvers, args, settings)
        photoface = [("20", "photoface")] * args.sessions
        groups["photoface"] = run_group(photoface, solvers, args, settings)
    source = "the Yale B protocol's light sets" if args.protocol.is_file() else "side rigs"
    decoded = "read as stored" if args.undecoded else "decoded"
    print(
        f"synthetic faces: {conditions(args, settings)}; response {settings.response} "
        f"({decoded}), 8 bit, {args.size} px, seed {args.seed}; 3/4/6 lights: {source}"
    )
    titles = {"3": "3-light sessions", "4": "4-light sessions", "6": "6-light sessions"}
    titles["ring"] = "Photoface-like rings (15, 25, 35 deg)"
    titles["photoface"] = "Photoface rig (4 lights, 20 deg)"
    for group, records in groups.items():
        print(f"\n## {titles[group]}: {len(records)} sessions\n")
        print(group_table(summarise(records, solvers), solvers))
    print("\n## Mean error by side (few-light sessions of every size)\n")
    print(by_key_table(side_errors(groups, solvers), solvers, BASELINE))
    print("\n## Mean error by ring zenith (deg)\n")
    print(by_key_table(side_errors(groups, solvers, rings=True), solvers, BASELINE))
    print(f"\ntotal {time.perf_counter() - start:.1f} s")
    if args.json:
        text = json.dumps({"conditions": conditions(args, settings), "groups": groups}, indent=1)
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
