"""The training loop: it learns, it is deterministic, and a resumed run ends identical."""

from __future__ import annotations

import itertools
import json

import pytest
import torch

from psbase.errors import ConfigError, InputError
from recognition.checkpoint import load_tensors
from recognition.train import lr_at, train_run
from tests.recognition.conftest import tiny_config


def _weights(run) -> dict[str, torch.Tensor]:
    return load_tensors(run / "model.safetensors")[0]


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_warmup_then_cosine():
    rates = [lr_at(s, total=100, warmup=10, peak=0.1) for s in range(100)]
    assert rates[0] == pytest.approx(0.01) and rates[9] == pytest.approx(0.1)
    assert all(b <= a for a, b in itertools.pairwise(rates[10:]))
    assert rates[55] == pytest.approx(0.05, rel=0.05) and rates[-1] < 1e-3


def test_the_loop_learns_identities_it_never_saw(maps_path, tmp_path):
    config = tiny_config(epochs=10, optimizer="adamw", lr=2e-3, weight_decay=0.05)
    rows = train_run(maps_path, tmp_path / "run", config, device="cpu")
    untrained, trained = rows[0]["val_auc"], rows[-1]["val_auc"]
    print(f"held-out verification AUC: untrained {untrained:.3f}, trained {trained:.3f}")
    assert rows[-1]["loss"] < rows[1]["loss"]
    assert trained > 0.88 and trained > untrained + 0.06
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    assert not set(split["train"]) & set(split["val"])
    log = [json.loads(line) for line in (tmp_path / "run/log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == list(range(11))
    assert all({"loss", "val_auc", "val_eer"} <= r.keys() for r in log[1:])


def test_progress_counts_the_batches_and_the_callback_each_epoch(maps_path, tmp_path):
    reports, kinds = [], []
    train_run(
        maps_path,
        tmp_path / "run",
        tiny_config(epochs=3),
        device="cpu",
        stop_after=2,
        progress=lambda done, total: reports.append((done, total)),
        callback=lambda kind, info: kinds.append((kind, info.get("epoch"))),
    )
    total = reports[-1][1]
    assert total % 2 == 0 and [done for done, _ in reports] == list(range(1, total + 1))
    assert {t for _, t in reports} == {total}
    assert kinds == [("start", None), ("epoch", 0), ("epoch", 1), ("epoch", 2)]


def test_training_is_deterministic_for_a_seed(maps_path, tmp_path):
    config = tiny_config(epochs=1, modality="normal+depth")
    train_run(maps_path, tmp_path / "a", config, device="cpu")
    train_run(maps_path, tmp_path / "b", config, device="cpu")
    assert _same(_weights(tmp_path / "a"), _weights(tmp_path / "b"))
    train_run(maps_path, tmp_path / "c", config.replace(seed=1), device="cpu")
    assert not _same(_weights(tmp_path / "a"), _weights(tmp_path / "c"))


@pytest.mark.parametrize("loss", ["magface", "triplet"])
def test_resumed_run_ends_with_the_same_weights(maps_path, tmp_path, loss):
    config = tiny_config(epochs=2, loss=loss, pk=(4, 3), dropout=0.2)
    whole = train_run(maps_path, tmp_path / "whole", config, device="cpu")
    train_run(maps_path, tmp_path / "split", config, device="cpu", stop_after=1)
    resumed = train_run(maps_path, tmp_path / "split", resume=True, device="cpu")
    assert [r["epoch"] for r in resumed] == [2]
    assert resumed[0]["loss"] == whole[-1]["loss"]
    assert _same(_weights(tmp_path / "whole"), _weights(tmp_path / "split"))
    state_a = load_tensors(tmp_path / "whole/checkpoint.safetensors")[0]
    state_b = load_tensors(tmp_path / "split/checkpoint.safetensors")[0]
    assert _same(state_a, state_b)  # optimiser and RNG state too
    log = (tmp_path / "split/log.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in log] == [0, 1, 2]


def test_a_used_run_folder_is_not_overwritten(maps_path, tmp_path):
    train_run(maps_path, tmp_path / "run", tiny_config(epochs=1), device="cpu")
    with pytest.raises(InputError, match="already holds a run"):
        train_run(maps_path, tmp_path / "run", tiny_config(epochs=1), device="cpu")
    with pytest.raises(InputError, match="no checkpoint"):
        train_run(maps_path, tmp_path / "empty", resume=True, device="cpu")


def test_maps_of_another_size_are_a_config_error(maps_path, tmp_path):
    with pytest.raises(ConfigError, match="--size 32"):
        train_run(maps_path, tmp_path / "run", tiny_config(size=64), device="cpu")


def test_init_starts_a_new_run_from_a_trained_runs_embedding_model(maps_path, tmp_path):
    """--init: the untrained log row (epoch 0) of the fine-tuned run already scores as
    the pretrained model does, far above a fresh start; only the input scale (refitted)
    and the margin head (new people) are its own."""
    pretrained = tmp_path / "pretrained"
    config = tiny_config(epochs=10, optimizer="adamw", lr=2e-3, weight_decay=0.05)
    rows = train_run(maps_path, pretrained, config, device="cpu")
    fresh = train_run(maps_path, tmp_path / "fresh", tiny_config(epochs=1), device="cpu")
    tuned = train_run(
        maps_path, tmp_path / "tuned", tiny_config(epochs=1), device="cpu", init=pretrained
    )
    assert tuned[0]["val_auc"] == pytest.approx(rows[-1]["val_auc"], abs=1e-6)
    assert tuned[0]["val_auc"] > fresh[0]["val_auc"] + 0.05


def test_init_from_a_run_of_other_settings_is_refused_naming_its_weights(maps_path, tmp_path):
    pretrained = tmp_path / "pretrained"
    train_run(maps_path, pretrained, tiny_config(epochs=1), device="cpu")
    with pytest.raises(InputError, match=r"pretrained/model\.safetensors"):
        train_run(
            maps_path, tmp_path / "wide", tiny_config(width=0.5), device="cpu", init=pretrained
        )
    with pytest.raises(InputError, match="--init names a trained run"):
        train_run(maps_path, tmp_path / "x", tiny_config(), device="cpu", init=tmp_path / "none")
