"""A trained run to one ONNX file that runs without PyTorch: ``psface export``.

The graph takes the maps exactly as ``MapsFile.read(modality)`` stacks them, (batch, C,
S, S) float32 with any batch size: it replaces NaN (unsolved pixels) by zero and
applies the run's input scale itself, then returns the features before L2
normalisation (``features``, (batch, D); their norm is MagFace's quality score) and,
for a multi-task model, the attribute logits (``attributes``, (batch, T)).
:mod:`recognition.onnx_model` runs it with onnxruntime.

The file's metadata (``metadata_props``) records what a runtime needs to check its
input and to stay compatible with what the run made:

* ``psface_modality``, ``psface_size``, ``psface_channels``, ``psface_embedding_dim``;
* ``psface_input_scale``: the per-channel scale (JSON list), already inside the graph;
* ``psface_fingerprint``: the run's model fingerprint, so galleries and emb.h5 files
  made with the run accept the exported model's templates and vice versa (the tests
  hold the two to a cosine of 0.9999);
* ``psface_tasks``: the attribute tasks' order (JSON list; empty for one task);
* ``psface_train_people``: the people the run trained on (JSON list, from its
  split.json), whom ``psface evaluate`` leaves out;
* ``psface_config``: the run's config.json.

It is exported by PyTorch's current exporter (``torch.onnx.export(dynamo=True)``) at
opset :data:`OPSET`; ``int8`` quantises its weights with onnxruntime's dynamic
quantisation (a quarter of the size; on the demo's 24 held-out people verification AUC
0.9746 for the run and the float export alike, 0.9752 with int8).
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from gallery.runs import trained_people
from psbase.atomic import new_temporary, write_atomically
from psbase.outputs import check_output_file
from recognition.attributes import TASKS
from recognition.embed import Embedder, load_embedder
from recognition.fusion import EmbeddingModel
from recognition.models import model_files

#: ONNX operator set of exported models.
OPSET = 18
#: Names of the graph's input and outputs.
INPUT, FEATURES, ATTRIBUTES = "maps", "features", "attributes"
#: Ends the fingerprint of a model exported with int8 weights.
INT8_SUFFIX = "-int8"


class _Deployed(nn.Module):
    """The run's model from raw maps: NaN to zero, input scale, features (and logits)."""

    def __init__(self, model: EmbeddingModel, multitask: bool) -> None:
        super().__init__()
        self.model = model
        self.multitask = multitask

    def forward(self, maps: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.model.scale_inputs(torch.nan_to_num(maps, nan=0.0))
        features, attributes = self.model.forward_tasks(x)
        return (features, attributes) if self.multitask and attributes is not None else (features,)


def metadata(embedder: Embedder) -> dict[str, str]:
    """The ``metadata_props`` of an exported model (module docstring)."""
    config = embedder.config
    return {
        "psface_modality": embedder.modality,
        "psface_size": str(embedder.size),
        "psface_channels": str(embedder.channels),
        "psface_embedding_dim": str(config.embedding_dim),
        "psface_input_scale": json.dumps(embedder.model.input_scale.tolist()),
        "psface_fingerprint": embedder.fingerprint,
        "psface_tasks": json.dumps(list(TASKS) if config.multitask else []),
        "psface_train_people": json.dumps(sorted(trained_people(embedder.run))),
        "psface_config": config.to_json(),
    }


def export_onnx(
    run_dir: str | Path, out: str | Path, *, overwrite: bool = False, int8: bool = False
) -> Path:
    """Write the run's model to ``out`` as ONNX (module docstring), atomically and
    owner-only; an existing ``out`` is replaced only with ``overwrite``. ``int8``
    quantises it (:func:`quantised`)."""
    out = check_output_file(out, overwrite=overwrite, inputs=model_files(run_dir))
    embedder = load_embedder(run_dir, device="cpu")
    deployed = _Deployed(embedder.model.float(), embedder.config.multitask).eval()
    example = torch.zeros(2, embedder.channels, embedder.size, embedder.size)
    outputs = [FEATURES, ATTRIBUTES] if embedder.config.multitask else [FEATURES]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's progress and deprecation chatter
        program = torch.onnx.export(
            deployed,
            (example,),
            dynamo=True,
            opset_version=OPSET,
            input_names=[INPUT],
            output_names=outputs,
            dynamic_shapes={INPUT: {0: torch.export.Dim("batch", min=1)}},
            verbose=False,
        )
    if program is None:  # only the old exporter, writing to a file, returns nothing
        raise RuntimeError("torch.onnx.export returned no program")
    proto = program.model_proto
    props = metadata(embedder)
    if int8:
        proto = quantised(proto, out.parent)
        props["psface_fingerprint"] += INT8_SUFFIX
    onnx.helper.set_model_props(proto, props)
    onnx.checker.check_model(proto)
    write_atomically(out, lambda tmp: onnx.save_model(proto, tmp))
    return out


def quantised(proto: onnx.ModelProto, folder: Path) -> onnx.ModelProto:
    """``proto`` with int8 weights, quantised dynamically by onnxruntime (convolutions
    and matrix products; activations quantised per batch at run time). Its templates
    differ slightly from the run's, so its fingerprint gets :data:`INT8_SUFFIX` and a
    gallery made with the run refuses them. Works through owner-only temporary files in
    ``folder``, removed after."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    del proto.graph.value_info[:]  # the exporter's intermediate shapes trip the quantiser
    source, target = new_temporary(folder / "float.onnx"), new_temporary(folder / "int8.onnx")
    try:
        onnx.save_model(proto, source)
        quantiser_log = logging.getLogger()
        level = quantiser_log.level
        quantiser_log.setLevel(logging.ERROR)  # its advice to pre-process goes to the root
        try:
            quantize_dynamic(source, target, weight_type=QuantType.QInt8)
        finally:
            quantiser_log.setLevel(level)
        return onnx.load_model(target)
    finally:
        source.unlink(missing_ok=True)
        target.unlink(missing_ok=True)
