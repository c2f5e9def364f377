"""Evaluating trained runs on the people they were not trained on, into one report.

A run's ``split.json`` lists its training people (``{"train": [...], ...}``); they are
left out unless ``all_people``, so the figures measure people the model never saw. Each
run's held-out samples are embedded and evaluated (:func:`gallery.evaluation.evaluate`);
report.json and report.md are written (:mod:`gallery.report`), and the curves are
returned for the caller to plot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gallery.evaluation import evaluate
from gallery.report import build_report, write_report
from gallery.sources import LoadModel, OpenMaps
from psbase.errors import InputError


@dataclass(frozen=True)
class RunsReport:
    """What :func:`evaluate_runs` wrote, and the curves to plot, one per run."""

    folder: Path
    report: dict
    names: list[str]
    curves: list[dict]


def trained_people(run_dir: Path) -> set[str]:
    """The run's training people from split.json; empty when it has none."""
    path = run_dir / "split.json"
    if not path.exists():
        return set()
    try:
        people = json.loads(path.read_text(encoding="utf-8"))["train"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(path, f'not a split file {{"train": [...], ...}} ({error})') from None
    if not isinstance(people, list) or not all(isinstance(p, str) for p in people):
        raise InputError(path, "its train entry is not a list of subject names")
    return set(people)


def check_people(maps_path: Path, run_dir: Path, subject: np.ndarray) -> None:
    """Refuse a set without impostor pairs (one person) or genuine pairs (one session each)."""
    people, sessions = np.unique(subject, return_counts=True)
    if people.size < 2:
        raise InputError(
            maps_path,
            f"fewer than two people not used to train {run_dir}; "
            "evaluate on other people or pass --all-people",
        )
    if sessions.max() < 2:
        raise InputError(
            maps_path,
            f"each of the {people.size} people not used to train {run_dir} has one session, "
            "so there are no genuine pairs to score; evaluate on people with two or more",
        )


def evaluate_runs(
    maps_path: Path,
    runs: list[Path],
    out: Path,
    *,
    open_maps: OpenMaps,
    load_model: LoadModel,
    enrol_sessions: int = 1,
    bootstrap: int = 200,
    all_people: bool = False,
    seed: int = 0,
    batch_size: int = 256,
) -> RunsReport:
    """Embed the held-out people with each run, evaluate, write report.json and report.md.

    Runs are named by their folder, or by their whole path where two folders share a name.
    """
    entries, curves, names = [], [], []
    with open_maps(maps_path) as maps:
        subject, session = maps.labels()
        for run_dir in runs:
            model = load_model(run_dir)
            seen = set() if all_people else trained_people(run_dir)
            rows = np.flatnonzero(~np.isin(subject, sorted(seen)))
            check_people(maps_path, run_dir, subject[rows])
            emb, quality = model.embed_file(maps, rows, batch_size=batch_size)
            result, curve = evaluate(
                emb,
                quality,
                subject[rows],
                session[rows],
                n_enrol=enrol_sessions,
                bootstrap=bootstrap,
                seed=seed,
            )
            name = run_dir.name if run_dir.name not in names else str(run_dir)
            entries.append(
                {
                    "name": name,
                    "run": str(run_dir),
                    "modality": model.modality,
                    "fingerprint": model.fingerprint,
                    "n_samples": int(rows.size),
                    "n_identities": int(np.unique(subject[rows]).size),
                    "excluded_training_people": len(seen),
                    **result,
                }
            )
            curves.append(curve)
            names.append(name)
    protocol = {
        "maps": str(maps_path),
        "n_enrol": enrol_sessions,
        "bootstrap": bootstrap,
        "seed": seed,
        "open_set": "leave-one-identity-out",
    }
    report = build_report(entries, protocol=protocol)
    return RunsReport(write_report(out, report), report, names, curves)
