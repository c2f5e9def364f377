"""``psface evaluate``: verification and identification figures for one or more models."""

from __future__ import annotations

import argparse
from pathlib import Path

from psface.options import integer, non_negative_int, number, positive_int
from psface.readers import attribute_reader, maps_and_models

HELP = (
    "measure models on held-out people: ROC, EER, TAR@FAR, rank-1, CMC, mAP, attribute "
    "leakage; and presentation attack detection (APCER, BPCER, DET)"
)
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

Presentation attacks: sessions the maps file labels as attacks (print, screen, mask,
...) are left out of every figure above, so an attack never counts as a genuine session
of the person it claims to be. Where they have liveness scores, the report also gets
presentation attack detection figures (ISO/IEC 30107-3) over every row of the file: a
session is classified bona fide when its liveness score is at least a threshold. APCER
(attack presentation classification error rate) is the share of one attack type's
presentations classified bona fide, attacks let through; BPCER (bona fide presentation
classification error rate) is the share of live faces classified as attacks, people
turned away. Lowering one raises the other; --bpcer picks the operating threshold (the
file's liveness calibration for that BPCER, or where it has none the threshold at that
BPCER of its own bona fide scores, which the report says). Reported: BPCER and each
type's APCER at it, the worst type's (APCER max), APCER at BPCER 1e-2 and 1e-3, and
det.png (APCER against BPCER, one curve per attack type).

REPORT receives report.json (INTERFACES.md keys, plus one entry per model under
"models", and "presentation_attack" where measured), report.md (a table) and roc.png
(log FAR), cmc.png, scores.png (genuine and impostor histograms) and, with attacks,
det.png. A REPORT that already holds files is refused unless --overwrite, which
replaces those files and nothing else. Give --model several times to compare
models side by side, e.g. one per modality (image vs albedo vs normal vs depth vs
normal+albedo).

examples:
  psface evaluate maps.h5 --model runs/normal -o report/
  psface evaluate maps.h5 --model runs/image --model runs/normal --model runs/normal+albedo -o cmp/
  psface evaluate maps.h5 --model runs/normal -o report/ --enrol-sessions 2 --bootstrap 0
  psface evaluate maps.h5 --model runs/normal -o report/ --bpcer 0.05"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("maps", type=Path, metavar="MAPS", help="maps dataset (maps.h5)")
    parser.add_argument(
        "--model",
        required=True,
        action="append",
        metavar="RUN",
        help="run folder, or a model exported by psface export (.onnx); repeatable",
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
    parser.add_argument(
        "--bpcer",
        type=number(0, 1, low_open=True, high_open=True),
        default=0.01,
        help="presentation attack detection's operating point: the BPCER, the share of live "
        "faces wrongly classified as attacks, that the liveness threshold allows; the "
        "report gives each attack type's APCER, the share of its attacks classified live, "
        "at that threshold (0.01)",
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="bootstrap seed (0)")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--batch-size", type=positive_int, default=256, help="maps per batch (256)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gallery.runs import evaluate_runs
    from psbase.outputs import output_folder
    from psface.plots import write_plots
    from recognition.models import model_files

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
            bpcer=args.bpcer,
        )
        written = write_plots(result.folder, result.names, result.curves, result.pad_curves)
    plots = ", ".join(path.name for path in written)
    for e in result.report["models"]:
        v, i = e["verification"], e["identification"]
        print(
            f"{e['name']}: AUC {v['auc']:.4f}  EER {100 * v['eer']:.2f}%  "
            f"rank-1 {100 * i.get('rank1', float('nan')):.2f}%"
        )
        if "attributes" in e:
            print(f"  {attribute_line(e)}")
    if "presentation_attack" in result.report:
        print(pad_line(result.report["presentation_attack"]))
    print(f"wrote {result.folder}/report.json, report.md, {plots}")
    return 0


def pad_line(pad: dict) -> str:
    """One line: the liveness threshold, BPCER and each attack type's APCER at it."""
    if pad["threshold"] is None:
        return "presentation attacks: no liveness threshold (no calibration, no bona fide scores)"
    apcer = ", ".join(f"{kind} {_value(v, percent=True)}" for kind, v in pad["apcer"].items())
    return (
        f"presentation attacks: threshold {pad['threshold']:.4f} ({pad['threshold_source']}), "
        f"BPCER {_value(pad['bpcer'], percent=True)}, APCER {apcer}"
    )


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
