"""Evaluating trained runs on the people they were not trained on, into one report.

A run's ``split.json`` lists its training people (``{"train": [...], ...}``); they are
left out unless ``all_people``, so the figures measure people the model never saw. Each
run's held-out samples are embedded and evaluated (:func:`gallery.evaluation.evaluate`);
report.json and report.md are written (:mod:`gallery.report`), and the curves are
returned for the caller to plot.

Given an :class:`~gallery.sources.AttributeReader`, each run's entry also gets its
attribute figures (:mod:`gallery.attributes`): the heads' AUC and balanced accuracy for
a multi-task run, the embedding's leakage of each attribute for every run, and
identification of the probes whose spectacles, facial hair or expression changed since
the person's earliest enrolled session against the rest.

Where the maps file labels some rows as presentation attacks (``Maps.attacks``), the
recognition figures are computed on the bona fide rows only: an attack claims to be a
person, and must not count as that person's genuine session. Where attack rows have a
liveness score, the report also gets the file's presentation attack detection figures
(:func:`gallery.evaluation.presentation_attack`) under ``presentation_attack``, over
every row of the file whichever people the runs trained on: the scores come from
preprocessing, not from the runs.
"""

from __future__ import annotations

import json
from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gallery.attributes import LEAKAGE_FOLDS, LEAKAGE_L2, attribute_summary, enrolled_reference
from gallery.evaluation import evaluate, presentation_attack
from gallery.pad_metrics import BONA_FIDE
from gallery.report import build_report, write_report
from gallery.sources import AttributeReader, LoadModel, Maps, Model, OpenMaps
from psbase.errors import InputError


@dataclass(frozen=True)
class RunsReport:
    """What :func:`evaluate_runs` wrote, and the curves to plot, one per run."""

    folder: Path
    report: dict
    names: list[str]
    curves: list[dict]
    #: :func:`gallery.evaluation.presentation_attack`'s curves; None without PAD figures.
    pad_curves: dict | None = None


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


def attribute_entry(
    maps: Maps,
    run_dir: Path,
    model: Model,
    reader: AttributeReader,
    rows: np.ndarray,
    samples: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    records: np.ndarray,
    *,
    n_enrol: int,
    seed: int,
    batch_size: int,
) -> dict:
    """``{"attributes": ..., "attribute_change": ...}`` for one run's evaluated ``rows``:
    ``samples`` is their (embeddings, quality, subject, session) and ``records`` their
    session attributes."""
    emb, quality, subject, session = samples
    labels, known = reader.labels(records)
    changed = reader.changed(records[enrolled_reference(subject, session)], records)
    logits = model.attribute_logits_file(maps, rows, batch_size=batch_size)
    if logits is not None and logits.shape != labels.shape:
        raise InputError(
            run_dir,
            f"gives {logits.shape[-1]} attribute logits for the {len(reader.tasks)} tasks "
            f"{', '.join(reader.tasks)}",
        )
    return attribute_summary(
        emb,
        quality,
        subject,
        session,
        labels,
        known,
        changed,
        tasks=reader.tasks,
        change_tasks=reader.change_tasks,
        logits=logits,
        n_enrol=n_enrol,
        seed=seed,
    )


def presentation_attack_entry(
    maps: Maps, attack: np.ndarray, bpcer: float
) -> tuple[dict, dict] | None:
    """PAD figures and DET curves of the whole file (each row's ``attack`` type) at BPCER
    ``bpcer``, threshold from its calibration (else its own bona fide scores); None when
    no attack row has a liveness score. Where the learned liveness networks scored the rows too, the
    summary's ``recorded_scores`` gives what they, and they and the deciding score
    together (the lower of the two), would do, each at the threshold of this file's own
    bona fide scores for ``bpcer``: for comparison, not decisions."""
    scores = np.asarray(maps.liveness(), dtype=np.float32)
    if not ((attack != BONA_FIDE) & ~np.isnan(scores)).any():
        return None
    calibrated = maps.liveness_threshold(bpcer)
    summary, curves = presentation_attack(scores, attack, bpcer_target=bpcer, calibrated=calibrated)
    learned = np.asarray(maps.learned_liveness(), dtype=np.float32)
    if ((attack != BONA_FIDE) & ~np.isnan(learned)).any():
        summary["recorded_scores"] = {
            name: presentation_attack(values, attack, bpcer_target=bpcer, calibrated=None)[0]
            for name, values in (("learned", learned), ("both", np.minimum(scores, learned)))
        }
    return summary, curves


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
    attributes: AttributeReader | None = None,
    bpcer: float = 0.01,
) -> RunsReport:
    """Embed the held-out people with each run, evaluate, write report.json and report.md.

    Runs are named by their folder, or by their whole path where two folders share a name.
    With ``attributes``, each entry also holds :func:`attribute_entry`'s figures. Attack
    rows are left out of recognition; ``bpcer`` is the PAD operating point
    (:func:`presentation_attack_entry`).
    """
    entries, curves, names = [], [], []
    with open_maps(maps_path) as maps:
        subject, session = maps.labels()
        attack = np.asarray(maps.attacks(), dtype=str)
        bona_fide = attack == BONA_FIDE
        pad = None if bona_fide.all() else presentation_attack_entry(maps, attack, bpcer)
        if attributes is not None:
            records = np.asarray(maps.attributes(), dtype=object)
        for run_dir in runs:
            model = load_model(run_dir)
            seen: Set[str] | None = frozenset() if all_people else model.trained_people
            if seen is None:
                seen = trained_people(run_dir)
            rows = np.flatnonzero(bona_fide & ~np.isin(subject, sorted(seen)))
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
            extra = {}
            if attributes is not None:
                extra = attribute_entry(
                    maps,
                    run_dir,
                    model,
                    attributes,
                    rows,
                    (emb, quality, subject[rows], session[rows]),
                    records[rows],
                    n_enrol=enrol_sessions,
                    seed=seed,
                    batch_size=batch_size,
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
                    **extra,
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
    if not bona_fide.all():
        protocol["presentation_attacks"] = {
            "attack_rows": int((~bona_fide).sum()),
            "recognition": "bona fide rows only",
            "pad_rows": "every row with a liveness score, whichever people the runs trained on",
        }
    if attributes is not None:
        protocol["attributes"] = {
            "tasks": list(attributes.tasks),
            "change_tasks": list(attributes.change_tasks),
            "head_threshold": "logit 0 (probability 0.5)",
            "leakage_probe": (
                f"L2-regularised logistic regression (l2 {LEAKAGE_L2}, scikit-learn's "
                f"C={1 / LEAKAGE_L2:g}) on standardised L2-normalised embeddings"
            ),
            "leakage_folds": LEAKAGE_FOLDS,
            "leakage_resampling": "people (person-disjoint folds, scores pooled)",
            "change_reference": "each person's earliest enrolled session",
        }
    report = build_report(
        entries, protocol=protocol, presentation_attack=None if pad is None else pad[0]
    )
    folder = write_report(out, report)
    return RunsReport(folder, report, names, curves, None if pad is None else pad[1])
