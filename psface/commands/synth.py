"""``psface synth``: generate the synthetic multi-light face data set, with ground truth."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from psbase.errors import ConfigError
from psface.options import integer, non_negative_int, number, positive_int, response_type

HELP = "make synthetic people photographed under a multi-light rig, with ground truth"
DESCRIPTION = """\
Generate synthetic people, photographed in several sessions each under a multi-light
rig, in the canonical layout OUT/SUBJECT/SESSION/ (captures + lights.json). Every
session also holds its exact ground truth in the captures' pixel frame:

  gt_normal.npy (H,W,3 unit normals, x right, y up, z toward the camera)
  gt_albedo.npy (H,W)   gt_depth.npy (H,W pixels, larger = closer, NaN off the face)
  gt_mask.png (the visible skin of the face, where ground truth is scored)

A person keeps one face (shape, skin, eyes, brows, hair) in every session; a session
varies the head pose, position and scale, expression, spectacles, facial hair, exposure
and sensor noise, with Photoface's attribute frequencies (written to lights.json under
"attributes"). The same --seed gives the same data whatever --workers is.

The captures are as hard as a real camera's: room light (--ambient, a fraction of one
lamp head-on, varied per session) lifts attached and cast shadows to 10-30% of the lit
level, light bounces between nearby skin, the nose casts shadows under side lamps, and
skin has a Torrance-Sparrow highlight that is strongest on the oily forehead and nose
(--specular scales it; 0 for matt skin), and the lamps sit about a degree and 3% off
what lights.json records, as a calibrated rig's do. --response srgb or gamma:G encodes
the files as such a camera would and declares it in lights.json ("response"), which the
readers undo. --ideal gives exact renders: Lambertian, no room light, cast shadows,
noise or calibration error.

--attack adds presentation attacks: for every person, one session of each kind named,
made from a photograph of that person (one lamp and room light) and photographed by
the rig like a live visit. They sit beside the person's visits as SUBJECT/KIND-00/,
labelled in lights.json ("attack": "print"), which preprocess carries into the maps
file for evaluate's APCER and BPCER:

  print         the photograph on matte or glossy paper, held flat and tilted
  curved-print  the same print bent around a near-vertical axis
  screen        a phone or monitor showing it: its own light, a glare of each lamp, moire
  mask          someone else's face shape, textured with the photograph

OUT must be new or empty: a folder that already holds files (an earlier data set, or
anything else) is refused, unless --overwrite is given; then sessions of the same names
are rewritten and nothing else in OUT is touched or deleted. An existing --preview
sheet is replaced only with --overwrite too.

Rigs: photoface (four lights 20 degrees around the camera, as that device), yale (the
64 Extended Yale B dome directions), both shipped in synthetic_faces/data/rigs/; ring:K
(K lights evenly on a 30-degree cone); or the path of your own rig .json file (its format:
synthetic_faces/data/rigs/README.md).

examples:
  psface synth data/generated --subjects 20 --sessions 4 --seed 0
  psface synth data/generated --subjects 200 --sessions photoface --workers 2
  psface synth out/yale --subjects 5 --sessions 1 --rig yale --size 192 --bits 16
  psface synth out/demo --subjects 4 --sessions 3 --preview sheet.png
  psface synth out/phone --subjects 5 --response srgb --ambient 0.2 --specular 1.5
  psface synth out/pad --subjects 20 --sessions 2 --attack all"""


def _sessions(text: str) -> int | str:
    if text == "photoface":
        return text
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"--sessions takes a count of at least 1 or 'photoface', not {text!r}"
        ) from None


def _attacks(text: str) -> tuple[str, ...]:
    from synthetic_faces.attacks import ATTACKS

    kinds = ATTACKS if text == "all" else tuple(part.strip() for part in text.split(","))
    unknown = [kind for kind in kinds if kind not in ATTACKS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(
            f"--attack takes 'all' or kinds joined by commas from {', '.join(ATTACKS)}; "
            f"not {text!r}"
        )
    return tuple(dict.fromkeys(kinds))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("out", type=Path, metavar="OUT", help="root folder to write sessions in")
    parser.add_argument(
        "--subjects",
        type=integer(1, 1_000_000),
        default=10,
        metavar="N",
        help="number of people (default: 10)",
    )
    parser.add_argument(
        "--sessions",
        type=_sessions,
        default=4,
        metavar="M",
        help="sessions per person, or 'photoface' to draw each person's "
        "count from the Photoface distribution (default: 4)",
    )
    parser.add_argument(
        "--seed", type=non_negative_int, default=0, metavar="S", help="random seed (default: 0)"
    )
    parser.add_argument(
        "--rig",
        default="photoface",
        help="photoface, yale, ring:K or a rig .json file (default: photoface)",
    )
    parser.add_argument(
        "--size",
        type=integer(32, 4096),
        default=256,
        metavar="PX",
        help="image width and height in pixels, 32-4096 (default: 256)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="worker processes (default: all cores)",
    )
    parser.add_argument(
        "--bits", type=int, choices=(8, 16), default=8, help="bits per capture sample (default: 8)"
    )
    parser.add_argument(
        "--color",
        choices=("grey", "rgb"),
        default="grey",
        help="grey or RGB captures (default: grey)",
    )
    parser.add_argument(
        "--specular",
        type=number(0.0, 10.0),
        default=1.0,
        metavar="K",
        help="scale of the skin's highlights, 0-10 (default: 1, realistic skin; 0: matt)",
    )
    parser.add_argument(
        "--ambient",
        type=number(0.0, 2.0),
        default=0.1,
        metavar="A",
        help="room light as a fraction of one lamp head-on, 0-2 (default: 0.1)",
    )
    parser.add_argument(
        "--response",
        type=response_type,
        default="linear",
        metavar="R",
        help="camera response the files are encoded with: linear, srgb or gamma:G "
        "(default: linear); declared in lights.json",
    )
    parser.add_argument(
        "--attack",
        type=_attacks,
        default=(),
        metavar="KINDS",
        help="also write presentation attacks against every person: 'all', or kinds joined "
        "by commas (print, curved-print, screen, mask); see above",
    )
    parser.add_argument("--no-noise", action="store_true", help="noise-free captures")
    parser.add_argument("--no-shadows", action="store_true", help="no cast shadows")
    parser.add_argument(
        "--ideal",
        action="store_true",
        help="exact Lambertian renders: no room light, bounce, highlights, cast shadows, "
        "noise or calibration error",
    )
    parser.add_argument(
        "--preview",
        type=Path,
        metavar="SHEET.png",
        help="also write a contact sheet of a few people",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="write into an OUT that holds files, replacing sessions of the same names",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from contextlib import nullcontext
    from dataclasses import replace

    from psbase.outputs import check_output_file, prepare_output_folder
    from psface.progress import progress_bar
    from synthetic_faces.attacks import generate_attacks
    from synthetic_faces.generate import SynthConfig, generate
    from synthetic_faces.preview import contact_sheet
    from synthetic_faces.render import RenderSettings

    if args.preview is not None and args.preview.suffix.lower() != ".png":
        raise ConfigError(f"--preview {args.preview}: the contact sheet is written as a .png")
    settings = RenderSettings(ambient=args.ambient, specular=args.specular, response=args.response)
    if args.ideal:
        settings = replace(RenderSettings.ideal(), response=args.response)
    if args.no_noise:
        settings = replace(settings, read_noise=0.0, shot_noise=0.0)
    if args.no_shadows:
        settings = replace(settings, cast_shadows=False)
    try:
        config = SynthConfig(
            subjects=args.subjects,
            sessions=args.sessions,
            seed=args.seed,
            rig=args.rig,
            size=args.size,
            bits=args.bits,
            color=args.color,
            settings=settings,
        )
    except ValueError as error:
        raise ConfigError(f"{error}; see psface synth --help") from None
    prepare_output_folder(args.out, overwrite=args.overwrite)
    if args.preview is not None:
        check_output_file(args.preview, overwrite=args.overwrite)
    with nullcontext() if args.quiet else progress_bar("synth", "session") as update:
        folders = generate(args.out, config, workers=args.workers, progress=update)
    people = len({f.parent.name for f in folders})
    line = (
        f"wrote {len(folders)} sessions of {people} people ({config.rig}, {config.size} px) "
        f"to {args.out}"
    )
    if args.attack:
        with nullcontext() if args.quiet else progress_bar("attacks", "session") as update:
            attacks = generate_attacks(
                args.out, config, args.attack, workers=args.workers, progress=update
            )
        line += f", and {len(attacks)} attack sessions ({', '.join(args.attack)})"
    if args.preview is not None:
        contact_sheet(args.out, args.preview)
        line += f"; contact sheet {args.preview}"
    print(line)
    return 0
