"""``psface evaluate``: verification and identification figures for one or more models."""

from __future__ import annotations

import argparse
from pathlib import Path

from psface.options import integer, non_negative_int, positive_int
from psface.readers import maps_and_models

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
        )
        write_plots(result.folder, result.names, result.curves)
    for e in result.report["models"]:
        v, i = e["verification"], e["identification"]
        print(
            f"{e['name']}: AUC {v['auc']:.4f}  EER {100 * v['eer']:.2f}%  "
            f"rank-1 {100 * i.get('rank1', float('nan')):.2f}%"
        )
    print(f"wrote {result.folder}/report.json, report.md, roc.png, cmc.png, scores.png")
    return 0
