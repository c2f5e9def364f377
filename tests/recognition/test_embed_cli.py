"""`psface train` and `psface embed` end to end, and the embedder API the gallery uses."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from photostereo.maps_file import MapsFile
from psbase.errors import InputError
from psface.cli import main
from recognition.embed import load_embedder
from tests.recognition.conftest import SIZE


@pytest.fixture(scope="module")
def run_dir(maps_path, tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "run"
    code = main(
        [
            "train",
            str(maps_path),
            "--modality",
            "normal+albedo",
            "--out",
            str(run),
            "--epochs",
            "1",
            "--width",
            "0.125",
            "--batch-size",
            "16",
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    return run


def test_train_writes_the_run_folder(run_dir, capsys):
    for name in ("model.safetensors", "config.json", "log.jsonl", "checkpoint.safetensors"):
        assert (run_dir / name).is_file()


def test_embed_writes_normalised_embeddings_with_quality(maps_path, run_dir, tmp_path, capsys):
    out = tmp_path / "emb.h5"
    assert main(["embed", str(maps_path), "--model", str(run_dir), "-o", str(out)]) == 0
    assert "embeddings" in capsys.readouterr().out
    embedder = load_embedder(run_dir, device="cpu")
    with h5py.File(out, "r") as handle, MapsFile(maps_path) as maps_file:
        embedding, quality = handle["embedding"][()], handle["quality"][()]
        assert embedding.shape == (len(maps_file), 512) and embedding.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, rtol=1e-5)
        assert quality.shape == (len(maps_file),) and np.all(quality > 0)
        subjects, sessions = maps_file.labels()
        assert [s.decode() for s in handle["subject"][()]] == list(subjects)
        assert [s.decode() for s in handle["session"][()]] == list(sessions)
        assert handle.attrs["model_fingerprint"] == embedder.fingerprint
        assert handle.attrs["modality"] == "normal+albedo"
        assert int(handle.attrs["schema_version"]) == 1
        # The in-memory API gives the same numbers, in any batch size.
        maps = maps_file.read("normal+albedo", np.arange(5))
    emb, q = embedder.embed(maps)
    np.testing.assert_allclose(emb, embedding[:5], atol=1e-5)
    np.testing.assert_allclose(q, quality[:5], rtol=1e-5)
    with MapsFile(maps_path) as maps_file:
        reports = []
        emb2, _ = embedder.embed_file(
            maps_file, np.array([3, 1, 4]), batch_size=2, progress=lambda *r: reports.append(r)
        )
    np.testing.assert_allclose(emb2, embedding[[3, 1, 4]], atol=1e-5)
    assert reports == [(2, 3), (3, 3)]


def test_embedder_describes_itself(run_dir):
    embedder = load_embedder(run_dir, device="cpu")
    assert embedder.modality == "normal+albedo" and embedder.size == SIZE
    assert len(embedder.fingerprint) == 64
    assert embedder.config.modality == "normal+albedo"


def test_missing_or_corrupt_runs_are_input_errors(run_dir, tmp_path):
    with pytest.raises(InputError, match="no such run folder"):
        load_embedder(tmp_path / "nothing")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((run_dir / "config.json").read_text())
    (broken / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(InputError, match=r"model\.safetensors"):
        load_embedder(broken)


def test_cli_errors_are_one_line(maps_path, tmp_path, capsys):
    code = main(["embed", str(maps_path), "--model", str(tmp_path / "none"), "-o", "x.h5"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err and "no such run folder" in err
    code = main(["train", str(maps_path), "--modality", "thermal", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err and "modality" in err
