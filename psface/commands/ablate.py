"""``psface ablate``: lighting-robustness ablations as tables and plots."""

from __future__ import annotations

import argparse
from pathlib import Path

from psface.options import integer, non_negative_int, positive_int

HELP = "ablate lighting: lights, spread, calibration, noise, ambient, solver ... on any data"
DESCRIPTION = """\
Measure how photometric stereo and recognition hold up as the lighting changes. Each
--factor NAME=V1,V2,... varies one setting; several factors are crossed into a grid, and
every cell is run --repeats times (other people, poses and rig rotations each repeat;
the same ones in every cell, so cells compare fairly).

DATA is synth:PEOPLExSESSIONS (rendered people with exact ground truth; every factor
applies) or a folder of real captures of people under many lights, one yaleBNN folder
per person (Extended Yale B layout): rigs are then chosen from each person's lights, so
lights, spread, calib_deg, intensity_err, noise, solver, integrator and size apply.

factors (default in brackets):
  lights         number of lights, 3 to K (4)
  spread         cone half-angle of the rig about the camera axis, degrees (30)
  calib_deg      RMS error of the light directions the solver is told, degrees (0)
  intensity_err  relative RMS error of the intensities the solver is told (0)
  noise          sensor read noise, fraction of full scale (0.002; real data: added)
  ambient        room light, relative to one lamp (0.1; synthetic)
  shadows        cast shadows on or off (on; synthetic)
  specular       skin shine, 1 realistic, 0 matt (1; synthetic)
  bounce         inter-reflection (0.1; synthetic)
  solver         plain, shadow or robust (shadow)
  integrator     masked, dct or fft (masked)
  size           crop side in pixels (96)

measures per cell (mean and spread over repeats): normal_error_deg (to the ground truth,
or to a many-light fit on real data), depth_error and albedo_error (synthetic),
relight_error and albedo_spread (real), unsolved (share of the face left empty), and
training-free cross-lighting nearest-neighbour rank-1 and AUC for albedo, normal, depth
and the photograph (the baseline); with --model, each model's AUC, rank-1 and TAR at
FAR 1e-2.

OUT receives results.csv (one row per cell, repeat and measure), results.json, report.md
(a table per factor, the best setting in bold, the photograph beside every recognition
figure) and one PNG per factor (heat maps for crossed factors). A killed ablation
resumes: rerun the same command and finished cells are not recomputed.

examples:
  psface ablate synth:20x3 --factor lights=3,4,6,8 -o ablate/lights
  psface ablate synth:20x3 --factor calib_deg=0,2,5,10,20 \
      --factor solver=plain,shadow,robust --repeats 2 --workers 2 -o ablate/calib
  psface ablate ../shared/data/yaleb --factor lights=3,4,6,12 \
      --factor solver=plain,shadow -o ablate/yaleb
  psface ablate synth:20x3 --factor noise=0,0.01,0.03 \
      --model runs/normal --model runs/image -o ablate/noise"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ablate",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("data", metavar="DATA", help="synth:PEOPLExSESSIONS or a capture folder")
    parser.add_argument(
        "--factor",
        required=True,
        action="append",
        metavar="NAME=V1,V2",
        help="a factor and its values (repeatable; factors are crossed)",
    )
    parser.add_argument("-o", "--out", required=True, type=Path, help="output folder")
    parser.add_argument(
        "--model", action="append", default=[], metavar="RUN", help="trained run (repeatable)"
    )
    parser.add_argument("--repeats", type=integer(1, 1000), default=1, help="draws per cell (1)")
    parser.add_argument(
        "--sessions",
        type=integer(2, 64),
        default=3,
        help="real data: rigs per person per cell, the first the gallery (3)",
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="random seed (0); synthetic people are drawn apart from psface synth's and "
        "demo's, so their models are measured on people they never saw",
    )
    workers = parser.add_mutually_exclusive_group()
    workers.add_argument(
        "--workers", type=positive_int, default=1, help="local worker processes (1)"
    )
    workers.add_argument("--dask", metavar="ADDRESS", help="run cells on this Dask scheduler")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ablation.factors import parse_factor
    from ablation.runner import data_source, named_models, run_ablation
    from psface.ablation_plots import write_ablation_plots
    from psface.progress import progress_bar

    data = data_source(args.data, sessions=args.sessions, seed=args.seed)
    factors = [parse_factor(text, data.kind) for text in args.factor]
    models = named_models(args.model)
    with progress_bar("ablate", "task") as progress:
        run = run_ablation(
            data,
            factors,
            args.out,
            repeats=args.repeats,
            models=models,
            workers=args.workers,
            dask_address=args.dask,
            progress=progress,
        )
    plots = write_ablation_plots(args.out, run.summary, run.factors)
    print(
        f"{run.computed} tasks computed, {run.resumed} resumed, {len(run.failed)} failed "
        f"in {run.seconds:.1f} s"
    )
    for key, reason in run.failed:
        print(f"failed: {key}: {reason}")
    names = ", ".join(p.name for p in [*run.files, *plots])
    print(f"wrote {args.out}/: {names}")
    return 1 if run.failed else 0
