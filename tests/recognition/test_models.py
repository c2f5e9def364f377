"""iResNet shapes and size, the backbone factory, and fusion of modalities."""

from __future__ import annotations

import pytest
import torch

from psbase.errors import ConfigError
from recognition.backbones import build_backbone
from recognition.config import TrainConfig
from recognition.fusion import EmbeddingModel, fit_scale


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("size", [64, 112])
def test_iresnet18_maps_any_channel_count_and_size_to_512(channels, size):
    net = build_backbone("iresnet18", in_channels=channels, size=size, width=0.125).eval()
    out = net(torch.randn(2, channels, size, size))
    assert out.shape == (2, 512) and out.dtype == torch.float32


@pytest.mark.parametrize(
    ("name", "published"), [("iresnet18", 24.0e6), ("iresnet34", 34.1e6), ("iresnet50", 43.6e6)]
)
def test_parameter_count_at_width_1_is_the_published_one(name, published):
    """insightface arcface_torch's iResNets at 112 px, 3 channels, 512-d: 24.0M, 34.1M,
    43.6M parameters. Measured 24,025,600, 34,139,328 and 43,590,848 (off the rounded
    figures by 0.11%, 0.12% and 0.02%); a unit more or fewer moves them by >= 0.3%."""
    net = build_backbone(name, in_channels=3, size=112, width=1.0)
    assert sum(p.numel() for p in net.parameters()) == pytest.approx(published, rel=2e-3)


@pytest.mark.parametrize(("channels", "size"), [(1, 16), (3, 32), (4, 48), (5, 112)])
def test_features_are_at_one_sixteenth_of_the_input_side(channels, size):
    net = build_backbone("iresnet18", in_channels=channels, size=size, width=0.125).eval()
    features = net.features(torch.randn(2, channels, size, size))
    assert features.shape == (2, net.feature_channels, size // 16, size // 16)
    assert net.embed(features).shape == (2, 512)


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
    seen: list[torch.Tensor] = []  # each branch's output inside the model's forward
    for branch in model.branches:
        branch.register_forward_hook(lambda _m, _i, out: seen.append(out.detach().clone()))
    x = torch.randn(3, 5, 32, 32)
    base = model(x)
    assert base.shape == (3, 512)
    base_branches, seen[:] = list(seen), []
    # Channels 0-2 are the normal, 3 the albedo, 4 the depth: changing one modality changes
    # the embedding and its own branch's output, and no other branch's.
    for own, channels in enumerate((slice(0, 3), slice(3, 4), slice(4, 5))):
        changed = x.clone()
        changed[:, channels] += 1.0
        assert not torch.allclose(model(changed), base)
        for k, (got, before) in enumerate(zip(seen, base_branches, strict=True)):
            if k == own:
                assert not torch.allclose(got, before)
            else:
                torch.testing.assert_close(got, before, rtol=0, atol=0)
        seen[:] = []


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
