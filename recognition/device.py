"""Where and in what precision a model runs, decided once for training and embedding.

Training validates with the embedder's own code path, so both must pick the same device,
autocast dtype and memory layout from the same config; this module is that one choice.
"""

from __future__ import annotations

import torch

from psbase.errors import ConfigError
from recognition.config import TrainConfig


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` picks CUDA when present, else the CPU; an unusable device is a ConfigError."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"unknown device {device!r}; use cpu or cuda") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda asked for, but no CUDA GPU is available")
    return resolved


def autocast_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """bfloat16 where the GPU has it, else float16 (with loss scaling); None on CPU."""
    if device.type != "cuda" or not config.amp:
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def uses_channels_last(config: TrainConfig, device: torch.device) -> bool:
    """Channels-last pays on CUDA's tensor cores only; on a CPU it is slower."""
    return device.type == "cuda" and config.channels_last


def autocast(device: torch.device, dtype: torch.dtype | None) -> torch.autocast:
    """Autocast to ``dtype`` on ``device``, or a no-op when ``dtype`` is None."""
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)
