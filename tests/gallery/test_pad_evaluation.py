"""``psface evaluate`` on maps files holding presentation attacks: recognition on the
bona fide rows only, and the PAD figures, against hand-computed values.

The model is a stand-in that reads each row's embedding off its albedo map, so the
figures are known exactly and nothing is trained.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest

import psface.commands.evaluate as evaluate_command
from gallery.runs import evaluate_runs
from photostereo.maps_file import MapsFile, append_samples, create_datasets
from psface.cli import main

SIZE, DIM = 8, 32
PEOPLE, SESSIONS = 26, 4  # 104 bona fide rows; the last person's liveness is not measured
#: (claimed person, attack type, liveness score in 128ths, person whose face it shows)
ATTACK_ROWS = [
    (0, "print", 0.5, 5),
    (0, "print", 2, 6),  # ties the second-lowest bona fide score
    (1, "print", 100, 7),  # ties the highest
    (1, "screen", 1, 8),
    (2, "screen", 50, 9),
    (3, "mask", None, 10),  # not measured
]


def sample(person: int, session: str, face: int, attack: str, liveness: float | None) -> dict:
    albedo = np.zeros((1, SIZE, SIZE), np.float32)
    albedo.reshape(-1)[face] = 1.0  # the embedding: one-hot of the face shown
    return {
        "normal": np.zeros((3, SIZE, SIZE), np.float32),
        "albedo": albedo,
        "depth": np.zeros((1, SIZE, SIZE), np.float32),
        "image": albedo,
        "mask": np.ones((1, SIZE, SIZE), np.uint8),
        "subject": f"p{person:02d}",
        "session": session,
        "attack": attack,
        "liveness": np.float32(np.nan if liveness is None else liveness / 128),
    }


def write_maps(path: Path, *, attacks: bool, liveness: bool = True, calibration=None) -> Path:
    """Bona fide rows (liveness 1/128 ... 100/128, then unmeasured), and the attack rows,
    which show another person's face: counted as genuine, they would be impostors."""
    rows = []
    for p in range(PEOPLE):
        for s in range(SESSIONS):
            k = p * SESSIONS + s
            score = k + 1 if k < 100 and liveness else None
            rows.append(sample(p, f"v{s}", p, "", score))
    if attacks:
        for n, (claimed, kind, score, face) in enumerate(ATTACK_ROWS):
            rows.append(sample(claimed, f"a{n}", face, kind, score if liveness else None))
    with h5py.File(path, "w") as handle:
        create_datasets(handle, SIZE)
        append_samples(handle, rows)
        if calibration is not None:
            handle.attrs["liveness_calibration"] = json.dumps(calibration)
    return path


@dataclass
class Config:
    embedding_dim: int = DIM


class AlbedoModel:
    """A model whose embedding of a row is its albedo map, flattened (one-hot)."""

    fingerprint = "albedo-one-hot"
    modality = "albedo"
    config = Config()

    trained_people = None  # the run folder's split.json says

    def embed_file(self, maps_file, indices=None, *, batch_size=256):
        indices = np.arange(len(maps_file)) if indices is None else np.asarray(indices)
        albedo = maps_file.handle["albedo"][:, 0].reshape(len(maps_file), -1)[indices, :DIM]
        return albedo.astype(np.float32), np.ones(indices.size, np.float32)

    def attribute_logits_file(self, maps_file, indices=None, *, batch_size=256):
        return None


def run(maps: Path, out: Path, **kwargs) -> dict:
    result = evaluate_runs(
        maps,
        [out.parent / "run"],
        out,
        open_maps=MapsFile,
        load_model=lambda _: AlbedoModel(),
        bootstrap=0,
        **kwargs,
    )
    return result.report | {"pad_curves": result.pad_curves}


def test_recognition_ignores_attack_rows(tmp_path):
    plain = run(write_maps(tmp_path / "plain.h5", attacks=False), tmp_path / "plain")
    attacked = run(write_maps(tmp_path / "attacked.h5", attacks=True), tmp_path / "attacked")
    # The attacks show other people's faces: counted as genuine, the AUC would fall below 1.
    assert attacked["verification"]["auc"] == 1.0
    for key in ("verification", "identification"):
        assert attacked[key] == plain[key]
    assert attacked["models"][0]["n_samples"] == PEOPLE * SESSIONS
    assert attacked["verification"]["n_genuine"] == PEOPLE * SESSIONS * (SESSIONS - 1) // 2
    assert attacked["protocol"]["presentation_attacks"]["attack_rows"] == len(ATTACK_ROWS)
    # Without attack rows nothing changes: no PAD figures, no protocol entry.
    assert "presentation_attack" not in plain and plain["pad_curves"] is None
    assert "presentation_attacks" not in plain["protocol"]


def expected_apcer_at_bpcer() -> dict:
    # BPCER 1e-2 of 100 bona fide scores 1/128 ... 100/128: one may be rejected, so the
    # threshold is 2/128; print 2/128 (tie) and 100/128 pass, screen 50/128 passes.
    return {
        "1e-2": {"print": 2 / 3, "screen": 1 / 2, "max": 2 / 3},
        "1e-3": None,  # needs 1000 bona fide presentations
    }


def test_pad_figures_from_the_files_own_bona_fide_scores(tmp_path):
    report = run(write_maps(tmp_path / "m.h5", attacks=True), tmp_path / "r")
    pad = report["presentation_attack"]
    assert pad["threshold"] == 2 / 128 and pad["threshold_source"] == "bona fide scores"
    assert pad["bpcer_target"] == 0.01
    assert pad["bpcer"] == pytest.approx(0.01)
    assert pad["apcer"] == pytest.approx({"print": 2 / 3, "screen": 1 / 2})
    assert pad["apcer_max"] == pytest.approx(2 / 3)
    assert pad["apcer_at_bpcer"]["1e-2"] == pytest.approx(expected_apcer_at_bpcer()["1e-2"])
    assert pad["apcer_at_bpcer"]["1e-3"] is None
    assert pad["bona_fide"] == 100
    assert pad["attacks"] == {"print": 3, "screen": 2}  # the mask has no score
    assert pad["not_measured"] == SESSIONS + 1
    text = (tmp_path / "r" / "report.md").read_text()
    assert "## Presentation attack detection" in text
    assert "has no liveness calibration" in text and "own 100 bona fide scores" in text
    assert "| print | 3 | APCER 66.67 | 66.67 | n/a |" in text
    assert "| bona fide | 100 | BPCER 1.00 | | |" in text
    assert "| attacks, max | 5 | APCER 66.67 | 66.67 | n/a |" in text
    assert "6 presentation attack rows of the maps file left out" in text
    assert "det.png" in text
    on_disk = json.loads((tmp_path / "r" / "report.json").read_text())
    assert on_disk["presentation_attack"] == pad


def test_pad_figures_at_the_calibrated_threshold(tmp_path):
    calibration = {"bpcer": [0.001, 0.01, 0.1], "threshold": [0.001, 10.5 / 128, 0.5]}
    maps = write_maps(tmp_path / "m.h5", attacks=True, calibration=calibration)
    pad = run(maps, tmp_path / "r")["presentation_attack"]
    assert pad["threshold"] == pytest.approx(10.5 / 128)
    assert pad["threshold_source"] == "calibration"
    assert pad["bpcer"] == pytest.approx(0.10)  # 1/128 ... 10/128 rejected
    assert pad["apcer"] == pytest.approx({"print": 1 / 3, "screen": 1 / 2})
    assert pad["apcer_max"] == pytest.approx(1 / 2)
    # APCER at BPCER 1e-2 is the bona fide scores' own figure, whatever the calibration.
    assert pad["apcer_at_bpcer"]["1e-2"] == pytest.approx(expected_apcer_at_bpcer()["1e-2"])
    text = (tmp_path / "r" / "report.md").read_text()
    assert "liveness calibration for BPCER 1%" in text


def test_attacks_without_liveness_leave_recognition_only(tmp_path):
    maps = write_maps(tmp_path / "m.h5", attacks=True, liveness=False)
    report = run(maps, tmp_path / "r")
    assert "presentation_attack" not in report and report["pad_curves"] is None
    assert report["verification"]["auc"] == 1.0
    assert report["models"][0]["n_samples"] == PEOPLE * SESSIONS


def test_the_command_writes_the_det_plot(tmp_path, monkeypatch, capsys):
    def models(device):
        return {"open_maps": MapsFile, "load_model": lambda _: AlbedoModel()}

    monkeypatch.setattr(evaluate_command, "maps_and_models", models)
    maps = write_maps(tmp_path / "m.h5", attacks=True)
    out = tmp_path / "report"
    args = ["evaluate", str(maps), "--model", str(tmp_path / "run"), "-o", str(out)]
    assert main([*args, "--bootstrap", "0", "--bpcer", "0.05"]) == 0
    printed = capsys.readouterr().out
    assert "presentation attacks: threshold" in printed and "det.png" in printed
    pad = json.loads((out / "report.json").read_text())["presentation_attack"]
    # BPCER 5e-2 of the 100 bona fide: five may be rejected, threshold 6/128.
    assert pad["bpcer_target"] == 0.05 and pad["threshold"] == 6 / 128
    assert pad["apcer"] == pytest.approx({"print": 1 / 3, "screen": 1 / 2})
    png = (out / "det.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    from PIL import Image

    with Image.open(out / "det.png") as image:
        image.verify()
        assert image.size[0] > 400 and image.size[1] > 400


@pytest.mark.parametrize("value", ["0", "1", "-0.1", "nan"])
def test_bpcer_must_be_a_rate(value, tmp_path, capsys):
    args = ["evaluate", "m.h5", "--model", "run", "-o", str(tmp_path / "r"), "--bpcer", value]
    with pytest.raises(SystemExit) as raised:
        main(args)
    assert raised.value.code == 2
    assert "--bpcer" in capsys.readouterr().err
