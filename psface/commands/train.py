"""``psface train``: train a face embedder on a maps dataset."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tqdm import tqdm

from psbase.errors import ConfigError
from psface.options import integer, number, positive_number, probability
from psface.progress import progress_bar

HELP = "train a face embedder (iResNet, MagFace/ArcFace/CosFace/triplet) on maps.h5"
DESCRIPTION = """\
Train an embedding network on one modality of a maps dataset (normal, albedo, depth,
image) or on a joined set (normal+albedo, normal+albedo+depth). People are split by
identity: those held out for validation (--val-fraction, or --split FILE) are never seen
in training. After every epoch the loss and the validation verification AUC and EER go
to the progress bar and RUN/log.jsonl, and the run is checkpointed.

RUN receives:
  model.safetensors  the embedding model (weights and input scaling; no pickle)
  config.json        every setting, enough to rebuild the model
  checkpoint.safetensors, split.json, log.jsonl (epoch 0 = the untrained network)

Joined modalities use late fusion by default (one backbone per modality, embeddings
concatenated and projected to 512); --fusion early stacks the channels into one
backbone instead (cheaper). On CUDA training uses mixed precision and channels-last;
on a CPU use a small input (--size 64) and perhaps --width 0.5.

The learning rate warms up linearly for --warmup epochs, then decays on a cosine to
zero. --resume RUN continues an interrupted run exactly where its last checkpoint left
it (same batches, optimiser state and random streams); other options are then ignored.
--out refuses a folder that holds an earlier run (continue it with --resume) or other
files; --overwrite replaces the earlier run's files, and nothing else in the folder.

examples:
  psface train maps.h5 --modality normal --out runs/normal
  psface train maps.h5 --modality normal+albedo --out runs/na --epochs 30 --size 64
  psface train maps.h5 --modality albedo --out runs/a --loss arcface --width 0.5
  psface train maps.h5 --modality depth --out runs/d --loss triplet --pk 16 4
  psface train maps.h5 --modality normal+albedo --out runs/mt --multitask
  psface train maps.h5 --resume runs/normal"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("maps", type=Path, metavar="MAPS", help="maps dataset (maps.h5)")
    parser.add_argument("--modality", "-m", help="normal, albedo, depth, image or a '+' join")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", "-o", type=Path, metavar="RUN", help="new run folder")
    target.add_argument("--resume", type=Path, metavar="RUN", help="continue this run")
    parser.add_argument(
        "--init",
        type=Path,
        metavar="RUN",
        help="start a new run from this trained run's weights (fine-tuning; the same "
        "modality and model settings); its margin head is not reused",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="with --out: replace an earlier run there, or write into a folder holding files",
    )
    model = parser.add_argument_group("model")
    model.add_argument("--backbone", choices=("iresnet18", "iresnet34", "iresnet50"))
    model.add_argument(
        "--size", type=integer(16, 1024), help="input side in px (default: the maps' size)"
    )
    model.add_argument(
        "--width", type=number(0.0, 16.0, low_open=True), help="channel width multiplier (1)"
    )
    model.add_argument("--fusion", choices=("late", "early"), help="for joined modalities")
    model.add_argument(
        "--dropout", type=number(0.0, 1.0, high_open=True), help="dropout before the FC (0)"
    )
    loss = parser.add_argument_group("loss")
    loss.add_argument("--loss", choices=("magface", "arcface", "cosface", "triplet"))
    loss.add_argument("--scale", type=positive_number, help="logit scale s (default 64)")
    loss.add_argument(
        "--class-weighting",
        action="store_true",
        default=None,
        help="weight classes by inverse frequency",
    )
    loss.add_argument(
        "--pk",
        type=integer(2),
        nargs=2,
        metavar=("P", "K"),
        help="triplet batches: P people x K samples (default 16 4)",
    )
    opt = parser.add_argument_group("optimisation")
    opt.add_argument("--epochs", type=integer(1, 100_000), help="default 20")
    opt.add_argument("--batch-size", type=integer(2, 65_536), help="default 128")
    opt.add_argument("--optimizer", choices=("sgd", "adamw"), help="default adamw")
    opt.add_argument("--lr", type=positive_number, help="peak learning rate (default 2e-3)")
    opt.add_argument("--weight-decay", type=number(0.0), help="default 0.05")
    opt.add_argument("--warmup", type=number(0.0), dest="warmup_epochs", help="warm-up epochs (1)")
    opt.add_argument("--seed", type=integer(0, 2**32 - 1), help="default 0")
    opt.add_argument("--no-augment", dest="augment", action="store_false", default=None)
    opt.add_argument(
        "--no-amp", dest="amp", action="store_false", default=None, help="full precision on CUDA"
    )
    tasks = parser.add_argument_group(
        "multi-task (attribute heads; the embedding is the identity part alone)"
    )
    tasks.add_argument(
        "--multitask",
        action="store_true",
        default=None,
        help="add spectacles, facial hair, expression, pose and gender heads (needs the "
        "maps file's attributes)",
    )
    tasks.add_argument(
        "--task-weights",
        type=number(0.0),
        nargs=5,
        metavar="W",
        help="loss weights in that order (default 1 1 1 3 3)",
    )
    tasks.add_argument(
        "--focal-gamma", type=number(0.0), help="focal loss gamma, 0 for cross-entropy (2)"
    )
    tasks.add_argument(
        "--no-attention-split",
        dest="attention_split",
        action="store_false",
        default=None,
        help="heads read the identity features instead of split-off ones (an ablation)",
    )
    tasks.add_argument(
        "--no-adversarial",
        dest="adversarial",
        action="store_false",
        default=None,
        help="no adversarial heads behind a gradient reversal (an ablation)",
    )
    tasks.add_argument(
        "--adversarial-weight", type=number(0.0), help="x the task weights, adversarial (1)"
    )
    data = parser.add_argument_group("split and device")
    data.add_argument(
        "--val-fraction", type=probability, help="share of people held out, in (0, 1) (0.2)"
    )
    data.add_argument(
        "--split", type=Path, metavar="FILE", help='JSON {"train": [people], "val": [people]}'
    )
    data.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.set_defaults(run=run)


#: argparse destinations that are TrainConfig fields.
_FIELDS = (
    "modality", "backbone", "size", "width", "fusion", "dropout", "loss", "scale",
    "class_weighting", "pk", "epochs", "batch_size", "optimizer", "lr", "weight_decay",
    "warmup_epochs", "seed", "augment", "amp", "val_fraction", "multitask", "task_weights",
    "focal_gamma", "attention_split", "adversarial", "adversarial_weight",
)  # fmt: skip


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig fields the user set; the rest keep their defaults."""
    if not args.modality:
        raise ConfigError("--modality is needed for a new run (e.g. --modality normal)")
    return {f: getattr(args, f) for f in _FIELDS if getattr(args, f) is not None}


def _is_attribute_auc(key: str, value: Any) -> bool:
    """A multi-task run's held-out AUC of one attribute head (``val_<task>_auc``)."""
    named = key.startswith("val_") and key.endswith("_auc") and key != "val_auc"
    return named and value is not None


def _report(kind: str, info: dict[str, Any]) -> None:
    """The run's start and each epoch's figures as lines above the progress bar."""
    if kind == "start":
        tqdm.write(
            f"training on {info['train_samples']} samples of {info['train_people']} people, "
            f"validating on {info['val_samples']} of {info['val_people']} others "
            f"({info['device']})"
        )
    elif kind == "epoch":
        parts = [f"epoch {info['epoch']}"]
        if "loss" in info:
            parts.append(f"loss {info['loss']:.4f}")
        if "val_auc" in info:
            parts.append(f"val AUC {info['val_auc']:.4f} EER {info['val_eer']:.4f}")
        heads = [f"{k[4:-4]} {v:.2f}" for k, v in info.items() if _is_attribute_auc(k, v)]
        if heads:
            parts.append("attribute AUC " + ", ".join(heads))
        if "images_per_s" in info:
            parts.append(f"{info['images_per_s']:.0f} img/s")
        tqdm.write("  ".join(parts))


def run(args: argparse.Namespace) -> int:
    from recognition.config import config_for_maps
    from recognition.train import train_run

    resume = args.resume is not None
    if resume and args.overwrite:
        raise ConfigError("--overwrite is for a new run (--out); --resume keeps its run")
    if resume and args.init is not None:
        raise ConfigError("--init is for a new run (--out); --resume continues its own")
    config = None if resume else config_for_maps(args.maps, **_settings(args))
    run_dir = args.resume if resume else args.out
    with progress_bar("train", "batch") as progress:
        train_run(
            args.maps,
            run_dir,
            config,
            resume=resume,
            overwrite=args.overwrite,
            split_file=args.split,
            device=args.device,
            callback=_report,
            progress=progress,
            init=args.init,
        )
    print(f"wrote {run_dir}/ (model.safetensors, config.json, log.jsonl)")
    return 0
