"""Which model a ``--model`` names, and its files: a run folder (PyTorch) or an
exported ``.onnx`` file (onnxruntime, no PyTorch import)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from psbase.errors import ConfigError

#: The suffix that marks a ``--model`` as an exported file rather than a run folder.
EXPORTED_SUFFIX = ".onnx"
#: A run folder's files that embedding reads.
RUN_FILES = ("config.json", "model.safetensors")


def is_exported(model: str | Path) -> bool:
    """Whether a ``--model`` names an exported file rather than a run folder."""
    return Path(model).suffix == EXPORTED_SUFFIX


def model_files(model: str | Path) -> list[Path]:
    """The files embedding reads: a command's outputs may not be these."""
    if is_exported(model):
        return [Path(model)]
    return [Path(model) / name for name in RUN_FILES]


def load_model(model: str | Path, *, device: str | None = None) -> Any:
    """The model a ``--model`` names: an exported file through onnxruntime (``device``
    must then be unset or cpu), or a run folder through PyTorch, imported only then."""
    if is_exported(model):
        from recognition.onnx_model import load_onnx_embedder

        if device not in (None, "cpu"):
            raise ConfigError(f"{model} runs on the CPU through onnxruntime; drop --device")
        return load_onnx_embedder(model)
    from recognition.embed import load_embedder

    return load_embedder(model, device=device)
