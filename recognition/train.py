"""The training loop: identity-disjoint split, batches from memory, margin or triplet loss,
warm-up then cosine learning rate, validation AUC/EER after every epoch, checkpoints.

Output is kept out of the computation: :func:`train_run` reports the batches done through
``progress(done, total)`` and the run's milestones through ``callback(kind, info)``, with
kinds ``"start"`` and ``"epoch"``; the command line turns those into a bar and lines.
Randomness comes from the seed alone: the batch order of an epoch from (seed, epoch),
augmentation from a generator whose state is checkpointed with the global torch RNG, so
``resume`` continues exactly.

Run folder: ``config.json``, ``model.safetensors`` (the embedding model; what ``psface
embed`` loads), ``checkpoint.safetensors`` (model, classifier, optimiser, RNG, step),
``split.json`` (train and validation people) and ``log.jsonl`` (one line per epoch,
epoch 0 being the untrained network).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gallery.metrics import pair_scores, verification_summary
from psbase.atomic import FILE_MODE, disk_errors, write_atomically
from psbase.errors import ConfigError, InputError, one_line
from psbase.outputs import prepare_output_folder
from recognition.attributes import attribute_labels
from recognition.augment import AugmentSettings, augment_batch
from recognition.checkpoint import (
    check_tensors,
    load_optimizer_state,
    load_tensors,
    optimizer_state,
    prefixed,
    save_tensors,
    unprefixed,
)
from recognition.config import TrainConfig, load_config, save_config
from recognition.data import MapsData, identity_split, load_maps, read_split, split_indices
from recognition.device import autocast, autocast_dtype, resolve_device, uses_channels_last
from recognition.embed import MODEL_FILE, embed_arrays, save_model
from recognition.fusion import EmbeddingModel, channel_slices, fit_scale
from recognition.losses.margins import MarginClassifier, build_margin, inverse_frequency
from recognition.losses.reversal import reversal_coefficient
from recognition.losses.triplet import TripletLoss
from recognition.multitask import MultiTaskLoss, attribute_aucs, attribute_logits
from recognition.sampler import pk_batches, shuffled_batches

Callback = Callable[[str, dict[str, Any]], None]
Progress = Callable[[int, int], None]
CHECKPOINT_FILE, SPLIT_FILE, LOG_FILE, CONFIG_FILE = (
    "checkpoint.safetensors",
    "split.json",
    "log.jsonl",
    "config.json",
)
#: Everything a run writes into its folder, and all that replacing a run deletes.
RUN_FILES = (CHECKPOINT_FILE, MODEL_FILE, SPLIT_FILE, LOG_FILE, CONFIG_FILE)
#: Keep the whole training set on the GPU when it takes at most this share of free memory.
GPU_RESIDENT_SHARE = 0.25


def lr_at(step: int, *, total: int, warmup: int, peak: float) -> float:
    """Linear warm-up over ``warmup`` steps to ``peak``, then cosine decay to zero."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


class BatchSource:
    """Gathers batches (maps, masks, labels, then any ``extra`` per-sample arrays: a
    multi-task run's attribute labels and which are known) from memory onto the device.

    On CUDA the whole set lives on the GPU when it fits comfortably, so a batch is a
    device-side gather; otherwise each batch is gathered into pinned host memory and
    copied asynchronously while the previous step runs (see :meth:`stream`).
    """

    def __init__(
        self,
        data: MapsData,
        labels: np.ndarray,
        device: torch.device,
        extra: tuple[np.ndarray, ...] = (),
    ) -> None:
        self.device = device
        tensors: tuple[torch.Tensor, ...] = (
            torch.from_numpy(np.ascontiguousarray(data.maps)),
            torch.from_numpy(data.mask.astype(np.uint8)),
            torch.from_numpy(labels.astype(np.int64)),
            *(torch.from_numpy(np.ascontiguousarray(e)) for e in extra),
        )
        self.resident = device.type == "cpu"
        if device.type == "cuda":
            need = sum(t.numel() * t.element_size() for t in tensors)
            free, _ = torch.cuda.mem_get_info(device)
            if need <= GPU_RESIDENT_SHARE * free:
                tensors = tuple(t.to(device) for t in tensors)
                self.resident = True
        self.tensors = tensors

    def get(self, indices: np.ndarray) -> tuple[torch.Tensor, ...]:
        index = torch.from_numpy(np.asarray(indices, np.int64))
        if self.resident:
            index = index.to(self.device)
            return tuple(t.index_select(0, index) for t in self.tensors)
        out = []
        for t in self.tensors:
            pinned = torch.empty((len(index), *t.shape[1:]), dtype=t.dtype, pin_memory=True)
            torch.index_select(t, 0, index, out=pinned)
            out.append(pinned.to(self.device, non_blocking=True))
        return tuple(out)

    def stream(self, batches: list[np.ndarray]) -> Iterator[tuple[torch.Tensor, ...]]:
        """Batches in order, the next one's transfer issued before this one is used."""
        if not batches:
            return
        pending = self.get(batches[0])
        for following in batches[1:]:
            current, pending = pending, self.get(following)
            yield current
        yield pending


class Trainer:
    """The model, its loss head and optimiser, and one epoch of training at a time."""

    def __init__(
        self,
        config: TrainConfig,
        train: MapsData,
        val: MapsData | None = None,
        *,
        device: str | torch.device | None = None,
    ) -> None:
        self.config, self.val = config, val
        # the held-out attribute labels, parsed once for every epoch's validation
        self.val_attributes = (
            attribute_labels(val.attributes)
            if config.multitask and val is not None and val.attributes is not None
            else None
        )
        self.device = resolve_device(device)
        self.amp_dtype = autocast_dtype(config, self.device)
        self.channels_last = uses_channels_last(config, self.device)
        torch.manual_seed(config.seed)  # the model's, then the head's initial weights
        self.class_names, self.labels = self._classes(train)
        self.model = self._build_model(train)
        self.head = self._build_head(torch.from_numpy(self.labels)).to(self.device)
        self.optimizer = self._build_optimizer()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.generator = torch.Generator().manual_seed(config.seed)
        extra = self._attribute_arrays(train) if config.multitask else ()
        self.source = BatchSource(train, self.labels, self.device, extra)
        self.n_train = len(train)
        self.epoch = 0
        self.step = 0
        self.normal_channels, self.depth_channels = self._channel_starts()
        self.augment = AugmentSettings(
            config.aug_shift, config.aug_rotate, config.aug_noise, config.aug_depth_offset
        )

    @staticmethod
    def _classes(train: MapsData) -> tuple[np.ndarray, np.ndarray]:
        """(people, one class label per sample); fewer than two people cannot be told apart."""
        names, labels = train.class_labels()
        if len(names) < 2:
            raise ConfigError("training needs at least two people")
        return names, labels

    def _build_model(self, train: MapsData) -> EmbeddingModel:
        """The embedding model on the device, its input scale fitted to ``train``."""
        model = EmbeddingModel(self.config)
        scale = fit_scale(train.maps, train.mask, self.config.modalities)
        model.input_scale.copy_(torch.from_numpy(scale))
        model.to(self.device)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return model

    def _build_head(self, labels: torch.Tensor) -> torch.nn.Module:
        """The loss: a margin classifier over the training people, or the triplet loss;
        for a multi-task run, inside :class:`~recognition.multitask.MultiTaskLoss`."""
        c = self.config
        identity: torch.nn.Module
        if c.loss == "triplet":
            identity = TripletLoss(c.triplet_margin, c.triplet_mining)
        else:
            n = len(self.class_names)
            weight = inverse_frequency(labels, n) if c.class_weighting else None
            margin = build_margin(c.loss, **c.margin_settings(c.loss))
            identity = MarginClassifier(c.embedding_dim, n, margin, weight)
        return MultiTaskLoss(identity, c) if c.multitask else identity

    @staticmethod
    def _attribute_arrays(train: MapsData) -> tuple[np.ndarray, np.ndarray]:
        """(labels (n, T) float32, known (n, T) bool) of the five attribute tasks; a
        training set with none of them known cannot teach a multi-task model."""
        labels, known = attribute_labels(
            train.attributes if train.attributes is not None else ["{}"] * len(train)
        )
        if not known.any():
            raise ConfigError(
                "--multitask needs attribute labels (spectacles, facial hair, expression, "
                "pose, gender) in the maps file; this one has none"
            )
        return labels, known

    def _build_optimizer(self) -> torch.optim.Optimizer:
        """SGD with momentum or AdamW over the model's and the head's parameters."""
        c = self.config
        params = [*self.model.parameters(), *self.head.parameters()]
        if c.optimizer == "sgd":
            return torch.optim.SGD(
                params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay
            )
        return torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)

    def _channel_starts(self) -> tuple[list[int], list[int]]:
        """First channel of each normal map and each depth map: augmentation turns the
        normals with the image and offsets the depths."""
        modalities = self.config.modalities
        starts = [(m, s.start) for m, s in zip(modalities, channel_slices(modalities), strict=True)]
        return [i for m, i in starts if m == "normal"], [i for m, i in starts if m == "depth"]

    def batches(self, epoch: int) -> list[np.ndarray]:
        c = self.config
        if c.loss == "triplet":
            return pk_batches(self.labels, c.pk[0], c.pk[1], seed=c.seed, epoch=epoch)
        return shuffled_batches(self.n_train, c.batch_size, seed=c.seed, epoch=epoch)

    @property
    def steps_per_epoch(self) -> int:
        return len(self.batches(0))

    def train_epoch(self, progress: Progress | None = None) -> dict:
        """One pass over the batches of epoch ``self.epoch``; returns the epoch's figures.

        ``progress(done, total)`` counts this epoch's batches.
        """
        c = self.config
        batches = self.batches(self.epoch)
        per_epoch = len(batches)
        total, warmup = per_epoch * c.epochs, round(c.warmup_epochs * per_epoch)
        self.model.train()
        self.head.train()
        loss_sum = torch.zeros((), device=self.device)
        start, images, lr = time.perf_counter(), 0, c.lr
        for b, batch in enumerate(self.source.stream(batches)):
            lr = lr_at(self.step, total=total, warmup=warmup, peak=c.lr)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            if isinstance(self.head, MultiTaskLoss):
                progress_done = min(1.0, self.step / max(1, total))
                coefficient = reversal_coefficient(progress_done, warmup=c.reversal_warmup)
                self.head.reverse.coefficient = coefficient
            loss = self.train_step(*batch)
            loss_sum += loss.detach()
            self.step += 1
            images += len(batch[0])
            if progress is not None:
                progress(b + 1, per_epoch)
        seconds = time.perf_counter() - start
        mean_loss = float(loss_sum) / max(1, per_epoch)
        if not math.isfinite(mean_loss):
            raise ConfigError(
                f"the loss diverged (epoch {self.epoch + 1}); lower --lr or raise warm-up"
            )
        self.epoch += 1
        return {
            "epoch": self.epoch,
            "loss": mean_loss,
            "lr": lr,
            "seconds": round(seconds, 3),
            "images_per_s": round(images / max(seconds, 1e-9), 1),
        }

    def train_step(
        self, x: torch.Tensor, mask: torch.Tensor, y: torch.Tensor, *attributes: torch.Tensor
    ) -> torch.Tensor:
        """Forward, backward and optimiser step on one batch already on the device
        (``attributes``: a multi-task run's labels and which are known)."""
        x = self.model.scale_inputs(x)
        if self.config.augment:
            x = augment_batch(
                x,
                mask,
                normal_channels=self.normal_channels,
                depth_channels=self.depth_channels,
                settings=self.augment,
                generator=self.generator,
            )
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(self.device, self.amp_dtype):
            features, logits = self.model.forward_tasks(x)
        if isinstance(self.head, MultiTaskLoss):
            targets, known = attributes
            loss, _ = self.head(features.float(), y, logits, targets, known.bool())
        else:
            loss = self.head(features.float(), y)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss

    def validate(self, *, batch_size: int = 256) -> dict:
        """Verification AUC and EER over all pairs of the held-out people."""
        if self.val is None or len(self.val) < 2:
            return {}
        embeddings, magnitude = embed_arrays(
            self.model,
            self.val.maps,
            device=self.device,
            batch_size=batch_size,
            amp_dtype=self.amp_dtype,
            channels_last=self.channels_last,
        )
        genuine, impostor = pair_scores(embeddings, self.val.subjects)
        if genuine.size == 0 or impostor.size == 0:
            return {}
        summary = verification_summary(genuine, impostor)
        figures: dict[str, float | None] = {
            "val_auc": round(float(summary["auc"]), 6),
            "val_eer": round(float(summary["eer"]), 6),
            "val_magnitude": round(float(magnitude.mean()), 3),
        }
        if self.val_attributes is not None:
            labels, known = self.val_attributes
            logits = attribute_logits(self.model, self.val.maps, device=self.device)
            for task, auc in attribute_aucs(logits, labels, known).items():
                figures[f"val_{task}_auc"] = round(auc, 6) if math.isfinite(auc) else None
        return figures

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """Everything needed to continue: tensors and JSON values."""
        opt_tensors, opt_meta = optimizer_state(self.optimizer)
        tensors = {
            **prefixed("model", self.model.state_dict()),
            **prefixed("head", self.head.state_dict()),
            **prefixed("optim", opt_tensors),
            "rng/torch": torch.get_rng_state(),
            "rng/augment": self.generator.get_state(),
        }
        if self.device.type == "cuda":
            tensors["rng/cuda"] = torch.cuda.get_rng_state(self.device)
        meta = {
            "epoch": self.epoch,
            "step": self.step,
            "optimizer": opt_meta,
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "classes": [str(n) for n in self.class_names],
        }
        return tensors, meta

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict, path: Path) -> None:
        """Continue from checkpoint ``path``; one that does not fit is one line naming it."""
        if meta.get("classes") != [str(n) for n in self.class_names]:
            raise InputError(path, "was trained on other people than split.json names")
        for part, module in (("model", self.model), ("head", self.head)):
            part_tensors = unprefixed(part, tensors)
            check_tensors(path, part_tensors, module.state_dict(), against="config.json")
            module.load_state_dict(part_tensors)
        try:
            optim = {k: v.to(self.device) for k, v in unprefixed("optim", tensors).items()}
            load_optimizer_state(self.optimizer, optim, meta["optimizer"])
            if meta.get("scaler") and self.scaler.is_enabled():
                self.scaler.load_state_dict(meta["scaler"])
            torch.set_rng_state(tensors["rng/torch"])
            self.generator.set_state(tensors["rng/augment"])
            if "rng/cuda" in tensors and self.device.type == "cuda":
                torch.cuda.set_rng_state(tensors["rng/cuda"], self.device)
            epoch, step = int(meta["epoch"]), int(meta["step"])
        except (AttributeError, KeyError, TypeError, ValueError, RuntimeError) as error:
            raise InputError(
                path, f"optimiser or random state cannot be restored ({one_line(error)})"
            ) from None
        if not (0 <= epoch <= self.config.epochs and step >= 0):
            raise InputError(path, f"epoch {epoch} / step {step} do not fit this run")
        self.epoch, self.step = epoch, step


def _prepare_run(
    run: Path,
    config: TrainConfig | None,
    *,
    resume: bool,
    overwrite: bool,
    inputs: list[Path],
) -> TrainConfig:
    """The run's config; a new run's folder made ready without losing anyone's files.

    An earlier run is replaced only under ``overwrite`` (see :func:`_clear_run`); a
    folder holding other files is refused unless ``overwrite``, and then only the run's
    file names in it are written.
    """
    if resume:
        if not (run / CHECKPOINT_FILE).is_file():
            raise InputError(run, "no checkpoint.safetensors to resume from")
        return load_config(run / CONFIG_FILE)
    if config is None:
        raise ConfigError("a new run needs a config")
    if not overwrite and any((run / name).exists() for name in (CHECKPOINT_FILE, MODEL_FILE)):
        raise InputError(
            run,
            "already holds a run; continue it with --resume, choose another folder, "
            "or pass --overwrite to train a new run in its place",
        )
    prepare_output_folder(run, overwrite=overwrite, inputs=inputs)
    return config


def _clear_run(run: Path) -> None:
    """Delete an earlier run's files, once the new run's data has loaded, so a stale
    checkpoint never meets the new config and a bad input does not cost the old run."""
    for name in RUN_FILES:
        (run / name).unlink(missing_ok=True)


def _split(
    run: Path, data: MapsData, config: TrainConfig, resume: bool, split_file: str | Path | None
) -> tuple[list[str], list[str]]:
    if resume:
        return read_split(run / SPLIT_FILE, data.subjects)
    if split_file is not None:
        train, val = read_split(split_file, data.subjects)
    else:
        train, val = identity_split(data.subjects, config.val_fraction, seed=config.seed)
    text = json.dumps({"train": train, "val": val}, indent=1) + "\n"
    write_atomically(run / SPLIT_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return train, val


def _append_log(path: Path, row: dict) -> None:
    with disk_errors(path):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, sort_keys=True) + "\n")


def _write_log(path: Path, rows: list[dict]) -> None:
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _log_rows(path: Path) -> list[dict]:
    """The rows of log.jsonl, each checked to be an object with a whole epoch number."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError) as error:
        raise InputError(path, f"unreadable log ({error})") from None
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not isinstance(row, dict) or type(row.get("epoch")) is not int:
            raise InputError(path, f"line {number} is not a log row with a whole epoch number")
        rows.append(row)
    return rows


def _trim_log(path: Path, last_epoch: int) -> None:
    """Drop log lines past the checkpoint (an interrupted epoch's), keep the rest."""
    if path.is_file():
        _write_log(path, [r for r in _log_rows(path) if r["epoch"] <= last_epoch])


def _load_data(maps_path: str | Path, config: TrainConfig) -> MapsData:
    """The maps of the config's modality, refused when their size is not the model's."""
    data = load_maps(maps_path, config.modality)
    size = data.maps.shape[-1]
    if size != config.size:
        raise ConfigError(
            f"{maps_path} holds {size} px maps but the model takes {config.size} px; "
            f"train with --size {size} or preprocess with --size {config.size}"
        )
    return data


def _offset(progress: Progress | None, before: int, total: int) -> Progress | None:
    """An epoch's ``(done, per_epoch)`` as the whole call's ``(before + done, total)``."""
    if progress is None:
        return None
    return lambda done, _: progress(before + done, total)


def initialise_from(model: EmbeddingModel, run: Path) -> None:
    """Load a trained run's embedding model into ``model``, for fine-tuning.

    The two must agree on everything that shapes the weights (modality, backbone,
    width, size, embedding size, fusion), or the run is refused naming its file. The
    input scale stays the one fitted to the new maps, so their statistics are normalised
    as the pretrained weights expect; the margin head starts afresh, since the new run's
    people are others.
    """
    weights = run / MODEL_FILE
    if not weights.is_file():
        raise InputError(run, f"no {MODEL_FILE} to start from; --init names a trained run")
    tensors, _ = load_tensors(weights)
    state = model.state_dict()
    check_tensors(weights, tensors, state, against="this run's modality and model settings")
    tensors["input_scale"] = state["input_scale"]
    model.load_state_dict(tensors)


def train_run(
    maps_path: str | Path,
    run_dir: str | Path,
    config: TrainConfig | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    split_file: str | Path | None = None,
    device: str | None = None,
    callback: Callback | None = None,
    progress: Progress | None = None,
    stop_after: int | None = None,
    init: str | Path | None = None,
) -> list[dict]:
    """Train (or continue) the run in ``run_dir`` on ``maps_path``; return the log rows.

    ``overwrite`` lets a new run replace an earlier one, or share a folder with other
    files. ``stop_after`` ends this call after that many epochs (the run stays
    resumable), which is how an interrupted run is simulated. ``progress(done, total)``
    counts the batches this call trains; ``callback`` gets ``("start", info)`` once and
    ``("epoch", log row)`` after each epoch (epoch 0 included). ``init`` names a trained
    run whose embedding model a new run starts from (:func:`initialise_from`).
    """
    run = Path(run_dir)
    inputs = [Path(maps_path)] + ([Path(split_file)] if split_file is not None else [])
    config = _prepare_run(run, config, resume=resume, overwrite=overwrite, inputs=inputs)
    data = _load_data(maps_path, config)
    if not resume:
        _clear_run(run)
    train_people, val_people = _split(run, data, config, resume, split_file)
    train_idx, val_idx = split_indices(data.subjects, train_people, val_people)
    trainer = Trainer(config, data.subset(train_idx), data.subset(val_idx), device=device)
    if init is not None and not resume:
        initialise_from(trainer.model, Path(init))
    log = run / LOG_FILE
    if resume:
        tensors, meta = load_tensors(run / CHECKPOINT_FILE)
        trainer.load_state(tensors, meta, run / CHECKPOINT_FILE)
        _trim_log(log, trainer.epoch)
    else:
        save_config(config, run / CONFIG_FILE)
        _write_log(log, [])
    if callback is not None:
        callback(
            "start",
            {
                "epochs": config.epochs,
                "start_epoch": trainer.epoch,
                "steps_per_epoch": trainer.steps_per_epoch,
                "train_samples": len(train_idx),
                "train_people": len(train_people),
                "val_samples": len(val_idx),
                "val_people": len(val_people),
                "device": str(trainer.device),
            },
        )
    rows = []
    if not resume:
        row = {"epoch": 0, **trainer.validate()}
        _append_log(log, row)
        rows.append(row)
        if callback is not None:
            callback("epoch", row)
    epochs = config.epochs - trainer.epoch
    epochs = epochs if stop_after is None else max(0, min(epochs, stop_after))
    per_epoch = trainer.steps_per_epoch
    for done in range(epochs):
        row = trainer.train_epoch(_offset(progress, done * per_epoch, epochs * per_epoch))
        row.update(trainer.validate())
        save_model(run, trainer.model, config)
        tensors, meta = trainer.state()
        save_tensors(run / CHECKPOINT_FILE, tensors, meta)
        _append_log(log, row)
        rows.append(row)
        if callback is not None:
            callback("epoch", row)
    return rows
