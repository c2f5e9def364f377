"""Real-data figures of merit for a photometric-stereo solve, as pure array functions.

Every map is in the image frame: (H, W) or (H, W, 3), normals unit (x right, y up, z
toward the camera) or zero where a solver left the pixel unsolved. ``face`` is the
(H, W) bool mask of :func:`photostereo.realdata.reference.face_mask`.
"""

from __future__ import annotations

import numpy as np

#: Side of the square maps compared for recognition.
RECOGNITION_SIZE = 64
#: A held-out observation at or below this level is shadow and does not count (relighting).
LIT_FLOOR = 0.02
#: A held-out observation at or above this level is clipped and does not count (relighting).
SATURATION = 0.98


def angular_error_deg(normals: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(H, W) angle in degrees between two (H, W, 3) normal maps; NaN where either is zero.

    arccos(n . r / (|n| |r|)), with the cosine clipped to [-1, 1].
    """
    n = np.asarray(normals, np.float64)
    r = np.asarray(reference, np.float64)
    norms = np.linalg.norm(n, axis=-1) * np.linalg.norm(r, axis=-1)
    dot = np.einsum("...c,...c->...", n, r)
    cosine = np.divide(dot, norms, out=np.full_like(dot, np.nan), where=norms > 0)
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def session_error(
    normals: np.ndarray, solved: np.ndarray, reference: np.ndarray, face: np.ndarray
) -> tuple[float, float]:
    """(mean angular error in degrees, unsolved fraction) of one solve on the face.

    The mean is over face pixels the solver solved (NaN when it solved none); the
    unsolved fraction is |face & ~solved| / |face|, reported apart so that leaving a
    pixel unsolved never counts as an error of zero or of 90 degrees.
    """
    face = np.asarray(face, bool)
    scored = face & np.asarray(solved, bool)
    unsolved = unsolved_fraction(solved, face)
    if not scored.any():
        return float("nan"), unsolved
    return float(np.nanmean(angular_error_deg(normals[scored], reference[scored]))), unsolved


def unsolved_fraction(solved: np.ndarray, face: np.ndarray) -> float:
    """|face & ~solved| / |face|: the share of the face a solve left empty."""
    face = np.asarray(face, bool)
    return float((face & ~np.asarray(solved, bool)).sum() / max(int(face.sum()), 1))


def albedo_spread(albedos: np.ndarray, solved: np.ndarray, face: np.ndarray) -> float:
    """Mean over the face of each pixel's std / mean albedo across S sessions of one person.

    Parameters
    ----------
    albedos : (S, H, W) array
        The person's albedo maps from S sessions, in the captures' calibrated units (not
        normalised: Yale B's lights are equal, so a session whose albedo is off by a
        factor is a solver error, which normalising would hide).
    solved : (S, H, W) bool
    face : (H, W) bool

    Returns
    -------
    float
        mean_p sigma_p / mu_p over face pixels solved in every session, with sigma the
        population standard deviation; NaN when no pixel qualifies.
    """
    a = np.asarray(albedos, np.float64)
    pixels = np.asarray(face, bool) & np.asarray(solved, bool).all(axis=0)
    if not pixels.any():
        return float("nan")
    values = a[:, pixels]
    mean = values.mean(axis=0)
    ratio = np.divide(values.std(axis=0), mean, out=np.full_like(mean, np.nan), where=mean > 0)
    return float(np.nanmean(ratio))


def area_resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix averaging each output cell's span of the input (area resize).

    Output cell i covers [i n_in / n_out, (i + 1) n_in / n_out) of the input axis; entry
    (i, j) is the overlap of that span with input cell [j, j + 1), divided by the span's
    length, so each row sums to one.
    """
    edges = np.arange(n_out + 1) * (n_in / n_out)
    lo = np.maximum(edges[:-1, None], np.arange(n_in)[None, :])
    hi = np.minimum(edges[1:, None], np.arange(1, n_in + 1)[None, :])
    return np.clip(hi - lo, 0.0, None) / (n_in / n_out)


def resize_area(maps: np.ndarray, size: int = RECOGNITION_SIZE) -> np.ndarray:
    """(..., H, W) maps area-resized to (..., size, size) float32.

    out = R_H a R_W^T with the matrices of :func:`area_resize_matrix`; channels and
    batches go in the leading axes (a normal map as ``np.moveaxis(normals, -1, 0)``).
    Each matrix has at most ceil(n_in / n_out) + 1 non-zeros per row, so the products
    are computed as that many weighted gathers rather than dense matrix products.
    """
    a = np.asarray(maps, np.float32)
    return _resize_axis(_resize_axis(a, a.ndim - 2, size), a.ndim - 1, size)


def _resize_axis(a: np.ndarray, axis: int, size: int) -> np.ndarray:
    """``a`` with ``axis`` replaced by its area resize to ``size``: sum_j w_ij a[..., j, ...]."""
    matrix = area_resize_matrix(a.shape[axis], size).astype(np.float32)
    width = int((matrix > 0).sum(axis=1).max())
    columns = np.argsort(matrix <= 0, axis=1, kind="stable")[:, :width]  # non-zeros first
    weights = np.take_along_axis(matrix, columns, axis=1)
    shape = [1] * a.ndim
    shape[axis] = size
    out = np.zeros((*a.shape[:axis], size, *a.shape[axis + 1 :]), np.float32)
    for j in range(width):
        out += np.take(a, columns[:, j], axis=axis) * weights[:, j].reshape(shape)
    return out


def recognition_vector(small_map: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A resized map as a unit vector for cosine matching, over the pixels of ``mask``.

    ``small_map`` is (s, s) or (C, s, s) (see :func:`resize_area`), ``mask`` (s, s) bool.
    Each channel's mean over the mask is subtracted, the channels are concatenated and
    the result is divided by its L2 norm (a zero vector stays zero).
    """
    values = np.asarray(small_map, np.float64)[..., np.asarray(mask, bool)]
    return centred_unit_rows(values.reshape(1, -1, values.shape[-1]))[0]


def centred_unit_rows(values: np.ndarray) -> np.ndarray:
    """(n, C * P) unit rows from (n, C, P): each channel centred over its P values, the
    channels concatenated, each row divided by its L2 norm (a zero row stays zero)."""
    centred = values - values.mean(axis=-1, keepdims=True)
    flat = centred.reshape(len(values), -1)
    norm = np.linalg.norm(flat, axis=1, keepdims=True)
    return np.divide(flat, norm, out=np.zeros_like(flat), where=norm > 0)


def rank1(
    gallery: np.ndarray, gallery_labels: np.ndarray, probes: np.ndarray, probe_labels: np.ndarray
) -> float:
    """Fraction of probes whose most cosine-similar gallery vector has their label.

    ``gallery`` (G, D) and ``probes`` (P, D) are unit vectors (rows of
    :func:`recognition_vector`); the similarity is their dot product, ties go to the
    first gallery entry.
    """
    if len(probes) == 0:
        return float("nan")
    best = np.argmax(np.asarray(probes) @ np.asarray(gallery).T, axis=1)
    return float(np.mean(np.asarray(gallery_labels)[best] == np.asarray(probe_labels)))


def relighting_error(
    normals: np.ndarray,
    albedo: np.ndarray,
    solved: np.ndarray,
    directions: np.ndarray,
    held_out: np.ndarray,
    face: np.ndarray,
    *,
    lit_floor: float = LIT_FLOOR,
    saturation: float = SATURATION,
) -> float:
    """RMS error of predicting held-out captures, relative to their mean intensity.

    Parameters
    ----------
    normals : (H, W, 3), albedo : (H, W), solved : (H, W) bool
        A fit from other lights.
    directions : (K, 3)
        Unit directions of the K held-out lights (intensity 1).
    held_out : (K, H, W)
        The held-out captures.
    face : (H, W) bool

    Returns
    -------
    float
        sqrt(mean (I - max(0, rho n . l))^2) / mean(I) over every (k, pixel) with the
        pixel in ``face`` and ``solved`` and lit_floor < I < saturation: an observation in
        shadow (or clipped) is not a Lambertian measurement, so the model is not held to
        it. NaN when nothing qualifies.
    """
    observed = np.asarray(held_out, np.float64)
    b = np.asarray(normals, np.float64) * np.asarray(albedo, np.float64)[..., None]
    predicted = np.maximum(0.0, np.einsum("kc,hwc->khw", np.asarray(directions, np.float64), b))
    pixels = np.asarray(face, bool) & np.asarray(solved, bool)
    counted = pixels[None] & (observed > lit_floor) & (observed < saturation)
    if not counted.any():
        return float("nan")
    rms = np.sqrt(np.mean((observed[counted] - predicted[counted]) ** 2))
    return float(rms / observed[counted].mean())
