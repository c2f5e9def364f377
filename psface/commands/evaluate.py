"""``psface evaluate``: verification and identification figures for one or more models."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from psbase.errors import InputError
from psface.options import integer, non_negative_int, positive_int

HELP = "measure models on held-out people: ROC, EER, TAR@FAR, rank-1, CMC, mAP"
DESCRIPTION = """\
Evaluate trained models on the people of a maps dataset that they were not trained on
(the run's split.json lists its training people; they are left out).

Verification compares every pair of samples: ROC AUC, EER and the true-accept rate at
false-accept rates 1e-2, 1e-3 and 1e-4 (reported only where there are at least 1/FAR
impostor pairs). Identification follows the seed study: each person's earliest sessions
(--enrol-sessions, default 1) are enrolled and the rest are probes: rank-1, rank-5, CMC,
mAP, and open-set DIR at FPIR 1e-2 (each probe also searches with its own identity
removed, as a stranger would). 95% bootstrap intervals in brackets.

REPORT receives report.json (INTERFACES.md keys, plus one entry per model under
"models"), report.md (a table) and roc.png (log FAR), cmc.png, scores.png (genuine and
impostor histograms). A REPORT that already holds files is refused unless --overwrite,
which replaces those five files and nothing else. Give --model several times to compare
models side by side, e.g. one per modality (image vs albedo vs normal vs depth vs
normal+albedo).

examples:
  psface evaluate maps.h5 --model runs/normal -o report/
  psface evaluate maps.h5 --model runs/image --model runs/normal --model runs/normal+albedo -o cmp/
  psface evaluate maps.h5 --model runs/normal -o report/ --enrol-sessions 2 --bootstrap 0"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("maps", type=Path, metavar="MAPS", help="maps dataset (maps.h5)")
    parser.add_argument(
        "--model", required=True, action="append", metavar="RUN", help="run folder (repeatable)"
    )
    parser.add_argument("-o", "--out", required=True, type=Path, help="report folder")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="write into a REPORT folder that holds files (replacing the report's own)",
    )
    parser.add_argument(
        "--enrol-sessions", type=positive_int, default=1, help="sessions enrolled (1)"
    )
    parser.add_argument(
        "--bootstrap",
        type=integer(0, 100_000),
        default=200,
        help="bootstrap replicates, 0 for none (200)",
    )
    parser.add_argument(
        "--all-people", action="store_true", help="also evaluate people the model trained on"
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="bootstrap seed (0)")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--batch-size", type=positive_int, default=256, help="maps per batch (256)")
    parser.set_defaults(run=run)


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


def run(args: argparse.Namespace) -> int:
    from psbase.outputs import output_folder
    from recognition.embed import model_files

    inputs = [args.maps, *(f for m in args.model for f in model_files(m))]
    with output_folder(args.out, overwrite=args.overwrite, inputs=inputs):
        out = evaluate_runs(
            args.maps,
            [Path(m) for m in args.model],
            args.out,
            enrol_sessions=args.enrol_sessions,
            bootstrap=args.bootstrap,
            all_people=args.all_people,
            seed=args.seed,
            device=args.device,
            batch_size=args.batch_size,
        )
    report = json.loads((out / "report.json").read_text())
    for e in report["models"]:
        v, i = e["verification"], e["identification"]
        print(
            f"{e['name']}: AUC {v['auc']:.4f}  EER {100 * v['eer']:.2f}%  "
            f"rank-1 {100 * i.get('rank1', float('nan')):.2f}%"
        )
    print(f"wrote {out}/report.json, report.md, roc.png, cmc.png, scores.png")
    return 0


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
    enrol_sessions: int = 1,
    bootstrap: int = 200,
    all_people: bool = False,
    seed: int = 0,
    device: str | None = None,
    batch_size: int = 256,
) -> Path:
    """Embed the held-out people with each run, evaluate, write the report; return its folder."""
    from gallery.evaluation import evaluate
    from gallery.report import build_report, write_report
    from photostereo.maps_file import MapsFile
    from recognition.embed import load_embedder

    entries, curves, names = [], [], []
    with MapsFile(maps_path) as maps:
        subject, session = maps.labels()
        for run_dir in runs:
            embedder = load_embedder(run_dir, device=device)
            seen = set() if all_people else trained_people(run_dir)
            rows = np.flatnonzero(~np.isin(subject, sorted(seen)))
            check_people(maps_path, run_dir, subject[rows])
            emb, quality = embedder.embed_file(
                maps, rows, batch_size=batch_size, progress=sys.stderr.isatty()
            )
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
                    "modality": embedder.modality,
                    "fingerprint": embedder.fingerprint,
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
    return write_report(out, build_report(entries, protocol=protocol), names, curves)
