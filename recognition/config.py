"""The training configuration: one frozen dataclass, saved as RUN/config.json.

Every default lives here; the command line overrides fields by name. Loading rejects
unknown keys, so a misspelt option in a config file is an error, not a silent default.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from photostereo.maps_file import MapsFile, parse_modality
from psbase.atomic import write_atomically
from psbase.errors import ConfigError, InputError
from recognition.backbones import BACKBONES
from recognition.losses.margins import MARGINS, build_margin

LOSSES = (*MARGINS, "triplet")
FUSIONS = ("late", "early")
OPTIMIZERS = ("sgd", "adamw")
CONFIG_VERSION = 1
#: Keys that shape only a multi-task run (saved only when ``multitask`` is on).
MULTITASK_KEYS = (
    "multitask",
    "task_weights",
    "focal_gamma",
    "attention_split",
    "adversarial",
    "adversarial_weight",
    "reversal_warmup",
)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a model and how it was trained.

    ``fusion`` matters only for joined modalities (``normal+albedo``): ``late`` runs one
    backbone per modality and projects the concatenated embeddings to ``embedding_dim``;
    ``early`` stacks the channels into one backbone. ``lr`` is the peak rate, reached
    after ``warmup_epochs`` of linear warm-up and followed by a cosine decay to zero.
    ``amp`` and ``channels_last`` apply on CUDA only. The optimiser defaults to AdamW
    (lr 2e-3, weight decay 0.05): on our synthetic sets SGD at lr 0.1 blew the feature
    magnitudes up to 1e6 in its first epochs, where AdamW trained steadily to a held-out
    AUC of 0.99 (benchmarks/RESULTS.md). ``pk`` is (P, K) for the triplet
    loss's identity-balanced batches, whose size is then P·K.

    ``multitask`` adds the seed study's second approach (:mod:`recognition.multitask`):
    five binary attribute heads (spectacles, facial hair, expression, pose, gender, in
    :data:`recognition.attributes.TASKS` order) weighted by ``task_weights`` with focal
    loss of ``focal_gamma``
    (0: cross-entropy); with ``attention_split`` the attention cascade splits their
    features off the identity's, and with ``adversarial`` heads behind a gradient
    reversal (weight ``adversarial_weight`` x the task's, coefficient warmed up over the
    first ``reversal_warmup`` of training) push attribute information out of it. The
    multi-task keys are saved only for multi-task runs, so older runs keep their
    fingerprints. The weights keep the study's ratio (pose and gender three times the
    others) at a tenth of its 10 and 30: on 120 synthetic people (normal+albedo, 32 px,
    15 epochs) the study's weights took the held-out identity AUC from 0.988 (single
    task) to 0.955, a tenth of them to 0.992.
    """

    modality: str = "normal"
    backbone: str = "iresnet18"
    width: float = 1.0
    size: int = 112
    embedding_dim: int = 512
    dropout: float = 0.0
    fusion: str = "late"
    loss: str = "magface"
    scale: float = 64.0
    arcface_margin: float = 0.5
    cosface_margin: float = 0.35
    magface_l_a: float = 10.0
    magface_u_a: float = 110.0
    magface_l_m: float = 0.45
    magface_u_m: float = 0.8
    magface_lambda_g: float = 35.0
    class_weighting: bool = False
    triplet_margin: float = 0.2
    triplet_mining: str = "hard"
    pk: tuple[int, int] = (16, 4)
    epochs: int = 20
    batch_size: int = 128
    optimizer: str = "adamw"
    lr: float = 2e-3
    momentum: float = 0.9
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    seed: int = 0
    val_fraction: float = 0.2
    augment: bool = True
    aug_shift: float = 0.06
    aug_rotate: float = 8.0
    aug_noise: float = 0.02
    aug_depth_offset: float = 0.5
    amp: bool = True
    channels_last: bool = True
    multitask: bool = False
    task_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 3.0, 3.0)
    focal_gamma: float = 2.0
    attention_split: bool = True
    adversarial: bool = True
    adversarial_weight: float = 1.0
    reversal_warmup: float = 0.1

    def __post_init__(self) -> None:
        _check_types(self)
        parse_modality(self.modality)
        object.__setattr__(self, "pk", tuple(self.pk))
        object.__setattr__(self, "task_weights", tuple(float(w) for w in self.task_weights))
        checks = [
            (self.backbone in BACKBONES, f"backbone must be one of {', '.join(BACKBONES)}"),
            (self.loss in LOSSES, f"loss must be one of {', '.join(LOSSES)}"),
            (self.fusion in FUSIONS, f"fusion must be one of {', '.join(FUSIONS)}"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (self.triplet_mining in ("hard", "semihard"), "triplet_mining is hard or semihard"),
            (16 <= self.size <= 1024 and self.size % 16 == 0, "size must be a multiple of 16"),
            (0 < self.width <= 16, "width must be in (0, 16]"),
            (2 <= self.embedding_dim <= 65536, "embedding_dim must be in [2, 65536]"),
            (0 <= self.dropout < 1, "dropout must be in [0, 1)"),
            (self.epochs >= 1, "epochs must be at least 1"),
            (self.batch_size >= 2, "batch size must be at least 2"),
            (min(self.pk) >= 2, "pk must be two numbers P, K >= 2"),
            (self.lr > 0, "learning rate must be positive"),
            (self.scale > 0, "scale must be positive"),
            (0 <= self.momentum < 1, "momentum must be in [0, 1)"),
            (self.weight_decay >= 0, "weight_decay must not be negative"),
            (self.warmup_epochs >= 0, "warmup_epochs must not be negative"),
            (self.seed >= 0, "seed must not be negative"),
            (0 < self.val_fraction < 1, "val_fraction must be between 0 and 1"),
            (len(self.task_weights) == 5, "task_weights must be five numbers"),
            (min(self.task_weights) >= 0, "task_weights must not be negative"),
            (self.focal_gamma >= 0, "focal_gamma must not be negative"),
            (self.adversarial_weight >= 0, "adversarial_weight must not be negative"),
            (0 <= self.reversal_warmup < 1, "reversal_warmup must be in [0, 1)"),
            (
                min(self.arcface_margin, self.cosface_margin, self.triplet_margin) >= 0,
                "margins must not be negative",
            ),
            (
                min(self.aug_shift, self.aug_rotate, self.aug_noise, self.aug_depth_offset) >= 0,
                "augmentation strengths must not be negative",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        for name in MARGINS:  # each head checks its own settings (MagFace's bounds)
            build_margin(name, **self.margin_settings(name))

    @property
    def modalities(self) -> tuple[str, ...]:
        return parse_modality(self.modality)

    def margin_settings(self, name: str) -> dict[str, float]:
        """The keyword arguments of margin head ``name`` (:func:`build_margin`)."""
        if name == "magface":
            return {
                "s": self.scale,
                "l_a": self.magface_l_a,
                "u_a": self.magface_u_a,
                "l_m": self.magface_l_m,
                "u_m": self.magface_u_m,
                "lambda_g": self.magface_lambda_g,
            }
        margin = {"arcface": self.arcface_margin, "cosface": self.cosface_margin}[name]
        return {"s": self.scale, "m": margin}

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["pk"] = list(self.pk)
        data["task_weights"] = list(self.task_weights)
        if not self.multitask:
            for name in MULTITASK_KEYS:
                del data[name]
        return {"config_version": CONFIG_VERSION, **data}

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no whitespace variation (fingerprints hash it)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        data = dict(data)
        version = data.pop("config_version", CONFIG_VERSION)
        if version != CONFIG_VERSION:
            raise ConfigError(f"config_version {version} is not {CONFIG_VERSION}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as error:
            raise ConfigError(f"bad config value ({error})") from None

    def replace(self, **changes: Any) -> TrainConfig:
        return self.from_dict({**self.to_dict(), **changes})


_TYPES = {"str": str, "bool": bool}
_TYPE_WORDS = {"str": "a string", "bool": "true or false"}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_types(config: TrainConfig) -> None:
    """Each field of the type it is declared with (a config file may hold anything)."""
    for field in fields(config):
        value = getattr(config, field.name)
        if field.name == "pk":
            ok = isinstance(value, (list, tuple)) and len(value) == 2
            ok = ok and all(_is_int(v) for v in value)
            wanted = "two whole numbers P, K"
        elif field.name == "task_weights":
            ok = isinstance(value, (list, tuple)) and all(
                (_is_int(v) or isinstance(v, float)) and math.isfinite(v) for v in value
            )
            wanted = "a list of finite numbers"
        elif field.type == "float":
            ok = (_is_int(value) or isinstance(value, float)) and math.isfinite(value)
            wanted = "a finite number"
        elif field.type == "int":
            ok, wanted = _is_int(value), "a whole number"
        else:
            kind = str(field.type)  # annotations are strings here (postponed evaluation)
            ok, wanted = isinstance(value, _TYPES[kind]), _TYPE_WORDS[kind]
        if not ok:
            raise ConfigError(f"{field.name} must be {wanted}, not {value!r}")


def save_config(config: TrainConfig, path: str | Path) -> None:
    """Write config.json atomically, owner-only."""
    text = json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n"
    write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def config_for_maps(maps_path: str | Path, **settings: Any) -> TrainConfig:
    """A new run's config: ``settings`` over the defaults, the input size defaulting to
    the maps' own, so a run takes maps.h5 as it was preprocessed."""
    if "size" not in settings:
        with MapsFile(maps_path) as maps_file:
            settings["size"] = maps_file.size
    return TrainConfig(**settings)


def load_config(path: str | Path) -> TrainConfig:
    """The config in ``path``; a missing, unreadable or invalid file is an InputError."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(path, "no config.json; is this a `psface train` run folder?") from None
    except (OSError, ValueError) as error:  # ValueError: bad JSON or not UTF-8
        raise InputError(path, f"unreadable config ({error})") from None
    if not isinstance(data, dict):
        raise InputError(path, "config is not a JSON object")
    try:
        return TrainConfig.from_dict(data)
    except ConfigError as error:
        raise InputError(path, str(error)) from None
