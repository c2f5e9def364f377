"""``psface export``: a trained run to one ONNX file that runs without PyTorch."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "export a trained run to ONNX, to embed with onnxruntime instead of PyTorch"
DESCRIPTION = """\
Write a `psface train` run's model as one ONNX file (opset 18, any batch size). The
graph takes maps exactly as maps.h5 stores them, (batch, C, S, S) float32 with NaN
where unsolved, and applies the run's input scale itself; it returns the features
before L2 normalisation (their norm is the quality score) and, for a multi-task model,
the attribute logits. The file's metadata records the modality, map size, channels,
embedding size, input scale, attribute tasks, the run's config and its fingerprint.

Every command that takes --model RUN also takes the exported file, and then runs it
through onnxruntime on the CPU without importing PyTorch. Its templates match the
run's (cosine >= 0.9999), so galleries and emb.h5 files made with either accept the
other.

--int8 quantises the weights dynamically (onnxruntime): a quarter of the size, but
slower on a small CPU (the float export runs at about twice PyTorch's speed); on the
demo's held-out people its verification AUC moved from 0.9746 to 0.9752. Its
templates are not the run's, so it gets a fingerprint of its own.

OUT is written atomically and readable by you only; an existing OUT is replaced only
with --overwrite.

examples:
  psface export runs/normal -o normal.onnx
  psface export runs/normal -o normal-int8.onnx --int8
  psface embed maps.h5 --model normal.onnx -o emb.h5
  psface identify probes.h5 --model normal.onnx --gallery gallery.h5"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN", help="run folder made by psface train")
    parser.add_argument("-o", "--out", required=True, type=Path, help="ONNX file to write")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    parser.add_argument(
        "--int8",
        action="store_true",
        help="quantise the weights to int8 (a quarter of the size; templates differ "
        "slightly, so galleries made with the run refuse them)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from recognition.export import export_onnx

    out = export_onnx(args.run_dir, args.out, overwrite=args.overwrite, int8=args.int8)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0
