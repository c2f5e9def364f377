"""Run every solver through the Yale B protocol and gather the real-data figures.

This is the one module of :mod:`photostereo.realdata` that reads files: each person's
captures, through :func:`photostereo.io.yaleb.read_yaleb`, once per call. Everything it
computes comes from :mod:`~photostereo.realdata.reference` and
:mod:`~photostereo.realdata.metrics`.

Groups of sessions: ``"3"``, ``"4"``, ``"6"`` (the few-light sessions of that size, one
per side and person) and ``"ring"`` (the Photoface-like rings of every zenith). For
recognition, a group's gallery is each person's ``front`` session of the same size (for
``"ring"``: the 4-light ``front`` session) and its probes are the group's other sessions.
Maps are compared over the *common* face, the 64 px pixels that are face for at least
half of the people, so that the mask's outline carries no identity.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from photostereo import solvers as solver_module
from photostereo.io.yaleb import read_yaleb
from photostereo.realdata import metrics
from photostereo.realdata.reference import face_mask, trimmed_fit
from photostereo.solvers import solve

#: The solver every other is compared with; always run.
BASELINE = "plain"
#: Size of the few-light gallery session used for the rings.
RING_GALLERY_SIZE = 4
#: Row name of the reference method (trimmed least squares) in the relighting figures.
TRIMMED = "trimmed (reference method)"


def load_protocol(path: str | Path) -> dict:
    """The protocol written by ``scripts/make_yaleb_protocol.py``."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def session_groups(person: Mapping) -> list[tuple[str, dict]]:
    """(group, session) for each few-light session and ring of one person's protocol."""
    few = [(str(len(s["lights"])), s) for s in person["sessions"]]
    return few + [("ring", s) for s in person["rings"]]


def run_protocol(
    data_dir: str | Path,
    protocol: Mapping,
    solvers: Iterable[str] | None = None,
    *,
    people: Sequence[str] | None = None,
) -> dict:
    """Every figure of the real-data benchmark for ``solvers`` (default: every solver).

    Parameters
    ----------
    data_dir : path
        The Yale B folder holding one ``yaleBNN`` folder per person.
    protocol : mapping
        As :func:`load_protocol` returns.
    solvers : names, optional
        Solvers to run; ``plain`` (the baseline) is always added first.
    people : names, optional
        A subset of the protocol's people (default all).

    Returns
    -------
    dict
        ``solvers``: the names run. ``sessions``: one record per session (``person``,
        ``id``, ``group``, ``side`` or ``zenith``, and per solver ``error`` in degrees,
        ``unsolved`` fraction, ``seconds``). ``groups[group][solver]``: ``mean_error``
        (mean over sessions of the per-session mean), ``worst_vs_plain`` (max over
        sessions of error - plain's error), ``unsolved`` (mean fraction), ``empty``
        (sessions with no face pixel solved), ``albedo_spread`` (mean over people),
        ``rank1_albedo``, ``rank1_normal``, ``rank1_photo`` (solver-independent),
        ``seconds`` (mean per session). ``rings[zenith][solver]``: mean error per ring
        zenith. ``relight[name]``: ``error`` (mean over people), ``unsolved``,
        ``seconds``, for each solver and the trimmed reference method.
        ``face_fraction``: mean fraction of the image in the face mask.
    """
    known = solver_module.SOLVERS  # looked up per call, so newly added solvers join in
    names = list(dict.fromkeys([BASELINE, *(known if solvers is None else solvers)]))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown solvers {unknown}; choose from {', '.join(known)}")
    chosen = sorted(protocol["people"]) if people is None else list(people)
    warm_up(names, _light_counts(protocol, chosen))
    runs = [_run_person(Path(data_dir), p, protocol["people"][p], names) for p in chosen]
    return _summarise(runs, names)


def _light_counts(protocol: Mapping, people: Sequence[str]) -> set[int]:
    counts = {len(protocol["people"][p]["relight"]["fit"]) for p in people}
    for p in people:
        counts |= {len(s["lights"]) for _, s in session_groups(protocol["people"][p])}
    return counts


def warm_up(solvers: Sequence[str], light_counts: Iterable[int]) -> None:
    """Solve a tiny stack once per solver and rig size, so that timings exclude compiling."""
    rng = np.random.default_rng(0)
    for k in sorted(light_counts):
        directions = rng.normal(size=(k, 3)) + np.array([0.0, 0.0, 3.0])
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        images = rng.uniform(0.1, 0.9, size=(k, 8, 8)).astype(np.float32)
        for name in solvers:
            solve(images, directions.astype(np.float32), method=name)


def _timed_solve(images: np.ndarray, directions: np.ndarray, valid: np.ndarray | None, method: str):
    start = time.perf_counter()
    ones = np.ones(len(images), np.float32)
    result = solve(images, directions, method=method, intensities=ones, valid=valid)
    return result, time.perf_counter() - start


def _run_person(data_dir: Path, person: str, plan: Mapping, solvers: Sequence[str]) -> dict:
    """Every per-session figure and 64 px map of one person."""
    session = read_yaleb(data_dir / person)
    index = {name: i for i, name in enumerate(session.image_names)}

    def pick(lights: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The captures in radiance per unit light intensity (the rig's calibration
        divided out), so the reference and every solver see the same calibrated data,
        their directions, and which observations were not clipped in the raw capture."""
        rows = [index[name] for name in lights]
        gains = session.intensities[rows][:, None, None]
        valid = None if session.valid is None else session.valid[rows]
        return session.images[rows] / gains, session.directions[rows], valid

    ref_images, ref_dirs, _ = pick(plan["reference"])
    reference = trimmed_fit(ref_images, ref_dirs)
    face = face_mask(reference)
    records: list[dict] = []
    full: dict[tuple, np.ndarray] = {}
    albedos: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]] = {}
    for group, spec in session_groups(plan):
        images, directions, valid = pick(spec["lights"])
        record = {"person": person, "id": spec["id"], "group": group, "solvers": {}}
        record.update({key: spec[key] for key in ("side", "zenith") if key in spec})
        frontal = images[int(np.argmax(directions[:, 2]))]
        full[(spec["id"], "photo")] = frontal
        for name in solvers:
            result, seconds = _timed_solve(images, directions, valid, name)
            error, unsolved = metrics.session_error(
                result.normals, result.mask, reference.normals, face
            )
            record["solvers"][name] = {"error": error, "unsolved": unsolved, "seconds": seconds}
            albedos.setdefault((group, name), []).append((result.albedo, result.mask))
            full[(spec["id"], name, "albedo")] = result.albedo
            full[(spec["id"], name, "normal")] = np.moveaxis(result.normals, -1, 0)
        records.append(record)
    spreads = {
        key: metrics.albedo_spread(
            np.stack([a for a, _ in maps]), np.stack([m for _, m in maps]), face
        )
        for key, maps in albedos.items()
    }
    return {
        "person": person,
        "plan": plan,
        "records": records,
        "small": _resized(full),
        "spreads": spreads,
        "face_small": metrics.resize_area(face),
        "face_fraction": float(face.mean()),
        "relight": _relight(pick, plan["relight"], face, solvers),
    }


def _resized(maps: Mapping) -> dict:
    """Every (H, W) or (C, H, W) map of ``maps`` at 64 px, in one batched resize."""
    planes = [np.reshape(m, (-1, *m.shape[-2:])) for m in maps.values()]
    small = metrics.resize_area(np.concatenate(planes))
    ends = np.cumsum([len(p) for p in planes])[:-1]
    return {
        key: part if len(part) > 1 else part[0]
        for key, part in zip(maps, np.split(small, ends), strict=True)
    }


def _relight(pick, split: Mapping, face: np.ndarray, solvers: Sequence[str]) -> dict:
    """Relighting error of each solver (and the trimmed fit) from the fit lights."""
    fit_images, fit_dirs, fit_valid = pick(split["fit"])
    held_images, held_dirs, _ = pick(split["held_out"])
    out = {}
    for name in solvers:
        result, seconds = _timed_solve(fit_images, fit_dirs, fit_valid, name)
        error = metrics.relighting_error(
            result.normals, result.albedo, result.mask, held_dirs, held_images, face
        )
        unsolved = metrics.unsolved_fraction(result.mask, face)
        out[name] = {"error": error, "unsolved": unsolved, "seconds": seconds}
    start = time.perf_counter()
    trimmed = trimmed_fit(fit_images, fit_dirs)
    seconds = time.perf_counter() - start
    solved = trimmed.albedo > 0
    error = metrics.relighting_error(
        trimmed.normals, trimmed.albedo, solved, held_dirs, held_images, face
    )
    unsolved = metrics.unsolved_fraction(solved, face)
    out[TRIMMED] = {"error": error, "unsolved": unsolved, "seconds": seconds}
    return out


def _summarise(runs: Sequence[dict], solvers: Sequence[str]) -> dict:
    """The per-group, per-ring and relighting tables from every person's run."""
    records = [r for run in runs for r in run["records"]]
    common = np.mean([run["face_small"] for run in runs], axis=0) >= 0.5
    groups = {}
    for group in dict.fromkeys(r["group"] for r in records):
        rows = [r for r in records if r["group"] == group]
        groups[group] = {name: _group_figures(rows, runs, group, name, common) for name in solvers}
    zeniths = sorted({r["zenith"] for r in records if "zenith" in r})
    rings = {
        zenith: {
            name: float(
                np.nanmean(
                    [r["solvers"][name]["error"] for r in records if r.get("zenith") == zenith]
                )
            )
            for name in solvers
        }
        for zenith in zeniths
    }
    relight_names = [*solvers, TRIMMED]
    relight = {
        name: {
            key: float(np.nanmean([run["relight"][name][key] for run in runs]))
            for key in ("error", "unsolved", "seconds")
        }
        for name in relight_names
    }
    return {
        "solvers": list(solvers),
        "people": [run["person"] for run in runs],
        "sessions": records,
        "groups": groups,
        "rings": rings,
        "relight": relight,
        "face_fraction": float(np.mean([run["face_fraction"] for run in runs])),
    }


def _group_figures(
    rows: Sequence[dict], runs: Sequence[dict], group: str, name: str, common: np.ndarray
) -> dict:
    """One solver's figures over one group's sessions."""
    errors = np.array([r["solvers"][name]["error"] for r in rows])
    plain = np.array([r["solvers"][BASELINE]["error"] for r in rows])
    both = np.isfinite(errors) & np.isfinite(plain)
    figures = {
        "sessions": len(rows),
        "mean_error": float(np.nanmean(errors)) if np.isfinite(errors).any() else float("nan"),
        "worst_vs_plain": float(np.max(errors[both] - plain[both])) if both.any() else float("nan"),
        "unsolved": float(np.mean([r["solvers"][name]["unsolved"] for r in rows])),
        "empty": int(np.sum(~np.isfinite(errors))),
        "albedo_spread": float(np.nanmean([run["spreads"][(group, name)] for run in runs])),
        "seconds": float(np.mean([r["solvers"][name]["seconds"] for r in rows])),
    }
    figures.update(_recognition(rows, runs, group, name, common))
    return figures


def _recognition(
    rows: Sequence[dict], runs: Sequence[dict], group: str, name: str, common: np.ndarray
) -> dict:
    """Rank-1 of albedo, normal and photo maps: gallery ``front`` sessions, probes the rest."""
    size = str(RING_GALLERY_SIZE) if group == "ring" else group
    gallery_ids = {
        run["person"]: next(
            s["id"]
            for s in run["plan"]["sessions"]
            if s["side"] == "front" and str(len(s["lights"])) == size
        )
        for run in runs
    }
    small = {key: value for run in runs for key, value in run["small"].items()}
    probes = [r for r in rows if r["id"] not in gallery_ids.values()]
    people = np.array(list(gallery_ids))
    labels = np.array([r["person"] for r in probes])
    out = {}
    for kind in ("albedo", "normal", "photo"):
        key = (lambda i: (i, "photo")) if kind == "photo" else (lambda i, k=kind: (i, name, k))
        gallery = np.stack(
            [metrics.recognition_vector(small[key(i)], common) for i in gallery_ids.values()]
        )
        probe = np.stack([metrics.recognition_vector(small[key(r["id"])], common) for r in probes])
        out[f"rank1_{kind}"] = metrics.rank1(gallery, people, probe, labels)
    return out
