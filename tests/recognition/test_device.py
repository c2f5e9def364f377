"""The one choice of device, autocast dtype and memory layout that training and
embedding share."""

from __future__ import annotations

import pytest
import torch

from psbase.errors import ConfigError
from recognition.config import TrainConfig
from recognition.device import autocast_dtype, resolve_device, uses_channels_last


def test_the_cpu_runs_in_float32_and_contiguous():
    cpu = torch.device("cpu")
    assert autocast_dtype(TrainConfig(), cpu) is None
    assert not uses_channels_last(TrainConfig(), cpu)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_autocasts_unless_amp_is_off():
    cuda = torch.device("cuda")
    assert autocast_dtype(TrainConfig(), cuda) in (torch.bfloat16, torch.float16)
    assert autocast_dtype(TrainConfig(amp=False), cuda) is None
    assert uses_channels_last(TrainConfig(), cuda)


def test_an_unknown_device_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("tpu9")
