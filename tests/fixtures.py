"""Small sessions on disk in each layout, rendered from a sphere with known normals."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from photostereo.io import write_canonical
from photostereo.io.images import write_image
from photostereo.lights import from_azimuth_elevation, from_zenith_azimuth
from photostereo.session import CaptureSession
from tests.scenes import render, sphere

PHOTOFACE_ZENITH = [20.0, 20.0, 20.0, 20.0]
PHOTOFACE_AZIMUTH = [45.0, 135.0, 225.0, 315.0]


def sphere_session(size: int = 48, n_lights: int = 4, subject: str = "s01", session: str = "v1"):
    normals, mask = sphere(size)
    directions = from_zenith_azimuth(np.full(n_lights, 25.0), np.arange(n_lights) * 360 / n_lights)
    albedo = np.where(mask, 0.7, 0.0).astype(np.float32)
    images = render(normals, albedo, directions)
    return CaptureSession(images, directions, np.ones(n_lights), subject, session), normals, mask


def write_canonical_sphere(folder: Path, **kwargs) -> Path:
    session, _, _ = sphere_session(**kwargs)
    return write_canonical(folder, session)


def write_photoface_sphere(folder: Path, *, lights_text: str | None = None) -> Path:
    normals, mask = sphere(48)
    directions = from_zenith_azimuth(PHOTOFACE_ZENITH, PHOTOFACE_AZIMUTH)
    images = render(normals, np.where(mask, 0.7, 0.0).astype(np.float32), directions)
    folder.mkdir(parents=True)
    for k, image in enumerate(images):
        write_image(folder / f"im{k + 1}.bmp", image)
    if lights_text is None:
        lights_text = (
            "% light source angles, degrees\n"
            f"zenith = [{' '.join(map(str, PHOTOFACE_ZENITH))}];\n"
            f"azimuth = [{' '.join(map(str, PHOTOFACE_AZIMUTH))}];\n"
        )
    (folder / "LightSource.m").write_text(lights_text)
    (folder / "metadataII.txt").write_text(
        "Gender: female\nSpectacles: yes\nFacial_Hair: none\nPose: 1\n"
        "Quality: ok\nOcclusion: \nEmotion: positive\n"
    )
    (folder / "metadata.txt").write_text("\n".join(f"{10 + k} {20 + k}" for k in range(11)) + "\n")
    return folder


def write_yaleb_sphere(folder: Path, *, ambient: float = 0.0) -> Path:
    normals, mask = sphere(48)
    angles = [(0, 0), (25, 0), (-25, 0), (0, 20), (0, -20), (50, 10), (-50, -10)]
    az, el = np.array(angles, float).T
    images = render(
        normals, np.where(mask, 0.6, 0.0).astype(np.float32), from_azimuth_elevation(az, el)
    )
    folder.mkdir(parents=True)
    name = folder.name
    for (a, e), image in zip(angles, images, strict=True):
        write_image(folder / f"{name}_P00A{a:+04d}E{e:+03d}.pgm", np.clip(image + ambient, 0, 1))
    if ambient:
        write_image(folder / f"{name}_P00_Ambient.pgm", np.full(mask.shape, ambient))
    return folder
