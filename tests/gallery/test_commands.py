"""The matching stages end to end with a real (tiny, one-epoch) trained model."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from gallery.store import read_gallery
from psface.cli import main
from tests.recognition.ground_truth_maps import write_ground_truth_maps

PEOPLE, SESSIONS, SIZE = 12, 4, 32


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("matching")
    maps = root / "maps.h5"
    write_ground_truth_maps(maps, subjects=PEOPLE, sessions=SESSIONS, size=SIZE, seed=3)
    run = root / "run"
    args = ["train", str(maps), "--modality", "normal", "--out", str(run), "--epochs", "1"]
    args += ["--width", "0.125", "--batch-size", "16", "--device", "cpu"]
    assert main(args) == 0
    return root, maps, run


def test_enroll_list_show_remove(setup, tmp_path, capsys):
    _, maps, run = setup
    g = tmp_path / "g.h5"
    common = ["--model", str(run), "--gallery", str(g), "--device", "cpu"]
    assert main(["enroll", str(maps), *common, "--earliest", "1"]) == 0
    assert f"{PEOPLE} people, {PEOPLE} templates" in capsys.readouterr().out
    gallery = read_gallery(g)
    assert gallery.identities.size == PEOPLE and gallery.modality == "normal"
    np.testing.assert_allclose(np.linalg.norm(gallery.templates, axis=1), 1, rtol=1e-5)
    assert main(["gallery", "show", str(g)]) == 0
    assert "fingerprint" in capsys.readouterr().out
    assert main(["gallery", "list", str(g)]) == 0
    victim = str(gallery.identities[0])
    assert victim in capsys.readouterr().out
    assert main(["gallery", "remove", str(g), victim]) == 0
    assert victim not in read_gallery(g).identities
    assert main(["gallery", "remove", str(g), "nobody"]) == 1
    assert "no enrolled identity nobody" in capsys.readouterr().err


def test_identify_ranks_and_open_set(setup, tmp_path, capsys):
    _, maps, run = setup
    g = tmp_path / "g.h5"
    common = ["--model", str(run), "--gallery", str(g), "--device", "cpu"]
    assert main(["enroll", str(maps), *common, "--earliest", "1"]) == 0
    capsys.readouterr()
    assert main(["identify", str(maps), *common, "-k", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["probes"]) == PEOPLE * SESSIONS
    for probe in out["probes"]:
        scores = [c["score"] for c in probe["candidates"]]
        assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    # Each enrolled session finds itself first, with score 1.
    first = [p for p in out["probes"] if p["candidates"][0]["score"] > 0.9999]
    assert len(first) >= PEOPLE
    assert main(["identify", str(maps), *common, "--threshold", "1.01", "--json"]) == 0
    assert all(p["answer"] == "unknown" for p in json.loads(capsys.readouterr().out)["probes"])
    assert main(["identify", str(maps), *common, "--per-session", "--search", "faiss"]) == 0
    assert "candidates" in capsys.readouterr().out


def test_model_mismatch_is_refused_by_the_stages(setup, tmp_path, capsys):
    _, maps, run = setup
    other = tmp_path / "other"
    shutil.copytree(run, other)
    config = json.loads((other / "config.json").read_text())
    config["seed"] = int(config.get("seed", 0)) + 1  # same weights, other config: other model
    (other / "config.json").write_text(json.dumps(config))
    g = tmp_path / "g.h5"
    assert main(["enroll", str(maps), "--model", str(run), "--gallery", str(g)]) == 0
    capsys.readouterr()
    for stage in ("identify", "enroll"):
        assert main([stage, str(maps), "--model", str(other), "--gallery", str(g)]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "enrolled with model" in err and "other" in err


def test_verify_with_threshold_and_far(setup, capsys):
    _, maps, run = setup
    base = ["--model", str(run), "--maps", str(maps), "--device", "cpu", "--json"]
    assert main(["verify", "s0001/v00", f"{maps}:0", *base, "--threshold", "0.5"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["score"] == pytest.approx(1.0, abs=1e-5) and same["decision"] == "same"
    args = ["verify", "s0001/v00", "s0002/v01", *base, "--far", "1e-2"]
    assert main([*args, "--calibration", str(maps)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["far"] == 0.01 and out["decision"] in ("same", "different")
    assert main(["verify", "nobody/v0", "s0001/v00", *base]) == 1
    assert "no session nobody/v0" in capsys.readouterr().err


def test_evaluate_writes_the_report(setup, tmp_path, capsys):
    _, maps, run = setup
    out = tmp_path / "report"
    args = ["evaluate", str(maps), "--model", str(run), "--model", str(run), "-o", str(out)]
    assert main([*args, "--bootstrap", "20", "--device", "cpu"]) == 0
    report = json.loads((out / "report.json").read_text())
    v, i = report["verification"], report["identification"]
    assert 0 <= v["auc"] <= 1 and 0 <= v["eer"] <= 1
    assert {"1e-2", "1e-3"} <= set(v["tar_at_far"])
    assert {"rank1", "rank5", "map"} <= set(i)
    assert len(report["models"]) == 2
    trained = set(json.loads((run / "split.json").read_text())["train"])
    assert report["models"][0]["n_identities"] == PEOPLE - len(trained)
    for name in ("report.md", "roc.png", "cmc.png", "scores.png"):
        assert (out / name).stat().st_size > 0
    assert "| model |" in (out / "report.md").read_text()
