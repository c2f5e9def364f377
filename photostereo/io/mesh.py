"""The depth map as a triangle mesh (binary PLY), for viewers such as MeshLab or Blender."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from psbase.atomic import write_atomically


def depth_mesh(depth: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (N, 3) at (column, -row, depth) and triangles (M, 3) over the masked pixels.

    Each 2 x 2 block of pixels all inside the mask becomes two triangles, wound
    counter-clockwise seen from the camera so that the faces point toward it.
    """
    valid = mask & np.isfinite(depth)
    h, w = depth.shape
    index = np.full((h, w), -1, np.int64)
    rows, cols = np.nonzero(valid)
    index[rows, cols] = np.arange(rows.size)
    vertices = np.stack([cols, -rows, depth[rows, cols]], axis=1).astype(np.float32)
    tl, tr = index[:-1, :-1], index[:-1, 1:]
    bl, br = index[1:, :-1], index[1:, 1:]
    quad = (tl >= 0) & (tr >= 0) & (bl >= 0) & (br >= 0)
    upper = np.stack([tl[quad], bl[quad], tr[quad]], axis=1)
    lower = np.stack([tr[quad], bl[quad], br[quad]], axis=1)
    return vertices, np.concatenate([upper, lower]).astype(np.int32)


def write_ply(path: Path, depth: np.ndarray, mask: np.ndarray) -> None:
    """Write the masked depth map as a binary little-endian PLY mesh, atomically."""
    vertices, faces = depth_mesh(depth, mask)
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment psface depth mesh\n"
        f"element vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
        f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode("ascii")
    face_records = np.empty(len(faces), dtype=[("n", "u1"), ("v", "<i4", (3,))])
    face_records["n"] = 3
    face_records["v"] = faces

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            handle.write(header)
            handle.write(vertices.astype("<f4").tobytes())
            handle.write(face_records.tobytes())

    write_atomically(Path(path), write)
