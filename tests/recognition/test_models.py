"""iResNet shapes and structure, the backbone factory, and fusion of modalities."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from psbase.errors import ConfigError
from recognition.backbones import build_backbone
from recognition.backbones.iresnet import IBasicBlock
from recognition.config import TrainConfig
from recognition.fusion import EmbeddingModel, fit_scale


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("size", [64, 112])
def test_iresnet18_maps_any_channel_count_and_size_to_512(channels, size):
    net = build_backbone("iresnet18", in_channels=channels, size=size, width=0.125).eval()
    out = net(torch.randn(2, channels, size, size))
    assert out.shape == (2, 512) and out.dtype == torch.float32


def test_depth_is_the_layer_list():
    def units(name: str) -> int:
        net = build_backbone(name, size=64, width=0.125)
        return sum(isinstance(m, IBasicBlock) for m in net.modules())

    assert (units("iresnet18"), units("iresnet34"), units("iresnet50")) == (8, 16, 24)


def test_downsampling_shortcut_is_maxpool_then_1x1_conv():
    net = build_backbone("iresnet18", size=64, width=0.125)
    first = net.stages[0][0].shortcut
    assert isinstance(first[0], nn.MaxPool2d)
    assert isinstance(first[1], nn.Conv2d) and first[1].kernel_size == (1, 1)
    assert isinstance(net.stages[0][1].shortcut, nn.Identity)
    assert sum(isinstance(m, nn.PReLU) for m in net.modules()) == 1 + 8
    assert not any(isinstance(m, nn.ReLU) for m in net.modules())


def test_head_stays_float32_under_autocast():
    net = build_backbone("iresnet18", in_channels=1, size=64, width=0.125).eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(torch.randn(2, 1, 64, 64))
    assert out.dtype == torch.float32


def test_unknown_backbone_lists_the_known_names():
    with pytest.raises(ConfigError, match="iresnet18, iresnet34, iresnet50"):
        build_backbone("resnet101")


def test_size_must_be_a_multiple_of_16():
    with pytest.raises(ConfigError, match="multiple of 16"):
        build_backbone("iresnet18", size=60)


def _model(modality: str, fusion: str) -> EmbeddingModel:
    config = TrainConfig(modality=modality, size=32, width=0.125, fusion=fusion)
    return EmbeddingModel(config).eval()


def test_late_fusion_runs_one_backbone_per_modality_on_its_own_channels():
    model = _model("normal+albedo+depth", "late")
    assert len(model.branches) == 3
    assert [b.in_channels for b in model.branches] == [3, 1, 1]
    x = torch.randn(3, 5, 32, 32)
    base = model(x)
    assert base.shape == (3, 512)
    for channel in (0, 3, 4):  # changing any one modality changes the embedding
        changed = x.clone()
        changed[:, channel] += 1.0
        assert not torch.allclose(model(changed), base)
    # A branch sees only its modality: the albedo branch ignores the normal channels.
    changed = x.clone()
    changed[:, :3] = 0
    torch.testing.assert_close(model.branches[1](changed[:, 3:4]), model.branches[1](x[:, 3:4]))


def test_early_fusion_stacks_channels_into_one_backbone():
    model = _model("normal+albedo", "early")
    assert not hasattr(model, "branches")
    assert model.backbone.in_channels == 4
    assert model(torch.randn(2, 4, 32, 32)).shape == (2, 512)
    late = _model("normal+albedo", "late")
    assert sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in late.parameters())


def test_input_scale_is_one_over_face_rms_and_saved_with_the_weights():
    maps = torch.zeros(4, 4, 8, 8)
    maps[:, :3] = 0.5
    maps[:, 3, :4] = 2.0  # albedo: 2 on the face (top half), 7 off it (ignored)
    maps[:, 3, 4:] = 7.0
    mask = torch.zeros(4, 1, 8, 8, dtype=torch.bool)
    mask[:, :, :4] = True
    scale = fit_scale(maps.numpy(), mask.numpy(), ("normal", "albedo"))
    assert scale.tolist() == [1.0, 1.0, 1.0, 0.5]
    assert "input_scale" in _model("normal+albedo", "late").state_dict()
