"""Physical cues that tell a live face from a photograph, a screen or a mask.

A multi-light rig measures a surface, not a picture, and the things attackers hold up
break the physics in ways one photograph cannot show:

* **Relief.** A print is a plane: its normals are constant. Paper bent into a curve
  still cannot stretch, so its Gaussian curvature is zero everywhere (Gauss's Theorema
  Egregium) and its normals sweep a curve on the sphere, not an area. A face is curved
  both ways: its normals fill a patch of the sphere. Two cues measure this over the
  central face region: ``normal_spread``, the normals' spread along their least-spread
  direction (the square root of the smallest eigenvalue of their covariance: zero for
  any sheet bent about one axis), and ``curvature``, the total absolute Gaussian
  curvature, ``sum |det d(n_x, n_y)/d(x, y)|`` over the region in steradians (the area
  the normals sweep, projected on the image plane).
* **Depth relief.** ``depth_relief``: the RMS height of the integrated depth above
  the best-fitting plane, as a fraction of the region's width.
* **Light-to-light variation.** A screen emits its own light; the flashes barely change
  it. ``light_variation``: the median over the region of the captures' standard
  deviation across lights over their mean (after the lights' intensities).
* **Photometric fit.** ``residual``: the median RMS residual of the Lambertian fit over
  the median albedo.
* **Albedo and shape.** Skin's reflectance does not depend on which way the skin faces;
  a print or a mask carries a photograph's shading in its reflectance.
  ``albedo_shading``: the share of the albedo's variance over the region that the
  normal's components explain linearly (R^2).

The region is the central ellipse of the aligned crop (:data:`REGION_AXES`), within the
solved mask: the inner face (eyes, nose, mouth, cheeks), wherever the face detector or
the centred crop puts it.

References
----------
K. Patel, H. Han and A. K. Jain, "Secure face unlock: spoof detection on smartphones",
IEEE TIFS 11(10), 2016 (surveys the cues: texture, motion, 3D).
ISO/IEC 30107-3:2023, "Biometric presentation attack detection, part 3: testing and
reporting".
"""

from __future__ import annotations

import cv2
import numpy as np

#: Semi-axes of the central face region, as fractions of the crop's width and height.
REGION_AXES = (0.22, 0.28)
#: Gaussian smoothing of the normals (pixels per 112 px of crop) before differentiating.
SMOOTHING = 1.5
#: Cue names, in the order :func:`cue_vector` returns them.
CUES = (
    "normal_spread",
    "curvature",
    "depth_relief",
    "light_variation",
    "residual",
    "albedo_shading",
)
#: Fewer region pixels than this and no cue is measured (NaN).
MIN_REGION_PIXELS = 50


def face_region(size: int) -> np.ndarray:
    """(size, size) bool: the central ellipse of the crop (:data:`REGION_AXES`)."""
    centres = (np.arange(size) + 0.5) / size - 0.5
    ax, ay = REGION_AXES
    return (centres[None, :] / ax) ** 2 + (centres[:, None] / ay) ** 2 < 1.0


def cue_vector(
    images: np.ndarray,
    intensities: np.ndarray,
    normals: np.ndarray,
    albedo: np.ndarray,
    depth: np.ndarray,
    mask: np.ndarray,
    residual: np.ndarray,
) -> np.ndarray:
    """The :data:`CUES` of one aligned session, float64 (NaN where too little is solved).

    ``images`` (K, S, S) the aligned captures, ``intensities`` (K,), ``normals`` (S, S, 3),
    ``albedo``, ``depth``, ``residual`` (S, S) and ``mask`` (S, S) bool, the solved region.
    """
    size = mask.shape[0]
    region = mask.astype(bool) & face_region(size)
    if np.count_nonzero(region) < MIN_REGION_PIXELS:
        return np.full(len(CUES), np.nan)
    n = normals[region].astype(np.float64)
    a = albedo[region].astype(np.float64)
    return np.array(
        [
            _normal_spread(n),
            _curvature(normals, region),
            _depth_relief(depth, region),
            _light_variation(images, intensities, region),
            float(np.median(residual[region]) / max(np.median(a), 1e-6)),
            _explained_share(a, n),
        ]
    )


def _normal_spread(n: np.ndarray) -> float:
    """Square root of the smallest eigenvalue of the normals' (P, 3) covariance."""
    return float(np.sqrt(max(np.linalg.eigvalsh(np.cov(n.T))[0], 0.0)))


def _curvature(normals: np.ndarray, region: np.ndarray) -> float:
    """Total absolute Gaussian curvature over ``region``: sum |det d(n_x, n_y)/d(x, y)|
    of the smoothed normal field (y up), in steradians."""
    sigma = SMOOTHING * region.shape[0] / 112
    blurred = cv2.GaussianBlur(np.ascontiguousarray(normals, np.float32), (0, 0), sigma)
    smooth = blurred / np.maximum(np.linalg.norm(blurred, axis=-1, keepdims=True), 1e-6)
    d_nx_dy, d_nx_dx = np.gradient(smooth[..., 0])
    d_ny_dy, d_ny_dx = np.gradient(smooth[..., 1])
    det = d_nx_dx * -d_ny_dy - -d_nx_dy * d_ny_dx  # rows run down: d/dy = -d/drow
    return float(np.abs(det[region]).sum())


def _depth_relief(depth: np.ndarray, region: np.ndarray) -> float:
    """RMS of the depth above its least-squares plane over ``region``, over its width."""
    rows, cols = np.nonzero(region)
    design = np.column_stack([np.ones(rows.size), rows, cols]).astype(np.float64)
    z = depth[region].astype(np.float64)
    coefficients, *_ = np.linalg.lstsq(design, z, rcond=None)
    width = max(float(cols.max() - cols.min() + 1), 1.0)
    return float(np.sqrt(np.mean((z - design @ coefficients) ** 2)) / width)


def _light_variation(images: np.ndarray, intensities: np.ndarray, region: np.ndarray) -> float:
    """Median over ``region`` of std over mean across the lights' (intensity-divided)
    captures."""
    observed = images[:, region].astype(np.float64) / np.asarray(intensities, np.float64)[:, None]
    mean = observed.mean(axis=0)
    lit = mean > 1e-4
    if not lit.any():
        return 0.0
    return float(np.median(observed.std(axis=0)[lit] / mean[lit]))


def _explained_share(a: np.ndarray, n: np.ndarray) -> float:
    """R^2 of the least-squares fit of ``a`` (P,) by 1, n_x, n_y, n_z."""
    design = np.column_stack([np.ones(len(n)), n])
    coefficients, *_ = np.linalg.lstsq(design, a, rcond=None)
    total = float(np.var(a))
    if total <= 0:
        return 0.0
    return float(max(0.0, 1.0 - np.var(a - design @ coefficients) / total))
