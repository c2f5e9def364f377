"""Weights and training state as safetensors with JSON beside them; nothing is pickled.

``save_tensors``/``load_tensors`` store a flat {name: tensor} dict plus a JSON object in
the safetensors metadata. The optimiser's state_dict is split into its tensors (momentum
buffers, Adam moments, steps) and its plain values (param groups), which go to JSON;
RNG states are uint8 tensors. Loading therefore never runs code from the file.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from psbase.atomic import write_atomically
from psbase.errors import InputError, one_line

_META_KEY = "psface"


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Write atomically (temporary file, then rename), so a crash keeps the old file."""
    flat = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    metadata = {_META_KEY: json.dumps(meta, sort_keys=True)}
    write_atomically(Path(path), lambda tmp: save_file(flat, str(tmp), metadata=metadata))


def load_tensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors on the CPU, JSON metadata); a missing or corrupt file is an InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such weights file")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            raw = (handle.metadata() or {}).get(_META_KEY, "{}")
        tensors = load_file(str(path))
        meta = json.loads(raw)
    except (SafetensorError, OSError, ValueError, TypeError, RuntimeError) as error:
        raise InputError(path, f"not a readable safetensors file ({one_line(error)})") from None
    if not isinstance(meta, dict):
        raise InputError(path, f"its {_META_KEY} metadata is not a JSON object")
    return tensors, meta


def check_tensors(
    path: Path,
    tensors: dict[str, torch.Tensor],
    expected: dict[str, torch.Tensor],
    *,
    against: str,
) -> None:
    """Refuse tensors that are not exactly ``expected``'s names, dtypes and shapes, or
    that hold NaN or infinity; the message names the file and the first bad tensor.

    ``load_state_dict`` alone would cast an integer tensor to float silently.
    """
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    for names, what in ((missing, "lacks"), (extra, "has unexpected")):
        if names:
            more = f" (and {len(names) - 3} more)" if len(names) > 3 else ""
            raise InputError(
                path, f"{what} tensors {', '.join(names[:3])}{more}; it does not match {against}"
            )
    for name, want in expected.items():
        have = tensors[name]
        if have.dtype != want.dtype or have.shape != want.shape:
            raise InputError(
                path,
                f"tensor {name} is {str(have.dtype).removeprefix('torch.')} "
                f"{tuple(have.shape)}, expected {str(want.dtype).removeprefix('torch.')} "
                f"{tuple(want.shape)} for {against}",
            )
        if have.is_floating_point() and not bool(torch.isfinite(have).all()):
            raise InputError(path, f"tensor {name} holds NaN or infinite values")


def prefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}/{k}": v for k, v in tensors.items()}


def unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    head = prefix + "/"
    return {k[len(head) :]: v for k, v in tensors.items() if k.startswith(head)}


def optimizer_state(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimiser's state_dict as (tensors, JSON-able values)."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    values: dict[str, Any] = {}
    for pid, entries in state["state"].items():
        for name, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"{pid}/{name}"] = value
            else:
                values[f"{pid}/{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "values": values}


def load_optimizer_state(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict
) -> None:
    """Inverse of :func:`optimizer_state`."""
    state: dict[int, dict[str, Any]] = defaultdict(dict)
    for key, value in tensors.items():
        pid, name = key.split("/", 1)
        state[int(pid)][name] = value
    for key, value in meta["values"].items():
        pid, name = key.split("/", 1)
        state[int(pid)][name] = value
    optimizer.load_state_dict({"state": dict(state), "param_groups": meta["param_groups"]})
