"""`psface export` and the onnxruntime path: the same templates as PyTorch, no torch."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import h5py
import numpy as np
import onnx
import pytest
import torch

from photostereo.maps_file import MapsFile
from psbase.errors import ConfigError, InputError
from psface.cli import main
from recognition.embed import load_embedder, save_model
from recognition.export import INT8_SUFFIX, OPSET, export_onnx
from recognition.fusion import EmbeddingModel
from recognition.models import load_model
from recognition.onnx_model import OnnxEmbedder
from tests.recognition.conftest import SIZE, tiny_config

MODELS = {
    "image": {"modality": "image"},
    "albedo": {"modality": "albedo"},
    "normal": {"modality": "normal"},
    "depth": {"modality": "depth"},
    "early fusion": {"modality": "normal+albedo", "fusion": "early"},
    "late fusion": {"modality": "normal+albedo+depth", "fusion": "late"},
}


def untrained_run(folder, seed: int = 0, **settings):
    """A run folder holding a freshly initialised model whose batch-norm statistics and
    input scale are far from their defaults, so that the export must carry them."""
    torch.manual_seed(seed)
    config = tiny_config(**settings)
    model = EmbeddingModel(config)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.normal_(0.0, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    model.input_scale.uniform_(0.5, 3.0)
    folder.mkdir()
    save_model(folder, model, config)
    return folder


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.parametrize("name", MODELS)
def test_exported_model_gives_the_runs_templates(name, tmp_path):
    run = untrained_run(tmp_path / "run", **MODELS[name])
    exported = export_onnx(run, tmp_path / "model.onnx")
    torch_model = load_embedder(run, device="cpu")
    onnx_model = load_model(exported)
    assert isinstance(onnx_model, OnnxEmbedder)
    rng = np.random.default_rng(1)
    maps = rng.normal(size=(7, torch_model.channels, SIZE, SIZE)).astype(np.float32)
    maps[0, :, :5, :5] = np.nan  # unsolved pixels, as maps.h5 stores them
    expected, expected_quality = torch_model.embed(maps, batch_size=4)
    got, quality = onnx_model.embed(maps, batch_size=3)  # batches of 3 and 1: any size
    assert got.shape == expected.shape
    assert cosine(got, expected).min() >= 0.9999
    np.testing.assert_allclose(quality, expected_quality, rtol=1e-3)
    assert onnx_model.fingerprint == torch_model.fingerprint
    assert onnx_model.modality == torch_model.modality
    assert onnx_model.config.embedding_dim == torch_model.config.embedding_dim


def test_multitask_export_keeps_identity_and_attribute_heads(tmp_path, maps_path):
    """The attention cascade's pyramid pooling is exported bin by bin (ONNX's adaptive
    pooling needs bins that divide the map); both outputs match PyTorch's."""
    run = untrained_run(tmp_path / "run", modality="normal", multitask=True)
    exported = export_onnx(run, tmp_path / "model.onnx")
    torch_model, onnx_model = load_embedder(run, device="cpu"), load_model(exported)
    with MapsFile(maps_path) as maps:
        rows = np.arange(9)
        expected = torch_model.attribute_logits_file(maps, rows)
        got = onnx_model.attribute_logits_file(maps, rows, batch_size=4)
        expected_embedding, _ = torch_model.embed_file(maps, rows)
        embedding, _ = onnx_model.embed_file(maps, rows, batch_size=4)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert cosine(embedding, expected_embedding).min() >= 0.9999
    single = export_onnx(untrained_run(tmp_path / "single"), tmp_path / "single.onnx")
    with MapsFile(maps_path) as maps:
        assert load_model(single).attribute_logits_file(maps) is None


def test_export_records_what_a_runtime_needs_and_is_private(tmp_path):
    run = untrained_run(tmp_path / "run", modality="normal+albedo", fusion="late")
    exported = export_onnx(run, tmp_path / "model.onnx")
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    proto = onnx.load(exported)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["psface_modality"] == "normal+albedo"
    assert (meta["psface_size"], meta["psface_channels"]) == (str(SIZE), "4")
    scale = load_embedder(run, device="cpu").model.input_scale.tolist()
    np.testing.assert_allclose(json.loads(meta["psface_input_scale"]), scale)
    assert json.loads(meta["psface_config"])["fusion"] == "late"
    assert OPSET >= 17
    batch = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param and not batch.dim_value  # dynamic batch
    with pytest.raises(InputError, match="--overwrite"):
        export_onnx(run, exported)


def test_embed_with_an_exported_model_never_imports_torch(tmp_path, maps_path):
    run = untrained_run(tmp_path / "run")
    exported = export_onnx(run, tmp_path / "model.onnx")
    out, reference = tmp_path / "emb.h5", tmp_path / "reference.h5"
    script = (
        "import sys\n"
        "from psface.cli import main\n"
        f"code = main(['embed', {str(maps_path)!r}, '--model', {str(exported)!r}, "
        f"'-o', {str(out)!r}, '--quiet'])\n"
        "assert code == 0, code\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert main(["embed", str(maps_path), "--model", str(run), "-o", str(reference)]) == 0
    with h5py.File(out, "r") as got, h5py.File(reference, "r") as expected:
        assert cosine(got["embedding"][()], expected["embedding"][()]).min() >= 0.9999
        assert got.attrs["model_fingerprint"] == expected.attrs["model_fingerprint"]


def test_a_gallery_enrolled_with_the_run_is_searched_with_the_export(tmp_path, maps_path, capsys):
    run = untrained_run(tmp_path / "run")
    exported = export_onnx(run, tmp_path / "model.onnx")
    gallery = tmp_path / "gallery.h5"
    common = ["--gallery", str(gallery), "--batch-size", "64"]
    assert main(["enroll", str(maps_path), "--model", str(run), *common, "--device", "cpu"]) == 0
    capsys.readouterr()
    answers = []
    for model in (run, exported):
        args = ["identify", str(maps_path), "--model", str(model), *common, "--json"]
        assert main(args) == 0
        answers.append(json.loads(capsys.readouterr().out))
    torch_answers, onnx_answers = (
        [(p["answer"], p["candidates"][0]["subject"]) for p in a["probes"]] for a in answers
    )
    assert onnx_answers == torch_answers
    scores = [[p["candidates"][0]["score"] for p in a["probes"]] for a in answers]
    np.testing.assert_allclose(scores[1], scores[0], atol=1e-4)


def test_evaluating_the_export_leaves_out_the_runs_training_people(tmp_path, maps_path):
    """The run's split.json travels in the export, so evaluate measures the same held-out
    people with either and gets the same figures."""
    run = untrained_run(tmp_path / "run")
    with MapsFile(maps_path) as maps:
        people = sorted(set(maps.labels()[0]))
    (run / "split.json").write_text(json.dumps({"train": people[:16], "val": []}))
    exported = export_onnx(run, tmp_path / "model.onnx")
    assert load_model(exported).trained_people == frozenset(people[:16])
    reports = []
    for name, model in (("torch", run), ("onnx", exported)):
        out = tmp_path / name
        args = ["evaluate", str(maps_path), "--model", str(model), "-o", str(out)]
        assert main([*args, "--bootstrap", "0", "--device", "cpu"]) == 0
        reports.append(json.loads((out / "report.json").read_text())["models"][0])
    assert reports[0]["n_identities"] == reports[1]["n_identities"] == len(people) - 16
    assert reports[1]["excluded_training_people"] == 16
    for key in ("auc", "eer"):
        assert reports[1]["verification"][key] == pytest.approx(
            reports[0]["verification"][key], abs=1e-3
        )


def test_int8_export_is_smaller_close_and_fingerprinted_apart(tmp_path):
    run = untrained_run(tmp_path / "run", width=0.5)
    full = export_onnx(run, tmp_path / "float.onnx")
    small = export_onnx(run, tmp_path / "int8.onnx", int8=True)
    assert small.stat().st_size < 0.4 * full.stat().st_size
    assert stat.S_IMODE(small.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["float.onnx", "int8.onnx", "run"]
    maps = np.random.default_rng(2).normal(size=(6, 3, SIZE, SIZE)).astype(np.float32)
    expected, _ = load_model(full).embed(maps)
    quantised = load_model(small)
    got, _ = quantised.embed(maps)
    assert cosine(got, expected).min() > 0.99  # measured 0.9989 (the demo model: 0.9976)
    assert quantised.fingerprint == load_model(full).fingerprint + INT8_SUFFIX


def test_export_command_writes_once_and_refuses_to_overwrite(tmp_path, capsys):
    run = untrained_run(tmp_path / "run")
    out = tmp_path / "model.onnx"
    assert main(["export", str(run), "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    before = out.read_bytes()
    assert main(["export", str(run), "-o", str(out)]) != 0
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "--overwrite" in error[0] and str(out) in error[0]
    assert out.read_bytes() == before
    assert main(["export", str(tmp_path / "no-run"), "-o", str(tmp_path / "x.onnx")]) != 0
    assert "psface train" in capsys.readouterr().err


def test_bad_exported_models_are_one_line_errors(tmp_path):
    with pytest.raises(InputError, match="psface export"):
        load_model(tmp_path / "missing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(InputError, match="not a readable ONNX model"):
        load_model(garbage)
    foreign = tmp_path / "foreign.onnx"
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
    )
    opset = [onnx.helper.make_opsetid("", 17)]
    onnx.save_model(onnx.helper.make_model(graph, opset_imports=opset, ir_version=8), foreign)
    with pytest.raises(InputError, match="no psface metadata"):
        load_model(foreign)
    with pytest.raises(ConfigError, match="onnxruntime"):
        load_model(garbage, device="cuda")
