"""Training data: maps read into memory, and the identity-disjoint split.

A 64 px set of a few thousand sessions is a few hundred MB as float32, so the maps are
read once and batches are gathered from memory (on the GPU itself when they fit there).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from photostereo.maps_file import MapsFile
from psbase.errors import ConfigError, InputError


@dataclass
class MapsData:
    """Maps (n, C, S, S) float32 stacked for one modality, masks (n, 1, S, S) bool,
    subject and session labels (n,) str, and each session's attributes as JSON text
    (n,) (``None``: not read)."""

    maps: np.ndarray
    mask: np.ndarray
    subjects: np.ndarray
    sessions: np.ndarray
    attributes: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.maps)

    def subset(self, indices: np.ndarray) -> MapsData:
        attributes = None if self.attributes is None else self.attributes[indices]
        return MapsData(
            self.maps[indices],
            self.mask[indices],
            self.subjects[indices],
            self.sessions[indices],
            attributes,
        )

    def class_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """(names (K,), labels (n,) int64): subjects as class indices in sorted order."""
        names, labels = np.unique(self.subjects, return_inverse=True)
        return names, labels.astype(np.int64)


def load_maps(path: str | Path, modality: str) -> MapsData:
    """Every bona fide sample of ``modality`` in a maps file, with masks and labels
    (sessions labelled as presentation attacks are left out: an attack is not a session
    of the person it claims to be)."""
    with MapsFile(path) as maps_file:
        rows = np.flatnonzero(np.asarray(maps_file.attacks(), dtype=str) == "")
        if rows.size == 0:
            raise InputError(path, "the maps file holds no samples of live faces")
        chosen = slice(None) if rows.size == len(maps_file) else rows  # a slice reads faster
        maps = maps_file.read(modality, chosen)
        mask = maps_file.mask(chosen)
        subjects, sessions = (labels[rows] for labels in maps_file.labels())
        attributes = maps_file.attributes()[rows]
    maps = np.nan_to_num(maps, nan=0.0, posinf=0.0, neginf=0.0)
    return MapsData(maps, mask, subjects, sessions, attributes)


def identity_split(
    subjects: np.ndarray, val_fraction: float, *, seed: int
) -> tuple[list[str], list[str]]:
    """(train subjects, validation subjects): disjoint, drawn by ``seed``, sorted.

    At least one person is held out and at least two are kept for training.
    """
    people = np.unique(subjects)
    if len(people) < 3:
        raise ConfigError(f"need at least 3 people to split by identity, got {len(people)}")
    n_val = int(np.clip(round(val_fraction * len(people)), 1, len(people) - 2))
    order = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7,))).permutation(people)
    return sorted(map(str, order[n_val:])), sorted(map(str, order[:n_val]))


def read_split(path: str | Path, subjects: np.ndarray) -> tuple[list[str], list[str]]:
    """A split file: JSON ``{"train": [subjects], "val": [subjects]}``, checked."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        train, val = [str(s) for s in data["train"]], [str(s) for s in data["val"]]
    except FileNotFoundError:
        raise InputError(path, "no such split file") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(
            path, f'not a split file {{"train": [...], "val": [...]}} ({error})'
        ) from None
    overlap = sorted(set(train) & set(val))
    if overlap:
        raise InputError(path, f"people in both train and val: {', '.join(overlap[:5])}")
    missing = sorted((set(train) | set(val)) - set(map(str, subjects)))
    if missing:
        raise InputError(path, f"people not in the maps file: {', '.join(missing[:5])}")
    if len(set(train)) < 2 or not val:
        raise InputError(path, "need at least two training people and one validation person")
    return sorted(set(train)), sorted(set(val))


def split_indices(
    subjects: np.ndarray, train: list[str], val: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the training and validation people."""
    return np.flatnonzero(np.isin(subjects, train)), np.flatnonzero(np.isin(subjects, val))
