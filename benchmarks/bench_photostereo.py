"""Photometric-stereo speed: solvers against NumPy baselines, integrators by size.

Run: ``.venv/bin/python benchmarks/bench_photostereo.py`` (add ``--quick`` for a smoke
run). Every figure is the median of repeated runs after a warm-up, and every ratio
compares two things timed in this same run, so the machine's speed cancels out.

Baselines for the solvers, on the same stacked captures:
* ``sum``: one plain pass over the bytes (``stack.sum(axis=0)``), the memory limit;
* ``lstsq``: a single ``np.linalg.lstsq`` over all pixels at once;
* ``lstsq loop``: ``np.linalg.lstsq`` pixel by pixel (timed on a subset, scaled).
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import numba
import numpy as np

from photostereo.integrate import integrate_normals, poisson_sparse_direct
from photostereo.lights import ring_directions
from photostereo.solvers import solve_lambertian, solve_robust, solve_shadow_aware


def median_time(run: Callable[[], object], repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def one_thread(run: Callable[[], object], repeats: int) -> float:
    """``median_time`` with the compiled kernels held to one thread."""
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return median_time(run, repeats)
    finally:
        numba.set_num_threads(threads)


def face_like_scene(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Normals (H, W, 3) of an ellipsoidal head with a nose bump, and its mask."""
    rows, cols = np.mgrid[0:size, 0:size]
    x = (cols + 0.5) / size - 0.5
    y = 0.5 - (rows + 0.5) / size
    ex, ey = x / 0.36, y / 0.46
    r2 = ex**2 + ey**2
    mask = r2 < 0.97
    dz_dx = -ex / 0.36 / np.sqrt(np.clip(1 - r2, 0.03, None))
    dz_dy = -ey / 0.46 / np.sqrt(np.clip(1 - r2, 0.03, None))
    nose = 0.12 * np.exp(-(x**2 + (y + 0.05) ** 2) / 0.004)
    dz_dx += nose * (-x / 0.002)
    dz_dy += nose * (-(y + 0.05) / 0.002)
    normals = np.stack([-dz_dx, -dz_dy, np.ones_like(x)], axis=-1)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    return normals.astype(np.float32), mask


def render(normals: np.ndarray, directions: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shading = np.clip(np.einsum("kc,hwc->khw", directions, normals), 0, None)
    images = 0.7 * shading + rng.normal(0, 0.005, shading.shape)
    return np.clip(images, 0, 1).astype(np.float32)


def bench_solvers(size: int, n_lights: int, repeats: int) -> list[tuple[str, float, str]]:
    normals, _ = face_like_scene(size)
    directions = ring_directions(n_lights, 25.0)
    images = render(normals, directions)
    stack = images.reshape(n_lights, -1)
    megapixels = size * size / 1e6
    subset = stack[:, :: max(1, stack.shape[1] // 2000)][:, :2000]
    times = {
        "sum (one pass)": median_time(lambda: stack.sum(axis=0), repeats),
        "lstsq (all pixels)": median_time(
            lambda: np.linalg.lstsq(directions, stack, rcond=None), repeats
        ),
        "lstsq loop (per pixel)": median_time(
            lambda: [np.linalg.lstsq(directions, subset[:, p], rcond=None) for p in range(2000)],
            1,
        )
        * stack.shape[1]
        / 2000,
        "plain": median_time(lambda: solve_lambertian(images, directions), repeats),
        "shadow": median_time(lambda: solve_shadow_aware(images, directions), repeats),
        "plain (1 thread)": one_thread(lambda: solve_lambertian(images, directions), repeats),
        "shadow (1 thread)": one_thread(lambda: solve_shadow_aware(images, directions), repeats),
        "robust": median_time(lambda: solve_robust(images, directions), max(1, repeats // 3)),
    }
    rows = [(name, megapixels / t, f"{t * 1e3:.2f} ms") for name, t in times.items()]
    print(f"\nSolvers, {n_lights} lights, {size}x{size} ({megapixels:.2f} MP), float32")
    print(f"  {'':26s} {'MP/s':>10s} {'time':>12s}")
    for name, rate, shown in rows:
        print(f"  {name:26s} {rate:10.1f} {shown:>12s}")
    plain, shadow = times["plain"], times["shadow"]
    print(f"  ({numba.get_num_threads()} threads unless marked)")
    single = times["lstsq (all pixels)"]
    print(f"  plain vs single lstsq:   {single / plain:7.1f}x faster (target >= 10)")
    print(f"  plain vs lstsq loop:     {times['lstsq loop (per pixel)'] / plain:7.0f}x faster")
    print(f"  plain / one-pass sum:    {plain / times['sum (one pass)']:7.2f}x (target <= 2)")
    single = times["plain (1 thread)"] / times["sum (one pass)"]
    print(f"  same, plain on 1 thread: {single:7.2f}x (numpy's sum runs on 1 thread)")
    print(f"  shadow / plain:          {shadow / plain:7.2f}x (target <= 3)")
    return rows


def time_integrators(size: int, repeats: int) -> dict[str, float]:
    """Seconds per call of each integrator, and of the sparse direct solve up to 512^2."""
    normals, mask = face_like_scene(size)
    full = np.ones_like(mask)
    repeats = repeats if size <= 512 else 2
    times = {
        method: median_time(
            lambda method=method: integrate_normals(
                normals, mask if method == "masked" else full, method=method
            ),
            repeats,
        )
        for method in ("fft", "dct", "masked")
    }
    times["direct"] = (
        median_time(lambda: poisson_sparse_direct(normals), 2) if size <= 512 else float("nan")
    )
    return times


def bench_integrators(sizes: list[int], repeats: int) -> None:
    print("\nIntegrators (ms; fft and dct on the full frame, masked on the face mask)")
    print(f"  {'size':>6s} {'fft':>9s} {'dct':>9s} {'masked':>9s} {'sparse direct':>14s}")
    for size in sizes:
        t = time_integrators(size, repeats)
        ratio = f"   direct/dct {t['direct'] / t['dct']:.0f}x (target >= 20)" if size == 256 else ""
        print(
            f"  {size:4d}^2 {t['fft'] * 1e3:9.1f} {t['dct'] * 1e3:9.1f} "
            f"{t['masked'] * 1e3:9.1f} {t['direct'] * 1e3:14.1f}{ratio}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    args = parser.parse_args()
    repeats = 3 if args.quick else 9
    size = 256 if args.quick else 1024
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, numpy {np.__version__}")
    for n_lights in (4, 8):
        bench_solvers(size, n_lights, repeats)
    bench_integrators([128, 256] if args.quick else [128, 256, 512, 1024], repeats)


if __name__ == "__main__":
    main()
