"""Augmentation keeps a sample's maps registered and its normals consistent."""

from __future__ import annotations

import math

import torch

from recognition.augment import AugmentSettings, augment_batch, rotate_normals, warp


def _pattern(n: int = 3, size: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.nn.functional.interpolate(torch.rand(n, 1, 8, 8, generator=g), size=size)


def test_every_modality_of_a_sample_gets_the_same_warp():
    pattern = _pattern()
    mask = torch.ones_like(pattern, dtype=torch.bool)
    x = torch.cat([pattern, pattern, pattern * 2], dim=1)  # albedo, image, depth alike
    settings = AugmentSettings(shift=0.1, rotate=10, noise=0.0, depth_offset=0.0)
    out = augment_batch(
        x,
        mask,
        normal_channels=[],
        depth_channels=[2],
        settings=settings,
        generator=torch.Generator().manual_seed(0),
    )
    torch.testing.assert_close(out[:, 0], out[:, 1])
    torch.testing.assert_close(out[:, 2], 2 * out[:, 0])
    assert not torch.allclose(out[:, 0], x[:, 0])  # it did move
    assert not torch.allclose(out[0, 0], out[1, 0])  # differently per sample


def test_shift_moves_content_right_and_up():
    x = torch.zeros(1, 1, 20, 20)
    x[0, 0, 10, 10] = 1.0
    moved = warp(x, torch.zeros(1), torch.tensor([[0.1, 0.1]]), mode="nearest")
    row, col = divmod(int(moved.flatten().argmax()), 20)
    assert (row, col) == (8, 12)  # two pixels right, two up (rows count down)


def _sphere(size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    coords = (torch.arange(size) + 0.5) / size * 2 - 1
    y, x = -coords[:, None].expand(size, size), coords[None, :].expand(size, size)
    r2 = x**2 + y**2
    inside = r2 < 0.8**2
    z = torch.sqrt((0.8**2 - r2).clamp_min(0))
    normals = torch.stack([x, y, z]) / 0.8 * inside
    return normals[None], inside[None, None]


def test_rotating_a_sphere_leaves_its_normal_map_unchanged():
    normals, inside = _sphere()
    angle = torch.tensor([math.radians(25)])
    turned = rotate_normals(warp(normals, angle, torch.zeros(1, 2)), angle)
    core = (torch.nn.functional.avg_pool2d(inside.float(), 5, 1, 2) == 1)[:, 0]
    error = (turned - normals).norm(dim=1)[core]
    assert float(error.max()) < 0.08
    # Without turning the vectors the error is the rotation itself (sin 25° ≈ 0.42).
    unturned = (warp(normals, angle, torch.zeros(1, 2)) - normals).norm(dim=1)[core]
    assert float(unturned.max()) > 0.3


def test_depth_offset_lands_on_the_face_only():
    x = torch.zeros(2, 1, 16, 16)
    mask = torch.zeros(2, 1, 16, 16, dtype=torch.bool)
    mask[:, :, 4:12, 4:12] = True
    settings = AugmentSettings(shift=0.0, rotate=0.0, noise=0.0, depth_offset=1.0)
    out = augment_batch(
        x,
        mask,
        normal_channels=[],
        depth_channels=[0],
        settings=settings,
        generator=torch.Generator().manual_seed(3),
    )
    assert float(out[:, :, :3].abs().max()) < 1e-5  # off the face: no offset
    for i in range(2):
        face = out[i, 0, 5:11, 5:11]
        assert float(face.abs().min()) > 0 and torch.allclose(face, face[0, 0].expand_as(face))


def test_same_generator_state_gives_the_same_augmentation():
    x = _pattern().repeat(1, 3, 1, 1)
    mask = torch.ones(3, 1, 32, 32, dtype=torch.bool)

    def run(seed: int) -> torch.Tensor:
        return augment_batch(
            x,
            mask,
            normal_channels=[0],
            depth_channels=[],
            settings=AugmentSettings(),
            generator=torch.Generator().manual_seed(seed),
        )

    torch.testing.assert_close(run(4), run(4))
    assert not torch.allclose(run(4), run(5))
