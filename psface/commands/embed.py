"""``psface embed``: one L2-normalised embedding per sample of a maps dataset."""

from __future__ import annotations

import argparse
from contextlib import nullcontext
from pathlib import Path

from psface.options import positive_int
from psface.progress import progress_bar

HELP = "embed every sample of maps.h5 with a trained model into emb.h5"
DESCRIPTION = """\
Run a trained model (a `psface train` run folder, or the .onnx file `psface export`
makes of one) over every sample of a maps dataset,
in batches, and write one L2-normalised embedding per sample with its quality score
(the feature magnitude before normalisation; with MagFace, larger = better quality).
The model's modality picks which maps are read.

An existing OUT is replaced only with --overwrite, and never when it is one of the
command's inputs (the maps file, the model's files). emb.h5 is written atomically: a
failure leaves the previous file as it was.

emb.h5 holds:
  embedding (N, 512) float32   quality (N,) float32
  subject (N,), session (N,)   UTF-8 strings, as in maps.h5
  attributes: model_fingerprint (sha256 of the weights and config), modality,
  schema_version

examples:
  psface embed maps.h5 --model runs/normal -o emb.h5
  psface embed maps.h5 --model runs/normal+albedo -o emb.h5 --batch-size 64 --device cpu"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "embed",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("maps", type=Path, metavar="MAPS", help="maps dataset (maps.h5)")
    parser.add_argument(
        "--model",
        required=True,
        type=Path,
        metavar="RUN",
        help="run folder, or a model exported by psface export (.onnx: runs without PyTorch)",
    )
    parser.add_argument("-o", "--out", required=True, type=Path, help="embeddings file to write")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace OUT if it exists (never an input)"
    )
    parser.add_argument("--batch-size", type=positive_int, default=256, help="default 256")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from recognition.embeddings_file import embed_dataset

    with nullcontext() if args.quiet else progress_bar("embed", "map") as progress:
        count, modality = embed_dataset(
            args.maps,
            args.model,
            args.out,
            overwrite=args.overwrite,
            batch_size=args.batch_size,
            device=args.device,
            progress=progress,
        )
    print(f"wrote {count} {modality} embeddings to {args.out}")
    return 0
