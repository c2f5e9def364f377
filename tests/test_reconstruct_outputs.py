"""`psface reconstruct` end to end: every file INTERFACES.md names, with sane content."""

import json

import cv2
import numpy as np

from photostereo.io.mesh import depth_mesh
from psface.cli import main
from tests.fixtures import write_canonical_sphere

EXPECTED = {
    "normal.npy",
    "albedo.npy",
    "depth.npy",
    "mask.png",
    "normal.png",
    "albedo.png",
    "depth.png",
    "mesh.ply",
    "residual.npy",
    "n_used.npy",
    "summary.json",
}


def read_ply(path):
    data = path.read_bytes()
    header, _, body = data.partition(b"end_header\n")
    lines = header.decode().splitlines()
    n_vertices = int(next(line for line in lines if line.startswith("element vertex")).split()[-1])
    n_faces = int(next(line for line in lines if line.startswith("element face")).split()[-1])
    vertices = np.frombuffer(body[: 12 * n_vertices], "<f4").reshape(n_vertices, 3)
    faces = np.frombuffer(body[12 * n_vertices :], [("n", "u1"), ("v", "<i4", (3,))])
    assert len(faces) == n_faces
    return vertices, faces


def test_reconstruct_writes_maps_previews_and_mesh(tmp_path, capsys):
    folder = write_canonical_sphere(tmp_path / "s01" / "v1", size=64)
    out = tmp_path / "out"
    assert main(["reconstruct", str(folder), "-o", str(out)]) == 0
    assert EXPECTED <= {p.name for p in out.iterdir()}
    normal = np.load(out / "normal.npy")
    depth = np.load(out / "depth.npy")
    mask = cv2.imread(str(out / "mask.png"), cv2.IMREAD_GRAYSCALE) > 0
    assert normal.shape == (64, 64, 3) and depth.shape == (64, 64)
    assert np.isnan(depth[~mask]).all() and np.isfinite(depth[mask]).all()
    # a sphere bulges toward the camera: its centre is the closest point
    assert depth[32, 32] > np.nanpercentile(depth, 90)
    preview = cv2.cvtColor(cv2.imread(str(out / "normal.png")), cv2.COLOR_BGR2RGB)
    assert preview[32, 12, 0] < 100 < preview[32, 52, 0]  # red is x: low on the left
    assert preview[12, 32, 1] > 150 > preview[52, 32, 1]  # green is y: high at the top
    summary = json.loads((out / "summary.json").read_text())
    assert summary["solver"] == "shadow" and summary["pixels"] == int(mask.sum())
    assert sum(summary["solved_by"].values()) == summary["pixels"]  # how each was solved
    assert summary["solved_by"]["all lights"] > 0 and summary["notes"] == []
    assert summary["response"] == "linear"
    vertices, faces = read_ply(out / "mesh.ply")
    assert len(vertices) == mask.sum()
    a, b, c = (vertices[faces["v"][:, i]] for i in range(3))
    facing = np.cross(b - a, c - a)[:, 2]
    assert (faces["n"] == 3).all() and (facing > 0).mean() > 0.99


def test_mesh_triangulates_only_blocks_inside_the_mask():
    depth = np.zeros((4, 5), np.float32)
    mask = np.zeros((4, 5), bool)
    mask[1:3, 1:4] = True
    vertices, faces = depth_mesh(depth, mask)
    assert len(vertices) == 6 and len(faces) == 4
    np.testing.assert_array_equal(vertices[0], [1, -1, 0])


def test_each_solver_and_integrator_runs_from_the_command_line(tmp_path):
    folder = write_canonical_sphere(tmp_path / "s01" / "v1", size=48)
    for solver in ("plain", "shadow", "robust"):
        for integrator in ("masked", "dct", "fft"):
            out = tmp_path / f"{solver}-{integrator}"
            args = ["reconstruct", str(folder), "-o", str(out)]
            assert main([*args, "--solver", solver, "--integrator", integrator]) == 0
            assert np.nanmax(np.load(out / "depth.npy")) > 5
