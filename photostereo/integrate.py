"""Normal integration: from a normal map to a depth map.

The integrators here minimise the same least-squares energy over a graph of pixels
(``"fft"`` its continuous, periodic form),

.. math::

    E(z) = \\sum_{(i, j) \\in \\mathcal{E}} \\big(z_j - z_i - g_{ij}\\big)^2,

where the edges :math:`\\mathcal{E}` join 4-neighbours, :math:`g_{ij}` is the depth step
along the edge predicted by the normals (the mean of the two endpoints' gradients, which is
the same as stacking a forward difference at ``i`` and a backward difference at ``j``), and
the minimiser solves the Poisson equation :math:`D^\\top D z = D^\\top g` (``D`` the
edge-node difference matrix, ``D^T D`` the graph Laplacian). They differ in the graph and in
the solver:

``"masked"``  (:func:`masked_least_squares`, the default)
    Edges only between two pixels inside the mask; a sparse solve over the masked pixels.
    The only one that leaves the face's silhouette free, so it is the one to use on faces.
``"dct"``  (:func:`dct_poisson`)
    The full rectangle with Neumann (free) boundary, solved exactly by a DCT in
    O(HW log HW) (Simchony et al. 1990). :func:`poisson_sparse_direct` is its slow
    reference: the same system through a sparse direct solver.
``"fft"``  (:func:`frankot_chellappa`)
    Continuous-frequency projection onto periodic integrable surfaces (Frankot &
    Chellappa 1988); assumes the surface wraps around at the image border.

Conventions (the project frame, see INTERFACES.md)
---------------------------------------------------
* ``normals`` is (H, W, 3), unit vectors ``(nx, ny, nz)``; x to the right along the
  columns, y *up* (against the row index), z toward the camera, ``(0, 0, 1)`` faces it.
* The surface is a depth map ``z(x, y)`` in pixel units (unit pixel spacing), larger
  meaning closer to the camera, so ``dz/dx = -nx/nz`` and ``dz/dy = -ny/nz``, and because
  the row index grows downward, ``dz/d(row) = +ny/nz``.
* Every integrator returns float32 (H, W), zero mean inside the mask (the constant of
  integration is not observable) and NaN outside it.
* A pixel inside the mask whose normal is non-finite, zero or faces away (``nz <= 0``)
  carries no slope: an edge to it takes its valid neighbour's slope alone, an edge
  between two such pixels a step of 0 (``"masked"``, ``"dct"``; ``"fft"`` sets the slope
  to 0). It still gets a depth, filled in smoothly from its neighbours.
* Near the silhouette ``nz -> 0`` and the slope ``|n_xy| / nz`` blows up, amplifying a
  normal error ``d`` into a slope error of about ``d / nz**2``. ``nz`` is therefore
  clamped from below at ``min_nz`` (default 0.1: slopes up to 10 depth pixels per pixel,
  a surface tilted up to 84 degrees, error amplification at most 100); steeper surfaces
  are integrated as if tilted 84 degrees, in the direction their normal says.

References
----------
.. [1] R. T. Frankot and R. Chellappa, "A method for enforcing integrability in shape from
   shading algorithms", IEEE TPAMI 10(4):439-451, 1988. doi:10.1109/34.3909
.. [2] T. Simchony, R. Chellappa and M. Shao, "Direct analytical methods for solving Poisson
   equations in computer vision problems", IEEE TPAMI 12(5):435-446, 1990.
   doi:10.1109/34.55103
.. [3] Y. Queau, J.-D. Durou and J.-F. Aujol, "Normal integration: a survey", J. Math.
   Imaging Vis. 60:576-593, 2018. doi:10.1007/s10851-017-0773-x
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.sparse
import scipy.sparse.linalg
from threadpoolctl import ThreadpoolController

from psbase.errors import ConfigError

__all__ = [
    "DEFAULT_MIN_NZ",
    "INTEGRATORS",
    "MASKED_SOLVERS",
    "build_difference_matrix",
    "dct_poisson",
    "frankot_chellappa",
    "integrate_normals",
    "masked_least_squares",
    "normal_gradients",
    "poisson_sparse_direct",
]

#: Lower clamp on nz when turning normals into slopes (slopes up to 1/0.1 = 10, 84 degrees).
DEFAULT_MIN_NZ = 0.1


# --------------------------------------------------------------------------- building blocks


def _check_inputs(normals: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Return ``normals`` as float64 (H, W, 3) and ``mask`` as bool (H, W).

    Raises ValueError if the normals are not (H, W, 3) or the mask's shape differs.
    """
    n = np.asarray(normals, dtype=np.float64)
    if n.ndim != 3 or n.shape[2] != 3:
        raise ValueError(f"normals must be an (H, W, 3) array, got shape {n.shape}")
    if mask is None:
        m = np.ones(n.shape[:2], dtype=bool)
    else:
        m = np.asarray(mask).astype(bool, copy=False)
        if m.shape != n.shape[:2]:
            raise ValueError(f"mask shape {m.shape} does not match the normals' {n.shape[:2]}")
    return n, m


def normal_gradients(
    normals: np.ndarray, *, min_nz: float = DEFAULT_MIN_NZ
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Depth gradients along the columns and rows implied by a normal map.

    Parameters
    ----------
    normals : (H, W, 3) array
        Normals ``(nx, ny, nz)`` in the project frame (need not be exactly unit length).
    min_nz : float, optional
        Lower clamp on the unit normal's ``nz``; bounds the slope at ``1 / min_nz``.

    Returns
    -------
    gx : (H, W) float64
        ``dz/d(column) = -nx / max(nz, min_nz)``; 0 where the normal is invalid.
    gr : (H, W) float64
        ``dz/d(row) = +ny / max(nz, min_nz)`` (rows grow downward, y up); 0 where invalid.
    valid : (H, W) bool
        False where the normal is non-finite, zero or has ``nz <= 0``.
    """
    if not 0.0 < min_nz <= 1.0:
        raise ConfigError(f"min_nz must be in (0, 1], got {min_nz}")
    n = np.asarray(normals, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        length = np.linalg.norm(n, axis=-1)
        valid = np.isfinite(length) & (length > 1e-12)
        unit = np.where(valid[..., None], n / np.where(valid, length, 1.0)[..., None], 0.0)
    valid &= unit[..., 2] > 0.0
    nz = np.maximum(unit[..., 2], min_nz)
    gx = np.where(valid, -unit[..., 0] / nz, 0.0)
    gr = np.where(valid, unit[..., 1] / nz, 0.0)
    return gx, gr, valid


def _finish(depth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Remove the mean inside ``mask``, put NaN outside, return float32."""
    out = np.full(depth.shape, np.nan, dtype=np.float32)
    if mask.any():
        inside = depth[mask]
        out[mask] = (inside - inside.mean()).astype(np.float32)
    return out


def _edges(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Flat pixel indices ``(tail, head)`` of the 4-neighbour edges inside ``mask``.

    Horizontal edges (left to right) come first, ``n_horizontal`` of them, then the
    vertical ones (top to bottom); an edge exists only if both its pixels are in the mask.
    """
    h, w = mask.shape
    idx = np.arange(h * w).reshape(h, w)
    right = mask[:, :-1] & mask[:, 1:]
    down = mask[:-1, :] & mask[1:, :]
    tail = np.concatenate([idx[:, :-1][right], idx[:-1, :][down]])
    head = np.concatenate([idx[:, 1:][right], idx[1:, :][down]])
    return tail, head, int(np.count_nonzero(right))


def _mean_of_valid(a: np.ndarray, b: np.ndarray, va: np.ndarray, vb: np.ndarray) -> np.ndarray:
    """Mean of ``a`` and ``b`` over the ones flagged valid; 0 where neither is."""
    count = va.astype(np.float64) + vb
    total = np.where(va, a, 0.0) + np.where(vb, b, 0.0)
    return total / np.maximum(count, 1.0)


def _edge_targets(
    gx: np.ndarray, gr: np.ndarray, valid: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges inside ``mask`` and the depth step each should carry.

    The step ``z[head] - z[tail]`` is the mean of the two pixels' gradients along the edge
    (forward difference at the tail plus backward difference at the head); where only one
    pixel has a valid normal its gradient alone, where neither does 0 (so holes are filled
    by a membrane, which keeps planes planar).

    Returns
    -------
    tail, head : (E,) int
        Flat pixel indices, as :func:`_edges`.
    g : (E,) float64
        Target steps.
    """
    tail, head, n_h = _edges(mask)
    gx, gr, v = gx.ravel(), gr.ravel(), valid.ravel()
    g = np.concatenate(
        [
            _mean_of_valid(gx[tail[:n_h]], gx[head[:n_h]], v[tail[:n_h]], v[head[:n_h]]),
            _mean_of_valid(gr[tail[n_h:]], gr[head[n_h:]], v[tail[n_h:]], v[head[n_h:]]),
        ]
    )
    return tail, head, g


def _grid_rhs(gx: np.ndarray, gr: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Right-hand side ``D^T g`` of the full-grid Neumann system, as an (H, W) array.

    Same targets as :func:`_edge_targets` on a full mask, computed by slicing; it is minus
    the divergence of the edge field with free (Neumann) borders.
    """
    eh = _mean_of_valid(gx[:, :-1], gx[:, 1:], valid[:, :-1], valid[:, 1:])
    ev = _mean_of_valid(gr[:-1, :], gr[1:, :], valid[:-1, :], valid[1:, :])
    b = np.zeros(gx.shape, dtype=np.float64)
    b[:, 1:] += eh
    b[:, :-1] -= eh
    b[1:, :] += ev
    b[:-1, :] -= ev
    return b


def build_difference_matrix(mask: np.ndarray) -> tuple[scipy.sparse.csr_array, np.ndarray]:
    """Edge-node difference matrix ``D`` over the masked pixels.

    Parameters
    ----------
    mask : (H, W) bool array

    Returns
    -------
    D : (E, N) sparse CSR
        Row ``e`` is ``z[head_e] - z[tail_e]`` over the edges of :func:`_edges`; column
        ``k`` is the masked pixel ``pixels[k]``.
    pixels : (N,) int
        Flat indices of the masked pixels, in raster order.
    """
    mask = np.asarray(mask, dtype=bool)
    pixels = np.flatnonzero(mask)
    column = np.full(mask.size, -1, dtype=np.int64)
    column[pixels] = np.arange(pixels.size)
    tail, head, _ = _edges(mask)
    n_edges = tail.size
    rows = np.repeat(np.arange(n_edges), 2)
    cols = np.column_stack([column[tail], column[head]]).ravel()
    vals = np.tile([-1.0, 1.0], n_edges)
    d = scipy.sparse.csr_array((vals, (rows, cols)), shape=(n_edges, pixels.size))
    return d, pixels


# --------------------------------------------------------------------------------- integrators


def frankot_chellappa(
    normals: np.ndarray, mask: np.ndarray | None = None, *, min_nz: float = DEFAULT_MIN_NZ
) -> np.ndarray:
    """Integrate normals by projecting their gradients onto periodic integrable surfaces.

    Minimises, over periodic ``z`` on the whole (H, W) grid,

    .. math::  \\iint (\\partial_x z - p)^2 + (\\partial_y z - q)^2 \\, dx\\,dy,

    ``p, q`` the slopes from the normals, in Fourier space with continuous frequencies:
    ``Z = -i (u P + v Q) / (u^2 + v^2)`` (Frankot & Chellappa 1988, [1]_ in the module
    references).

    Parameters
    ----------
    normals : (H, W, 3) array
        Normals in the project frame (x right, y up, z toward the camera).
    mask : (H, W) bool array, optional
        Pixels to keep; outside it (and where a normal is invalid) the slope is 0.
        Default: every pixel.
    min_nz : float, optional
        Lower clamp on ``nz`` (see the module notes).

    Returns
    -------
    depth : (H, W) float32
        Zero mean inside the mask, NaN outside.

    Notes
    -----
    Assumes the surface is periodic: a surface whose slopes do not vanish at the border
    (a tilted plane) or at the mask's edge (a face) comes back distorted. Cost
    O(HW log HW).
    """
    n, m = _check_inputs(normals, mask)
    gx, gr, valid = normal_gradients(n, min_nz=min_nz)
    keep = m & valid
    gx = np.where(keep, gx, 0.0)
    gr = np.where(keep, gr, 0.0)
    h, w = m.shape
    v = 2.0 * np.pi * scipy.fft.fftfreq(h)[:, None]  # rows
    u = 2.0 * np.pi * scipy.fft.rfftfreq(w)[None, :]  # columns
    denom = u**2 + v**2
    denom[0, 0] = 1.0
    z_hat = -1j * (u * scipy.fft.rfft2(gx) + v * scipy.fft.rfft2(gr)) / denom
    z_hat[0, 0] = 0.0
    return _finish(scipy.fft.irfft2(z_hat, s=(h, w)), m)


def dct_poisson(
    normals: np.ndarray, mask: np.ndarray | None = None, *, min_nz: float = DEFAULT_MIN_NZ
) -> np.ndarray:
    """Integrate normals by solving the Neumann Poisson equation on the grid with a DCT.

    Minimises, over ``z`` on the whole (H, W) grid,

    .. math::  \\sum_{r,c} (z_{r,c+1} - z_{r,c} - \\bar g^x_{r,c})^2
               + (z_{r+1,c} - z_{r,c} - \\bar g^r_{r,c})^2,

    ``\\bar g`` the mean of the two pixels' slopes. The normal equations ``L z = D^T g``
    have the Neumann grid Laplacian ``L``, which the type-II DCT diagonalises
    (eigenvalues ``4 - 2 cos(pi k / H) - 2 cos(pi l / W)``), so the solve is exact in
    O(HW log HW) (Simchony, Chellappa & Shao 1990, [2]_ in the module references).

    Parameters
    ----------
    normals : (H, W, 3) array
        Normals in the project frame (x right, y up, z toward the camera).
    mask : (H, W) bool array, optional
        Pixels to keep; outside it (and where a normal is invalid) the slope is unknown
        and the edge takes the other pixel's slope, or 0. Default: every pixel.
    min_nz : float, optional
        Lower clamp on ``nz`` (see the module notes).

    Returns
    -------
    depth : (H, W) float32
        Zero mean inside the mask, NaN outside.

    Notes
    -----
    The rectangle's border is free, so a tilted plane comes back exactly, but the mask's
    edge is not: the flat surface assumed outside it is fitted too. With a full mask this
    is exactly :func:`masked_least_squares`; :func:`poisson_sparse_direct` solves the same
    system with a sparse direct solver, as a reference.
    """
    n, m = _check_inputs(normals, mask)
    gx, gr, valid = normal_gradients(n, min_nz=min_nz)
    return _finish(_neumann_solve(_grid_rhs(gx, gr, valid & m)), m)


@functools.lru_cache(maxsize=16)
def _neumann_eigenvalues(h: int, w: int) -> np.ndarray:
    """The (H, W) Neumann Laplacian's DCT eigenvalues, the constant mode's set to 1
    (read-only; kept for the next face, as a CG solve asks for them at every step)."""
    lam = (2.0 - 2.0 * np.cos(np.pi * np.arange(h) / h))[:, None] + (
        2.0 - 2.0 * np.cos(np.pi * np.arange(w) / w)
    )[None, :]
    lam[0, 0] = 1.0
    lam.setflags(write=False)
    return lam


def _neumann_solve(b: np.ndarray) -> np.ndarray:
    """Zero-mean solution ``z`` of ``L z = b - mean(b)``, ``L`` the (H, W) Neumann Laplacian.

    The type-II DCT diagonalises ``L`` with eigenvalues
    ``4 - 2 cos(pi k / H) - 2 cos(pi l / W)``; the constant mode (eigenvalue 0) is dropped.
    """
    z_hat = scipy.fft.dctn(b, type=2, norm="ortho")
    z_hat /= _neumann_eigenvalues(*b.shape)
    z_hat[0, 0] = 0.0
    return scipy.fft.idctn(z_hat, type=2, norm="ortho")


def poisson_sparse_direct(
    normals: np.ndarray, mask: np.ndarray | None = None, *, min_nz: float = DEFAULT_MIN_NZ
) -> np.ndarray:
    """Slow reference for :func:`dct_poisson`: the same system by a sparse direct solve.

    Builds the full-grid difference matrix ``D`` explicitly, forms ``L = D^T D``, pins the
    first pixel (adds 1 to ``L[0, 0]``; since ``D^T g`` sums to zero this fixes
    ``z_0 = 0`` and leaves the rest exact) and solves with
    :func:`scipy.sparse.linalg.spsolve`. The benchmark's baseline and the tests' oracle;
    parameters and return as :func:`dct_poisson`.
    """
    n, m = _check_inputs(normals, mask)
    gx, gr, valid = normal_gradients(n, min_nz=min_nz)
    full = np.ones(m.shape, dtype=bool)
    d, _ = build_difference_matrix(full)
    _, _, g = _edge_targets(gx, gr, valid & m, full)
    lap = (d.T @ d + _pins(np.zeros(1, dtype=np.int64), d.shape[1])).tocsc()
    z = scipy.sparse.linalg.spsolve(lap, d.T @ g)
    return _finish(z.reshape(m.shape), m)


def _pins(index: np.ndarray, size: int) -> scipy.sparse.csr_array:
    """Sparse (size, size) matrix with ones on the diagonal at ``index``, zeros elsewhere."""
    return scipy.sparse.csr_array(
        (np.ones(index.size), (index, index)), shape=(size, size), dtype=np.float64
    )


#: Solvers accepted by :func:`masked_least_squares`, the default first.
MASKED_SOLVERS: tuple[str, ...] = ("pcg", "direct")

#: Relative residual at which the preconditioned CG stops (depth error ~1e-5 of its std,
#: far below what the normals carry).
PCG_RTOL = 1e-6

#: PCG iterations before falling back to the direct solver (faces need 10 to 20).
PCG_MAXITER = 100


def masked_least_squares(
    normals: np.ndarray,
    mask: np.ndarray | None,
    *,
    min_nz: float = DEFAULT_MIN_NZ,
    solver: str = "pcg",
) -> np.ndarray:
    """Integrate normals over the masked pixels only, by sparse least squares.

    Minimises, over the depths of the N masked pixels,

    .. math::  \\sum_{(i, j) \\in \\mathcal{E}_\\Omega} (z_j - z_i - \\bar g_{ij})^2,

    ``\\mathcal{E}_\\Omega`` the 4-neighbour edges with *both* pixels in the mask
    ``\\Omega`` and ``\\bar g_{ij}`` the mean of the two pixels' slopes along the edge
    (a forward difference at ``i`` stacked with a backward difference at ``j``). Nothing
    ties the mask's edge to the outside, so a non-rectangular face keeps its silhouette
    free: the discrete Poisson problem with Neumann boundary on ``\\Omega`` (Queau et
    al. 2018, [3]_ in the module references).

    Parameters
    ----------
    normals : (H, W, 3) array
        Normals in the project frame (x right, y up, z toward the camera); anything
        outside the mask is ignored.
    mask : (H, W) bool array or None
        The face. None means every pixel (then this equals :func:`dct_poisson`, slower).
    min_nz : float, optional
        Lower clamp on ``nz`` (see the module notes).
    solver : {"pcg", "direct"}, optional
        ``"pcg"`` (default): conjugate gradients preconditioned by the exact Neumann
        Poisson solve (DCT) on the mask's bounding box, falling back to ``"direct"`` if
        it has not converged after :data:`PCG_MAXITER` iterations. ``"direct"``: SuperLU
        factorisation, the slow reference.

    Returns
    -------
    depth : (H, W) float32
        Zero mean inside the mask (and in each of its 4-connected components), NaN
        outside.

    Notes
    -----
    The normal equations ``L z = D^T g`` have the mask's graph Laplacian ``L``, singular
    once per 4-connected component; ``D^T g`` sums to zero over each component, so the
    system is consistent and the gauge is fixed by zero mean per component.

    ``"pcg"`` runs CG on the singular system in the zero-mean-per-component subspace
    with the preconditioner ``r -> Pi R^T L_box^+ R Pi r`` (``R`` zero-extends to the
    bounding box, ``L_box^+`` the DCT Poisson solve, ``Pi`` removes each component's
    mean), which is symmetric and positive there. On compact masks the iteration count
    does not grow with the image (13 iterations at 256² and at 1024² on a face, to a
    residual of :data:`PCG_RTOL`), so the cost is a few dozen DCTs. ``"direct"`` pins one
    pixel per component (adds 1 to its diagonal entry, which leaves the solution exact
    up to a constant) and factorises with :func:`scipy.sparse.linalg.splu`
    (minimum-degree ordering on ``A + A^T``, symmetric mode; the fastest of the direct
    and Jacobi-CG variants measured). On a 1024² image with a 456k-pixel face ``"pcg"``
    took about 1.1 s, ``"direct"`` 4.3 s and algebraic multigrid (pyamg, smoothed
    aggregation CG) 2.3 s; ragged masks (13 blobs, salt holes) take 20 to 50 iterations.
    Memory scales with the bounding box (``"pcg"``) or the fill-in (``"direct"``).
    """
    if solver not in MASKED_SOLVERS:
        known = ", ".join(repr(name) for name in MASKED_SOLVERS)
        raise ConfigError(f"unknown solver {solver!r}; known: {known}")
    n, m = _check_inputs(normals, mask)
    out = np.zeros(m.shape, dtype=np.float64)
    if not m.any():
        return _finish(out, m)
    rows = np.flatnonzero(m.any(axis=1))
    cols = np.flatnonzero(m.any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    n, m_box = n[box], m[box]
    gx, gr, valid = normal_gradients(n, min_nz=min_nz)
    d, pixels = build_difference_matrix(m_box)
    _, _, g = _edge_targets(gx, gr, valid & m_box, m_box)
    labels, _ = scipy.ndimage.label(m_box)  # 4-connectivity, as the edges
    component = labels.ravel()[pixels] - 1
    lap = (d.T @ d).tocsr()
    rhs = d.T @ g
    z = None
    if solver == "pcg":
        z = _solve_pcg(lap, rhs, m_box.shape, pixels, component)
    if z is None:
        z = _solve_direct(lap, rhs, component)
    z -= (np.bincount(component, weights=z) / np.bincount(component))[component]
    inner = np.zeros(m_box.shape)
    inner.ravel()[pixels] = z
    out[box] = inner
    return _finish(out, m)


def _solve_direct(
    lap: scipy.sparse.csr_array, rhs: np.ndarray, component: np.ndarray
) -> np.ndarray:
    """Solve the consistent singular ``lap z = rhs`` exactly, one pixel per component at 0."""
    _, first = np.unique(component, return_index=True)
    pinned = (lap + _pins(first, lap.shape[0])).tocsc()
    lu = scipy.sparse.linalg.splu(
        pinned, permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True}
    )
    return lu.solve(rhs)


def _solve_pcg(
    lap: scipy.sparse.csr_array,
    rhs: np.ndarray,
    shape: tuple[int, int],
    pixels: np.ndarray,
    component: np.ndarray,
) -> np.ndarray | None:
    """Solve ``lap z = rhs`` by CG preconditioned with the box's DCT Poisson solve.

    Returns the solution with zero mean per component, or None if CG has not reached
    :data:`PCG_RTOL` after :data:`PCG_MAXITER` iterations.
    """
    count = np.bincount(component).astype(np.float64)

    def project(v: np.ndarray) -> np.ndarray:
        if count.size == 1:  # one piece, the usual face: its mean, without the gather
            return v - v.mean()
        return v - (np.bincount(component, weights=v) / count)[component]

    extended = np.zeros(shape, dtype=np.float64)

    def precondition(r: np.ndarray) -> np.ndarray:
        extended.ravel()[pixels] = project(r)
        return project(_neumann_solve(extended).ravel()[pixels])

    size = pixels.size
    preconditioner = scipy.sparse.linalg.LinearOperator((size, size), matvec=precondition)
    # CG's dot products are far too small to share among BLAS threads: threaded, they
    # ran 30 times slower on a busy two-core machine.
    with _blas_pools().limit(limits=1, user_api="blas"):
        z, info = scipy.sparse.linalg.cg(
            lap, project(rhs), M=preconditioner, rtol=PCG_RTOL, maxiter=PCG_MAXITER
        )
    return z if info == 0 else None


@functools.cache
def _blas_pools() -> ThreadpoolController:
    """The process's thread pools, found once: looking them up took 2 ms, as long as
    the rest of a 112 px face's solve."""
    return ThreadpoolController()


_Integrator = Callable[..., np.ndarray]

_BY_NAME: dict[str, _Integrator] = {
    "masked": masked_least_squares,
    "dct": dct_poisson,
    "fft": frankot_chellappa,
}

#: Names accepted by :func:`integrate_normals`, the default first.
INTEGRATORS: tuple[str, ...] = tuple(_BY_NAME)


def integrate_normals(
    normals: np.ndarray,
    mask: np.ndarray | None,
    *,
    method: str = "masked",
    min_nz: float = DEFAULT_MIN_NZ,
) -> np.ndarray:
    """Integrate a normal map into a depth map with the integrator named ``method``.

    Parameters
    ----------
    normals : (H, W, 3) array
        Unit normals ``(nx, ny, nz)``; x right, y up, z toward the camera.
    mask : (H, W) bool array or None
        The face; None means every pixel.
    method : {"masked", "dct", "fft"}, optional
        ``"masked"`` (default, :func:`masked_least_squares`) integrates over the mask
        only, leaving its edge free: a face's silhouette has steep slopes and nothing
        integrable joins it to the background, which the whole-rectangle integrators
        ``"dct"`` (:func:`dct_poisson`) and ``"fft"`` (:func:`frankot_chellappa`) must
        fit too, bending the face. Those two are faster and fine when the mask is the
        whole image.
    min_nz : float, optional
        Lower clamp on ``nz`` (see the module notes).

    Returns
    -------
    depth : (H, W) float32
        Pixel units, larger nearer the camera, zero mean inside the mask, NaN outside.

    Raises
    ------
    ValueError
        If ``method`` is not one of :data:`INTEGRATORS`, or the shapes are wrong.
    """
    try:
        integrator = _BY_NAME[method]
    except KeyError:
        known = ", ".join(repr(name) for name in INTEGRATORS)
        raise ConfigError(f"unknown integration method {method!r}; known: {known}") from None
    return integrator(normals, mask, min_nz=min_nz)
