"""``psface evaluate``: verification and identification figures for one or more models."""

from __future__ import annotations

import argparse
from pathlib import Path

from psface.options import integer, non_negative_int, positive_int
from psface.readers import attribute_reader, maps_and_models

HELP = "measure models on held-out people: ROC, EER, TAR@FAR, rank-1, CMC, mAP, attribute leakage"
DESCRIPTION = """\
Evaluate trained models on the people of a maps dataset that they were not trained on
(the run's split.json lists its training people; they are left out).

Verification compares every pair of samples: ROC AUC, EER and the true-accept rate at
false-accept rates 1e-2, 1e-3 and 1e-4 (reported only where there are at least 1/FAR
impostor pairs). Identification follows the seed study: each person's earliest sessions
(--enrol-sessions, default 1) are enrolled and the rest are probes: rank-1, rank-5, CMC,
mAP, and open-set DIR at FPIR 1e-2 (each probe also searches with its own identity
removed, as a stranger would). 95% bootstrap intervals in brackets.

Attributes (spectacles, facial hair, expression, pose, gender, from the maps file's
session attributes; missing labels are left out): a multi-task model's heads get their
ROC AUC and balanced accuracy (at probability 0.5); every model gets the leakage of
each attribute from its embedding, the ROC AUC of a linear probe (L2-regularised
logistic regression) trained on the embeddings, cross-validated over two
person-disjoint halves of the people (0.5: nothing leaks; lower is better). Probes
whose spectacles, facial hair or expression differ from their person's earliest
enrolled session get their own rank-1 and AUC beside the rest's.

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


def run(args: argparse.Namespace) -> int:
    from gallery.runs import evaluate_runs
    from psbase.outputs import output_folder
    from psface.plots import write_plots
    from recognition.embed import model_files

    inputs = [args.maps, *(f for m in args.model for f in model_files(m))]
    with output_folder(args.out, overwrite=args.overwrite, inputs=inputs):
        result = evaluate_runs(
            args.maps,
            [Path(m) for m in args.model],
            args.out,
            **maps_and_models(args.device),
            enrol_sessions=args.enrol_sessions,
            bootstrap=args.bootstrap,
            all_people=args.all_people,
            seed=args.seed,
            batch_size=args.batch_size,
            attributes=attribute_reader(),
        )
        write_plots(result.folder, result.names, result.curves)
    for e in result.report["models"]:
        v, i = e["verification"], e["identification"]
        print(
            f"{e['name']}: AUC {v['auc']:.4f}  EER {100 * v['eer']:.2f}%  "
            f"rank-1 {100 * i.get('rank1', float('nan')):.2f}%"
        )
        if "attributes" in e:
            print(f"  {attribute_line(e)}")
    print(f"wrote {result.folder}/report.json, report.md, roc.png, cmc.png, scores.png")
    return 0


def _value(value: float | None, *, percent: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.1f}%" if percent else f"{value:.2f}"


def attribute_line(entry: dict) -> str:
    """One line: each attribute's leakage AUC, and rank-1 of the probes whose attributes
    changed since enrolment against the rest's."""
    leakage = ", ".join(
        f"{task} {_value(figures['leakage_auc'])}" for task, figures in entry["attributes"].items()
    )
    groups = entry["attribute_change"]
    ranks = "  ".join(
        f"{name} {_value(groups[name]['rank1'], percent=True)} ({groups[name]['probes']})"
        for name in ("changed", "unchanged")
    )
    return f"leakage AUC {leakage}; rank-1 of probes with attributes {ranks}"
