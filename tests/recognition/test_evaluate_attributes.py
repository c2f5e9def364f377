"""``psface evaluate``'s attribute figures end to end: a tiny multi-task run and a
single-task run on maps with strongly marked attributes, evaluated side by side."""

from __future__ import annotations

import json

import numpy as np
import pytest

from photostereo.maps_file import MapsFile
from psface.cli import main
from recognition.attributes import CHANGE_TASKS, TASKS
from recognition.embed import load_embedder
from recognition.train import train_run
from tests.recognition.test_multitask import tiny, write_marked_maps


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("attributes")
    maps = root / "maps.h5"
    write_marked_maps(maps)
    # the study's task weights, which learn the marks in 16 epochs (test_multitask.py)
    heads = tiny(task_weights=(10.0, 10.0, 10.0, 30.0, 30.0))
    train_run(maps, root / "multi", heads, device="cpu")
    train_run(maps, root / "single", tiny(multitask=False, epochs=2), device="cpu")
    return root, maps


@pytest.mark.slow
def test_evaluate_reports_heads_leakage_and_identification_by_attribute_change(
    runs, tmp_path, capsys
):
    root, maps = runs
    out = tmp_path / "report"
    args = ["evaluate", str(maps), "--model", str(root / "multi"), "--model", str(root / "single")]
    assert main([*args, "-o", str(out), "--bootstrap", "0", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("leakage AUC spectacles") == 2
    assert "rank-1 of probes with attributes changed" in printed
    report = json.loads((out / "report.json").read_text())
    assert {"verification", "identification", "models", "protocol"} <= set(report)
    assert report["protocol"]["attributes"]["tasks"] == list(TASKS)
    multi, single = report["models"]
    print(json.dumps({m["name"]: m["attributes"] for m in (multi, single)}, indent=1))

    # the heads detect what is marked, on people the run never saw
    heads = multi["attributes"]
    assert list(heads) == list(TASKS)
    measured = {task: f for task, f in heads.items() if f["auc"] is not None}
    assert set(TASKS) - {"gender"} <= set(measured)  # gender is a person's: may be one class
    for task, figures in measured.items():
        assert figures["auc"] > 0.8, (task, figures)
        assert figures["balanced_accuracy"] > 0.6, (task, figures)
    # the last person's expression is missing: counted out, whoever is held out
    n = multi["n_samples"]
    assert heads["spectacles"]["positives"] + heads["spectacles"]["negatives"] == n
    assert heads["expression"]["positives"] + heads["expression"]["negatives"] <= n

    # a single-task run has no heads, but its leakage is measured all the same
    assert all(
        set(f) == {"leakage_auc", "positives", "negatives"} for f in single["attributes"].values()
    )
    for entry in (multi, single):
        for task, figures in entry["attributes"].items():
            leak = figures["leakage_auc"]
            assert leak is None or 0.0 <= leak <= 1.0, (task, leak)
        assert sum(f["leakage_auc"] is not None for f in entry["attributes"].values()) >= 3

        # every probe is in one group: per-session attributes change for most of them
        change, ident = entry["attribute_change"], entry["identification"]
        changed, unchanged = change["changed"], change["unchanged"]
        assert changed["probes"] + unchanged["probes"] == ident["n_probes"]
        assert changed["probes"] > unchanged["probes"] > 0
        assert list(change["by_task"]) == list(CHANGE_TASKS)
        for group in (changed, unchanged, *change["by_task"].values()):
            assert group["probes"] == 0 or 0.0 <= group["rank1"] <= 1.0
            assert group["probes"] == 0 or 0.0 <= group["auc"] <= 1.0
        assert max(g["probes"] for g in change["by_task"].values()) <= changed["probes"]

    text = (out / "report.md").read_text()
    assert "## Attributes" in text and "## Identification by attribute change" in text
    assert "| multi | spectacles |" in text and "| single | unchanged |" in text


@pytest.mark.slow
def test_the_embedder_gives_head_logits_for_multitask_runs_only(runs):
    root, maps = runs
    rows = np.array([7, 0, 3])
    with MapsFile(maps) as handle:
        multi = load_embedder(root / "multi", device="cpu")
        logits = multi.attribute_logits_file(handle, rows, batch_size=2)
        assert logits is not None and logits.shape == (3, len(TASKS))
        one_by_one = [multi.attribute_logits_file(handle, rows[[k]]) for k in range(3)]
        np.testing.assert_allclose(logits, np.concatenate(one_by_one), rtol=1e-4, atol=1e-4)
        empty = multi.attribute_logits_file(handle, np.array([], np.int64))
        assert empty is not None and empty.shape == (0, len(TASKS))
        assert load_embedder(root / "single", device="cpu").attribute_logits_file(handle) is None
