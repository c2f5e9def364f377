"""Attribute splitting by attention: shapes, exact decomposition, own weights, gradients."""

from __future__ import annotations

import pytest
import torch

from psbase.errors import ConfigError
from recognition.backbones.attention import (
    ATTRIBUTES,
    AttentionCascade,
    AttributeHead,
    AttributeSplit,
)

# (n, C, h, w): a 64 px input's last stage (4×4), a 112 px one's (7×7), and maps smaller
# than the pyramid's 3×3 bins, with C below the reduction (one hidden unit).
SHAPES = [(2, 32, 4, 4), (3, 64, 7, 7), (1, 8, 2, 2), (2, 4, 1, 1), (2, 16, 3, 5)]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("shape", SHAPES)
def test_split_keeps_shape_and_sums_back_to_x(shape):
    split = AttributeSplit(shape[1]).eval()
    x = torch.randn(shape)
    x_id, x_attr = split(x)
    assert x_id.shape == x_attr.shape == x.shape
    assert x_id.dtype == x_attr.dtype == torch.float32
    torch.testing.assert_close(x_id + x_attr, x, rtol=0, atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
def test_cascade_sums_back_to_x(shape):
    cascade = AttentionCascade(shape[1]).eval()
    x = torch.randn(shape)
    x_id, parts = cascade(x)
    assert tuple(parts) == ATTRIBUTES
    assert x_id.shape == x.shape and all(p.shape == x.shape for p in parts.values())
    torch.testing.assert_close(x_id + sum(parts.values()), x, rtol=0, atol=1e-5)


def test_attention_shapes_and_range():
    split = AttributeSplit(32)
    a_channel, a_spatial = split.attention(torch.randn(3, 32, 4, 4))
    assert a_channel.shape == (3, 32, 1, 1) and a_spatial.shape == (3, 1, 4, 4)
    for a in (a_channel, a_spatial):
        assert bool(((a > 0) & (a < 1)).all())


def test_attribute_part_lies_between_zero_and_x():
    cascade = AttentionCascade(32)
    x = torch.rand(4, 32, 4, 4) + 0.01
    x_id, parts = cascade(x)
    for part in parts.values():
        assert bool(((part > 0) & (part <= x)).all())
        x = x - part  # the next split's input
    assert bool(((x_id > 0) & (x_id <= x + 1e-6)).all())


def test_every_split_owns_its_parameters() -> None:
    cascade = AttentionCascade(64)
    owners: dict[int, str] = {}
    for name, split in cascade.splits.items():
        for pname, param in split.named_parameters():
            ptr = param.data_ptr()
            assert ptr not in owners, f"{name}.{pname} shares storage with {owners[ptr]}"
            owners[ptr] = f"{name}.{pname}"
    assert len(owners) == len(ATTRIBUTES) * len(list(cascade.splits["gender"].parameters()))
    # and distinct functions: two splits give different parts of the same map
    x = torch.randn(2, 64, 4, 4)
    parts = [cascade.splits[name](x)[1] for name in ATTRIBUTES]
    assert not torch.allclose(parts[1], parts[2])


def test_gradients_reach_every_split():
    cascade = AttentionCascade(64)
    x = torch.randn(4, 64, 4, 4)
    x_id, parts = cascade(x)
    # distinct weights: with equal ones the loss would be Σx, constant in the parameters
    loss = (torch.randn_like(x_id) * x_id).sum()
    loss = loss + sum((torch.randn_like(p) * p).sum() for p in parts.values())
    loss.backward()
    for name, param in cascade.named_parameters():
        assert param.grad is not None and bool(param.grad.abs().sum() > 0), name


def test_eval_mode_is_deterministic():
    cascade = AttentionCascade(32).eval()
    x = torch.randn(2, 32, 7, 7)
    first_id, first = cascade(x)
    second_id, second = cascade(x)
    assert torch.equal(first_id, second_id)
    assert all(torch.equal(first[k], second[k]) for k in ATTRIBUTES)


def test_runs_in_float32_under_bfloat16_autocast():
    cascade, head = AttentionCascade(32).eval(), AttributeHead(32).eval()
    x = torch.randn(2, 32, 4, 4)
    plain_id, plain = cascade(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        x_id, parts = cascade(x)
        logit = head(parts["pose"])
        from_bf16, _ = cascade(x.bfloat16())
    assert x_id.dtype == logit.dtype == from_bf16.dtype == torch.float32
    assert torch.equal(x_id, plain_id) and all(torch.equal(parts[k], plain[k]) for k in plain)


@pytest.mark.parametrize("side", [1, 4, 7])
def test_head_gives_one_logit_per_sample(side):
    head = AttributeHead(32)
    logit = head(torch.randn(5, 32, side, side))
    assert logit.shape == (5,) and logit.dtype == torch.float32


def test_custom_attribute_list_and_split_settings():
    cascade = AttentionCascade(8, attributes=("pose",), reduction=4, pyramid=(1,), kernel=3)
    assert cascade.attributes == ("pose",)
    split = cascade.splits["pose"]
    assert isinstance(split, AttributeSplit)
    assert split.mlp[0].in_features == 8 and split.mlp[0].out_features == 2
    assert split.spatial.kernel_size == (3, 3)


def test_hidden_width_is_at_least_one():
    assert AttributeSplit(4, reduction=16).mlp[0].out_features == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"channels": 0},
        {"channels": 8, "reduction": 0},
        {"channels": 8, "pyramid": ()},
        {"channels": 8, "pyramid": (1, 0)},
        {"channels": 8, "kernel": 4},
    ],
)
def test_bad_split_settings_raise(kwargs):
    with pytest.raises(ConfigError):
        AttributeSplit(**kwargs)


@pytest.mark.parametrize("attributes", [(), ("pose", "pose")])
def test_cascade_needs_distinct_attributes(attributes):
    with pytest.raises(ConfigError, match="distinct"):
        AttentionCascade(8, attributes=attributes)
