"""Identity-disjoint splits, P×K batches, the config's key checking, the checkpoint format."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from psbase.errors import ConfigError, InputError
from recognition.checkpoint import (
    load_optimizer_state,
    load_tensors,
    optimizer_state,
    save_tensors,
)
from recognition.config import TrainConfig, load_config, save_config
from recognition.data import identity_split, read_split, split_indices
from recognition.sampler import pk_batches, shuffled_batches

SUBJECTS = np.repeat([f"s{i:03d}" for i in range(20)], 4)


def test_identity_split_is_disjoint_complete_and_seeded():
    train, val = identity_split(SUBJECTS, 0.3, seed=1)
    assert not set(train) & set(val)
    assert set(train) | set(val) == set(SUBJECTS)
    assert len(val) == 6
    assert identity_split(SUBJECTS, 0.3, seed=1) == (train, val)
    assert identity_split(SUBJECTS, 0.3, seed=2) != (train, val)
    train_idx, val_idx = split_indices(SUBJECTS, train, val)
    assert not set(SUBJECTS[train_idx]) & set(SUBJECTS[val_idx])
    assert len(train_idx) + len(val_idx) == len(SUBJECTS)


def test_split_file_with_a_person_on_both_sides_is_refused(tmp_path):
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"train": ["s000", "s001"], "val": ["s001"]}))
    with pytest.raises(InputError, match="both train and val: s001"):
        read_split(path, SUBJECTS)
    path.write_text(json.dumps({"train": ["s000", "s001"], "val": ["nobody"]}))
    with pytest.raises(InputError, match="not in the maps file: nobody"):
        read_split(path, SUBJECTS)


def test_pk_batches_hold_p_people_with_k_samples_each():
    labels = np.repeat(np.arange(10), [1, 2, 3, 5, 5, 5, 6, 8, 9, 12])
    batches = pk_batches(labels, 3, 4, seed=0, epoch=0)
    assert len(batches) == 3  # nine usable people (one has a single sample), three per batch
    seen = set()
    for batch in batches:
        people = labels[batch].reshape(3, 4)
        assert np.all(people == people[:, :1])  # K samples of one person per group
        assert len(set(people[:, 0])) == 3
        seen |= set(people[:, 0])
    assert 0 not in seen and len(seen) == 9
    again = pk_batches(labels, 3, 4, seed=0, epoch=0)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    other = pk_batches(labels, 3, 4, seed=0, epoch=1)
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other, strict=True))


def test_pk_batches_with_too_few_people_are_a_config_error():
    labels = np.repeat(np.arange(4), 3)
    with pytest.raises(ConfigError, match=r"needs 8 people .* got 4; lower P"):
        pk_batches(labels, 8, 4, seed=0, epoch=0)


def test_shuffled_batches_drop_the_remainder_and_depend_on_the_epoch():
    batches = shuffled_batches(50, 16, seed=0, epoch=0)
    assert [len(b) for b in batches] == [16, 16, 16]
    assert len(set(np.concatenate(batches))) == 48
    assert not np.array_equal(batches[0], shuffled_batches(50, 16, seed=0, epoch=1)[0])


def test_config_round_trips_and_rejects_unknown_keys(tmp_path):
    config = TrainConfig(modality="normal+albedo", size=64, pk=(8, 4))
    save_config(config, tmp_path / "config.json")
    assert load_config(tmp_path / "config.json") == config
    data = config.to_dict() | {"learning_rate": 0.1}
    with pytest.raises(ConfigError, match="unknown config keys: learning_rate"):
        TrainConfig.from_dict(data)
    (tmp_path / "config.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="learning_rate"):
        load_config(tmp_path / "config.json")


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"modality": "normal+thermal"}, "modality"),
        ({"backbone": "vit"}, "backbone must be one of"),
        ({"size": 60}, "multiple of 16"),
        ({"loss": "softmax"}, "loss must be one of"),
        ({"val_fraction": 1.0}, "val_fraction"),
    ],
)
def test_bad_config_values_raise_config_errors(changes, words):
    with pytest.raises(ConfigError, match=words):
        TrainConfig(**changes)


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
def test_optimizer_state_round_trips_through_safetensors(tmp_path, kind):
    def make() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 3)
        if kind == "sgd":
            return model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        return model, torch.optim.AdamW(model.parameters(), lr=0.01)

    def step(model, optimiser) -> None:
        optimiser.zero_grad()
        model(torch.ones(2, 4)).pow(2).sum().backward()
        optimiser.step()

    model, optimiser = make()
    for _ in range(3):
        step(model, optimiser)
    tensors, meta = optimizer_state(optimiser)
    save_tensors(tmp_path / "s.safetensors", {**model.state_dict(), **tensors}, meta)
    step(model, optimiser)

    loaded, meta2 = load_tensors(tmp_path / "s.safetensors")
    model2, optimiser2 = make()
    model2.load_state_dict({k: loaded[k] for k in ("weight", "bias")})
    load_optimizer_state(
        optimiser2, {k: v for k, v in loaded.items() if "/" in k}, json.loads(json.dumps(meta2))
    )
    step(model2, optimiser2)
    torch.testing.assert_close(model2.weight, model.weight, rtol=0, atol=0)


def test_corrupt_weights_are_an_input_error(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"\x00not safetensors at all")
    with pytest.raises(InputError, match=r"model\.safetensors: not a readable safetensors"):
        load_tensors(path)
