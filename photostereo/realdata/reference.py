"""The many-light reference a few-light solve is scored against, and the face it scores on.

On real captures there is no ground-truth normal map. With dozens of lights, though,
each pixel is over-determined many times over, and a fit that ignores the observations
the Lambertian model cannot explain (shadows, which are the darkest; highlights and
clipping, which are the brightest) is far more accurate than any 3-6 light solve. That
fit is the *reference*; the *face mask* is where it is trustworthy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Fraction of each pixel's observations dropped from the dark end (shadows).
DROP_DARKEST = 0.3
#: Fraction of each pixel's observations dropped from the bright end (highlights, clipping).
DROP_BRIGHTEST = 0.1
#: Face pixels have a reference albedo at least this fraction of the image's median albedo.
MIN_ALBEDO_FRACTION = 0.5
#: Face pixels have a reference RMS residual at most this fraction of their albedo.
MAX_RELATIVE_RESIDUAL = 0.12
#: Face pixels' kept lights span 3-D: the smallest eigenvalue of their mean s s^T is above this.
MIN_LIGHT_SPREAD = 0.02


@dataclass(frozen=True)
class ReferenceFit:
    """A many-light fit of one person.

    Attributes
    ----------
    normals : (H, W, 3) float32
        Unit normals (x right, y up, z toward the camera).
    albedo : (H, W) float32
        rho = |b|.
    relative_residual : (H, W) float32
        RMS of I_k - s_k . b over the kept observations, divided by the albedo.
    light_spread : (H, W) float32
        Smallest eigenvalue of (1/|T|) sum_{k in T} s_k s_k^T over the kept lights T:
        near 0 where the kept lights are nearly coplanar and b is poorly determined.
    """

    normals: np.ndarray
    albedo: np.ndarray
    relative_residual: np.ndarray
    light_spread: np.ndarray


def trimmed_fit(
    images: np.ndarray,
    directions: np.ndarray,
    *,
    drop_darkest: float = DROP_DARKEST,
    drop_brightest: float = DROP_BRIGHTEST,
) -> ReferenceFit:
    """Trimmed least-squares Lambertian fit: each pixel ignores its darkest and brightest.

    Parameters
    ----------
    images : (K, H, W) array
        Captures linear in radiance, one per light (K well above 3: dozens).
    directions : (K, 3) array
        Unit light directions (toward the light), equal intensities.
    drop_darkest, drop_brightest : float
        Fractions of each pixel's K observations dropped from each end.

    Returns
    -------
    ReferenceFit

    Notes
    -----
    With I_k = rho max(0, s_k . n) + noise, rank a pixel's observations by brightness
    and keep T = {k : floor(a K) <= rank_k < K - floor(c K)} (a = ``drop_darkest``,
    c = ``drop_brightest``). Then

        b = argmin_b sum_{k in T} (I_k - s_k . b)^2,   i.e.  (sum_T s s^T) b = sum_T I_k s_k,

    rho = |b| and n = b / rho. The darkest observations of a pixel are its attached and
    cast shadows (an attached shadow is exactly where s_k . n <= 0, the darkest part of
    the rank order), the brightest are specular highlights and clipping, so the kept
    middle is where the Lambertian model holds. Vectorised over pixels: one argsort over
    the light axis and one batched 3 x 3 solve. Pixels whose kept lights are singular get
    zero normal and albedo.
    """
    stack = np.asarray(images, np.float64)
    k, h, w = stack.shape
    lights = np.asarray(directions, np.float64)
    if lights.shape != (k, 3):
        raise ValueError(f"directions must be ({k}, 3) for {k} images, got {lights.shape}")
    low, high = int(np.floor(drop_darkest * k)), k - int(np.floor(drop_brightest * k))
    if high - low < 3:
        raise ValueError(f"trimming {low} dark and {k - high} bright of {k} leaves fewer than 3")
    obs = stack.reshape(k, h * w)
    keep = _middle_ranks(obs, low, high)
    b, gram = _weighted_solve(lights, obs, keep)
    albedo = np.linalg.norm(b, axis=0)
    residual = obs - lights @ b
    rms = np.sqrt(np.einsum("kp,kp->p", keep * residual, residual) / (high - low))
    spread = np.linalg.eigvalsh(gram / (high - low))[:, 0]
    normals = np.divide(b, albedo, out=np.zeros_like(b), where=albedo > 0)
    relative = np.divide(rms, albedo, out=np.full_like(rms, np.inf), where=albedo > 0)
    return ReferenceFit(
        normals=normals.T.reshape(h, w, 3).astype(np.float32),
        albedo=albedo.reshape(h, w).astype(np.float32),
        relative_residual=relative.reshape(h, w).astype(np.float32),
        light_spread=spread.reshape(h, w).astype(np.float32),
    )


def face_mask(
    reference: ReferenceFit,
    *,
    min_albedo_fraction: float = MIN_ALBEDO_FRACTION,
    max_relative_residual: float = MAX_RELATIVE_RESIDUAL,
    min_light_spread: float = MIN_LIGHT_SPREAD,
) -> np.ndarray:
    """(H, W) bool: pixels where the reference is bright, well fitted and well determined.

    A pixel is face when rho >= ``min_albedo_fraction`` x median(rho) (this drops hair,
    eyebrows, pupils, nostrils and dark background), its relative residual is at most
    ``max_relative_residual`` (drops eyes, glasses and other non-Lambertian spots) and
    its kept lights' light spread is at least ``min_light_spread`` (b determined).
    """
    albedo = reference.albedo
    bright = albedo >= min_albedo_fraction * np.median(albedo)
    fitted = reference.relative_residual <= max_relative_residual
    determined = reference.light_spread >= min_light_spread
    return bright & fitted & determined


def _middle_ranks(obs: np.ndarray, low: int, high: int) -> np.ndarray:
    """(K, P) float 0/1: 1 where an observation's rank in its column is in [low, high).

    Ranks come from a stable sort, so ties (saturated or zero observations) are broken
    by light order and every pixel keeps exactly high - low observations.
    """
    order = np.argsort(np.ascontiguousarray(obs.T), axis=1, kind="stable")  # (P, K)
    keep = np.zeros(order.shape, np.float64)
    np.put_along_axis(keep, order[:, low:high], 1.0, axis=1)
    return np.ascontiguousarray(keep.T)


def _weighted_solve(
    lights: np.ndarray, obs: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """b (3, P) solving (sum_k w_k s_k s_k^T) b = sum_k w_k I_k s_k, and the (P, 3, 3) Gram.

    Singular systems give b = 0.
    """
    outer = (lights[:, :, None] * lights[:, None, :]).reshape(len(lights), 9)
    gram = (weights.T @ outer).reshape(-1, 3, 3)
    rhs = (weights * obs).T @ lights  # (P, 3)
    det = np.linalg.det(gram)
    ok = np.abs(det) > 1e-12
    b = np.zeros_like(rhs)
    b[ok] = np.linalg.solve(gram[ok], rhs[ok][..., None])[..., 0]
    return b.T, gram
