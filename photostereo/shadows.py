"""Shadow-aware photometric stereo that does no harm on real faces.

Model (Lambertian, Woodham 1980): ``I_k = e_k rho max(0, l_k . n)``; with s_k = e_k l_k
and b = rho n every lit observation is linear in b, and an observation in attached
shadow carries no equation at all (plain least squares wrongly reads it as l_k . n = 0
and bends the normal away from the light). The solver:

1. **Trust.** An observation is usable unless marked invalid (saturated in the raw
   capture, outside the frame after alignment) or at or above ``saturation``. A usable
   observation is *dark* below ``dark_fraction`` of the session's exposure (the 99th
   percentile of its usable observations) or below ``relative_shadow`` of the pixel's
   brightest: a shadow. Both floors are relative, so a dim 16-bit session keeps its face.
2. **Drop the dark ones where that is safe.** Least squares on the lit observations,
   ``(sum_k s_k s_k^T) b = sum_k I_k s_k``, is kept where at least three remain and,
   unless every light is used, their lights are well conditioned: ``cond(S_lit) <=
   max_condition`` (saturated and invalid observations count as missing too). A pixel
   every light lights usably is plain least squares. Dropping a light
   from a clustered rig leaves lights nearly in one plane, and the noise they amplify
   outweighs the shadow's bias: on real Extended Yale B faces dropping dark observations
   everywhere was up to 13 degrees worse than plain least squares on a session, and with
   the guard never more than 0.7 worse (see benchmarks/RESULTS.md).
3. **Cast shadows decided by the neighbours.** A light darkened by a cast shadow but
   lifted off the dark floor by room light stays in step 2's fit. Where every light is
   lit, light k is *suspect* when the fit of the others predicts it brighter than it
   shows by ``cast_shadow`` of the prediction (shadows only darken), or predicts it
   facing away while it shows light (an attached shadow lifted by room light). Which
   light is shadowed cannot be read from one pixel: with four lights every
   leave-one-out fit is exact, and the two lights on one diagonal of a symmetric rig
   leave the same residual. So each suspect's fit without it is a *hypothesis*, and
   the one whose normal lies closest to the neighbour prior (step 4's, from pixels with no
   suspect) wins, plain least squares included: a pixel changes only where a
   leave-one-out fit agrees with its neighbours better than plain does. On Extended
   Yale B this took four-light sessions from 0.96x to 0.95x plain's error and six-light
   ones from 0.90x to 0.85x; on the Photoface rig with one light dimmed to 40% on a
   patch the patches' median error fell from 32-57 degrees to 0.0.

4. **Neighbours where dropping is not safe.** A pixel with dark, saturated or invalid
   observations whose lit lights cannot determine b alone is solved from the lit
   observations it has plus a prior from its neighbours, the Gaussian-weighted mean of
   the b solved in step 2 around it, suspects left out (normalised convolution, widening until it
   reaches, :data:`PRIOR_SIGMAS`):
   ``(A_lit + lambda I) b = sum_k I_k s_k + lambda b_prior``.
   A pixel with no lit observation because they are all clipped or invalid takes the
   prior itself. With two lit observations the data fix two directions and the neighbours the third,
   as Hernandez, Vogiatzis and Cipolla do with integrability ("Shadows in three-source
   photometric stereo", ECCV 2008). A pixel no prior reaches keeps plain least squares
   over its usable observations, so nothing plain solves is left unsolved.
5. **A gentle pull toward the neighbours everywhere else.** Every other pixel solved
   from its own lights (steps 2 and 3, cast-shadow pixels excepted: their prior is
   extrapolated from outside the shadow) is solved again with the same lights and the
   same prior at weight ``smoothing``, scaled by how noisy the session is: by
   (misfit / :data:`NOISE_REFERENCE`)^2, capped at 1, where the misfit is the median
   residual over albedo of the pixels every light lit. A session that obeys Lambert's
   law exactly (and any three-light session, which has no redundancy to tell) is left
   as it is; a noisy one trades a little bias at sharp curvature for much less noise. On
   Extended Yale B (misfit 0.01-0.05) it took four-light sessions from 0.93x to 0.90x
   plain's error and their albedo spread from 0.93x to 0.89x; on the realistic
   synthetic faces (misfit 0.003-0.006) it moved the Photoface rig from 0.95x to 0.97x.

``how`` records per pixel which step solved it (:data:`HOW`).

References
----------
R. J. Woodham, "Photometric method for determining surface orientation from multiple
images", Optical Engineering 19(1), 1980. doi:10.1117/12.7972479
R. D. Cook and S. Weisberg, "Residuals and influence in regression", Chapman and Hall,
1982 (leave-one-out fits without refitting).
C. Hernandez, G. Vogiatzis and R. Cipolla, "Shadows in three-source photometric
stereo", ECCV 2008. doi:10.1007/978-3-540-88682-2_23
"""

from __future__ import annotations

import cv2
import numpy as np

from photostereo import _kernels
from photostereo.solver_common import MIN_OBSERVATIONS, PhotometricResult, prepare_inputs

#: Codes of :attr:`PhotometricResult.how`.
HOW = {
    "unsolved": 0,
    "all lights": 1,
    "shadows dropped": 2,
    "neighbours": 3,
    "plain": 4,
    "cast shadow": 5,
}
#: Exposure of a session: this percentile of its usable observations.
EXPOSURE_PERCENTILE = 99.0
#: Step 5 pulls at full strength once the session's misfit (:func:`_misfit`) reaches this.
NOISE_REFERENCE = 0.01
#: Widths (pixels) of the neighbour prior's Gaussian, tried in turn until it reaches.
PRIOR_SIGMAS = (2.0, 4.0, 8.0, 16.0, 32.0, 64.0)


def solve_shadow_aware(
    images: np.ndarray,
    directions: np.ndarray,
    *,
    intensities: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    saturation: float = 0.98,
    dark_fraction: float = 0.02,
    relative_shadow: float = 0.05,
    max_condition: float = 8.0,
    prior_weight: float = 0.25,
    cast_shadow: float = 0.3,
    smoothing: float = 0.5,
) -> PhotometricResult:
    """Normals and albedo, dropping shadowed observations where that is safe.

    Parameters
    ----------
    images : (K, H, W) array
        Captures, one per light, linear in radiance.
    directions : (K, 3) array
        Unit light directions (toward the light), image frame.
    intensities : (K,) array, optional
        Relative light intensities (default all 1); divided out of the albedo.
    mask : (H, W) bool array, optional
        Pixels to solve (default all).
    valid : (K, H, W) bool array, optional
        Observations that may be used at all (False: saturated in the raw capture, or
        outside the frame after alignment).
    saturation : float
        Observations at or above this level are clipped and not used.
    dark_fraction, relative_shadow : float
        Dark floors: of the session's exposure, and of the pixel's brightest observation.
    max_condition : float
        Largest condition number of the lit lights' matrix for which dark observations
        are dropped (step 2).
    prior_weight : float
        lambda of step 4, relative to one light's weight (the mean of |s_k|^2 / 3). Small,
        so the data decide every direction they can and the neighbours the rest: on
        Extended Yale B four-light sessions 0.25 gave 12.18 degrees against 12.36 with
        1.0 and an albedo spread 0.93x plain's against 0.94x; below 0.1 noisy pixels
        follow their data too far (0.03: one session 2.1 degrees worse than plain).
    smoothing : float
        lambda of step 5 for a session at :data:`NOISE_REFERENCE` or above, in the
        same units.
    cast_shadow : float
        Step 3: how far below the others' prediction (a fraction of it) a light must be
        to be suspected of a cast shadow.

    Returns
    -------
    PhotometricResult
        With ``how`` (:data:`HOW`) per pixel.
    """
    stack, lights, requested = prepare_inputs(images, directions, intensities, mask)
    s = lights.astype(np.float64)
    usable = _usable(stack, valid, saturation)
    thresholds = (saturation, dark_fraction * _exposure(stack, usable, requested), relative_shadow)
    compiled = len(lights) <= _kernels.MAX_SUBSET_LIGHTS
    first_fit = first_fit_compiled if compiled else first_fit_numpy
    b, how, lit_count, residual = first_fit(stack, s, valid, (*thresholds, max_condition))
    inside = requested.reshape(-1)
    well = inside & (how != HOW["plain"])
    partly_lit = (lit_count > 0) & (lit_count < len(s))
    clipped = usable.sum(axis=0) < len(s)  # some observation clipped or invalid
    starved = inside & ~well & (partly_lit | clipped)
    every_light = np.flatnonzero(well & (how == HOW["all lights"]) & (lit_count == len(s)))
    suspects, hypotheses = _cast_shadow_hypotheses(
        stack, s, b, every_light, thresholds[1], cast_shadow, max_condition
    )
    pull = smoothing * min(1.0, (_misfit(residual, b, every_light, len(s)) / NOISE_REFERENCE) ** 2)
    clean = well.copy()  # the prior comes from the pixels asked for, suspects left out
    clean[suspects] = False
    if clean.any():
        cols = np.flatnonzero(well | starved)
        prior = _neighbour_prior(b, clean, requested.shape, cols)
        if suspects.size:
            chosen = _closest_to_prior(hypotheses, prior[:, suspects])
            moved = np.flatnonzero(chosen)
            b[:, suspects[moved]] = hypotheses[chosen[moved], :, moved].T
            how[suspects[moved]] = HOW["cast shadow"]
            lit_count[suspects[moved]] -= 1
            others = np.arange(len(s))[:, None] != chosen[moved] - 1
            residual[suspects[moved]] = _rms_residual(stack, s, b, suspects[moved], others)
        # a cast-shadow pixel's prior is extrapolated from outside the shadow: keep its fit;
        # without a pull (an exact or three-light session) step 5 would refit to the same b
        pulled = starved[cols] | ((pull > 0) & (how[cols] != HOW["cast shadow"]))
        cols = cols[np.isfinite(prior[0, cols]) & pulled]
        used = _lit(stack[:, cols], usable[:, cols], *thresholds[1:])
        light_weight = float(np.mean(np.sum(s * s, axis=1))) / 3.0
        weight = light_weight * np.where(starved[cols], prior_weight, pull)
        fitted, ok = weighted_fit(s, stack[:, cols], used, prior=(weight, prior[:, cols]))
        b[:, cols] = np.where(ok, fitted, b[:, cols])
        how[cols[ok & starved[cols]]] = HOW["neighbours"]
        residual[cols] = _rms_residual(stack, s, b, cols, used)
    used_count = np.where(how == HOW["plain"], usable.sum(axis=0), lit_count)
    return _result(b, how, used_count, residual, requested)


def _misfit(residual: np.ndarray, b: np.ndarray, every_light: np.ndarray, k: int) -> float:
    """How far the session's captures stray from Lambert's law: the median residual RMS
    over albedo of the pixels every light lit (0 with three lights: no redundancy)."""
    albedo = np.sqrt((b[:, every_light] ** 2).sum(axis=0))
    if k < 4 or not (albedo > 0).any():
        return 0.0
    return float(np.median(residual[every_light][albedo > 0] / albedo[albedo > 0]))


def _rms_residual(
    stack: np.ndarray, s: np.ndarray, b: np.ndarray, cols: np.ndarray | slice, used: np.ndarray
) -> np.ndarray:
    """RMS of I - S b over the ``used`` observations of the ``cols`` pixels."""
    r = np.where(used, stack[:, cols] - s @ b[:, cols], 0.0)
    return np.sqrt((r * r).sum(axis=0) / np.maximum(used.sum(axis=0), 1))


def first_fit_numpy(
    stack: np.ndarray, s: np.ndarray, valid: np.ndarray | None, thresholds: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Steps 1 and 2 as vectorised NumPy, the definition the compiled kernel is held to.

    ``thresholds`` is (saturation, dark level, relative shadow, max condition). Returns
    b (3, P) float64, ``how`` (P,) uint8 (1, 2 or 4 of :data:`HOW`), the number of lit
    observations (P,) and the residual RMS over the observations used (P,).
    """
    saturation, dark_level, relative_shadow, max_condition = thresholds
    usable = _usable(stack, valid, saturation)
    lit = _lit(stack, usable, dark_level, relative_shadow)
    b_all, _ = weighted_fit(s, stack, usable)
    b_lit, well = weighted_fit(s, stack, lit)
    lit_count = lit.sum(axis=0)
    guarded = (lit_count == len(s)) | (_condition(s, lit) <= max_condition)
    well &= (lit_count >= MIN_OBSERVATIONS) & guarded
    how = np.where(well, HOW["all lights"], HOW["plain"])
    how = np.where(well & (lit_count < usable.sum(axis=0)), HOW["shadows dropped"], how)
    b = np.where(well, b_lit, b_all)
    residual = _rms_residual(stack, s, b, slice(None), np.where(well, lit, usable))
    return b, how.astype(np.uint8), lit_count, residual


def first_fit_compiled(
    stack: np.ndarray, s: np.ndarray, valid: np.ndarray | None, thresholds: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Steps 1 and 2 in one compiled pass (:func:`photostereo._kernels.shadow`): the
    results of :func:`first_fit_numpy`, its per-subset decisions read from
    :func:`subset_tables`."""
    n = stack.shape[1]
    b = np.empty((3, n), np.float64)
    how = np.empty(n, np.uint8)
    lit_count = np.empty(n, np.int64)
    residual = np.empty(n, np.float64)
    flags = np.zeros((0, 0), bool) if valid is None else np.asarray(valid, bool)
    flags = flags.reshape(stack.shape) if flags.size else flags
    *levels, max_condition = (float(t) for t in thresholds)
    lit_ok, pinv = subset_tables(s, max_condition)
    kernel = _kernels.shadow(len(s))
    kernel(stack, flags, tuple(levels), lit_ok, pinv, s, b, how, lit_count, residual)
    return b, how, lit_count, residual


def subset_tables(s: np.ndarray, max_condition: float) -> tuple[np.ndarray, np.ndarray]:
    """Step 2's decision and solution for every subset of the K lights, indexed by its
    bit mask (bit k: light k): whether a pixel whose lit lights are that subset is
    solved from them alone (three or more, determining b, and well conditioned unless
    they are every light), and the (3, K) operator giving b from the K observations
    (least squares over the subset; zero where the subset does not determine b). The
    same functions as :func:`first_fit_numpy` decide, column by column."""
    k = len(s)
    members = ((np.arange(2**k)[None, :] >> np.arange(k)[:, None]) & 1).astype(bool)
    _, determined = weighted_fit(s, np.zeros(members.shape), members)
    count = members.sum(axis=0)
    guarded = (count == k) | (_condition(s, members) <= max_condition)
    lit_ok = determined & (count >= MIN_OBSERVATIONS) & guarded
    normal = np.einsum("km,kc,kd->mcd", members.astype(np.float64), s, s)
    normal[~determined] = np.eye(3)
    operators = np.linalg.inv(normal) @ (s.T[None] * members.T[:, None, :])
    operators[~determined] = 0.0
    return lit_ok, np.ascontiguousarray(operators)


def _cast_shadow_hypotheses(
    stack: np.ndarray,
    s: np.ndarray,
    b: np.ndarray,
    full: np.ndarray,
    dark_level: float,
    shortfall: float,
    max_condition: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Which of the ``full`` pixels (flat indices, every light lit) may have one light in
    a shadow, and their fits (step 3).

    Light k is suspect where the fit of the other lights predicts more than it shows,
    by ``shortfall`` of the prediction (shadows only darken), or predicts a negative
    value while it shows light (attached shadow), and in both by more than the dark
    level.
    Leave-one-out needs no refit (Cook and Weisberg 1982): with r = I - S b and the
    leverage h_k of the hat matrix S (S^T S)^-1 S^T, the others predict
    I_k + r_k' with r_k' = -r_k / (1 - h_k), and fit b_k = b - (S^T S)^-1 s_k r_k / (1 - h_k).
    With five or more lights dropping k must also remove most of the residual. Returns
    the suspect pixels (flat indices, n) and (1 + K, 3, n) hypotheses: b, then b_k
    (NaN where light k is not suspect there).
    """
    k = len(s)
    if k < 4 or full.size == 0:
        return np.zeros(0, np.int64), np.zeros((k + 1, 3, 0))
    inverse = np.linalg.inv(s.T @ s)
    leverage = np.einsum("kc,cd,kd->k", s, inverse, s)
    spare = _condition(s, ~np.eye(k, dtype=bool)) <= max_condition  # light i left out
    spare &= leverage < 1.0 - 1e-9
    free = np.where(spare, 1.0 - leverage, 1.0)[:, None]
    obs = stack[:, full].astype(np.float64)
    residual = obs - s @ b[:, full]
    missing = -residual / free
    predicted = obs + missing
    darkened = missing > shortfall * predicted  # a cast shadow
    unreachable = predicted < 0.0  # attached: what shows is room or bounced light
    suspect = (darkened | unreachable) & (np.abs(missing) > dark_level)
    suspect &= spare[:, None]
    if k > 4:
        rss = (residual * residual).sum(axis=0)
        suspect &= rss - residual**2 / free <= 0.25 * rss
    any_suspect = suspect.any(axis=0)
    cols = full[any_suspect]
    suspect, residual = suspect[:, any_suspect], residual[:, any_suspect]
    steps = np.einsum("cd,kd,kn->kcn", inverse, s, residual / free)
    hypotheses = b[:, cols][None] - steps
    hypotheses = np.where(suspect[:, None, :], hypotheses, np.nan)
    return cols, np.concatenate([b[:, cols][None], hypotheses])


def _closest_to_prior(hypotheses: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """(n,) index of the hypothesis (1 + K, 3, n; NaN: none) whose normal is closest to
    the prior's (3, n): 0, plain, where no prior reaches and on ties."""
    unit = hypotheses / np.linalg.norm(hypotheses, axis=1, keepdims=True)
    cosine = np.einsum("hcn,cn->hn", unit, prior / np.linalg.norm(prior, axis=0))
    closest = np.argmax(np.where(np.isnan(cosine), -np.inf, cosine), axis=0)
    return np.where(np.isfinite(prior[0]), closest, 0)


def _usable(stack: np.ndarray, valid: np.ndarray | None, saturation: float) -> np.ndarray:
    """(K, P) bool: observations neither marked invalid nor at the saturation level."""
    usable = stack < np.float64(saturation)  # compared in float64, as the kernel does
    if valid is not None:
        usable &= np.asarray(valid, bool).reshape(stack.shape)
    return usable


def _exposure(stack: np.ndarray, usable: np.ndarray, requested: np.ndarray) -> float:
    """The session's exposure: :data:`EXPOSURE_PERCENTILE` of its usable observations
    (of a regular sample of at most a million, plenty for a percentile)."""
    cols = np.flatnonzero(requested.reshape(-1))
    cols = cols[:: max(1, cols.size * stack.shape[0] // 1_000_000)]
    sample = stack[:, cols][usable[:, cols]]
    return float(np.percentile(sample, EXPOSURE_PERCENTILE)) if sample.size else 0.0


def _lit(
    stack: np.ndarray, usable: np.ndarray, dark_level: float, relative_shadow: float
) -> np.ndarray:
    """(K, n) bool: usable observations above both dark floors."""
    brightest = np.where(usable, stack, 0).max(axis=0).astype(np.float64)
    return usable & (stack > np.float64(dark_level)) & (stack > relative_shadow * brightest)


def _packed_normal_matrix(s: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(6, P): the entries a, b, c, d, e, f of sum_k w_k s_k s_k^T = [[a b c] [b d e] [c e f]]."""
    sx, sy, sz = s[:, 0], s[:, 1], s[:, 2]
    outer = np.stack([sx * sx, sx * sy, sx * sz, sy * sy, sy * sz, sz * sz])
    return outer @ w.astype(np.float64)


def weighted_fit(
    s: np.ndarray,
    obs: np.ndarray,
    w: np.ndarray,
    *,
    prior: tuple[float | np.ndarray, np.ndarray] | None = None,
    tolerance: float = 1e-12,
) -> tuple[np.ndarray, np.ndarray]:
    """Solve (sum_k w_k s_k s_k^T + lambda I) b = sum_k w_k I_k s_k + lambda b0 per pixel.

    ``prior`` is ``(lambda, b0 (3, P))``. Returns b (3, P), zero where the system is
    singular (determinant at most ``tolerance`` times the cube of the mean eigenvalue),
    and a flag (P,) that is False there.
    """
    a, b_, c, d, e, f = _packed_normal_matrix(s, w)
    rhs = s.T @ (w * obs)
    if prior is not None:
        weight, b0 = prior
        a, d, f = a + weight, d + weight, f + weight
        rhs = rhs + weight * b0
    c00, c01, c02 = d * f - e * e, c * e - b_ * f, b_ * e - c * d
    c11, c12, c22 = a * f - c * c, b_ * c - a * e, a * d - b_ * b_
    det = a * c00 + b_ * c01 + c * c02
    ok = det > tolerance * np.maximum((a + d + f) / 3.0, 1e-300) ** 3
    inv_det = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    x, y, z = rhs
    solution = np.stack(
        [
            (c00 * x + c01 * y + c02 * z) * inv_det,
            (c01 * x + c11 * y + c12 * z) * inv_det,
            (c02 * x + c12 * y + c22 * z) * inv_det,
        ]
    )
    return solution, ok


def _condition(s: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(P,) condition number of each pixel's weighted light matrix, sqrt of that of
    sum_k w_k s_k s_k^T, whose eigenvalues come in closed form (Smith 1961)."""
    a, b, c, d, e, f = _packed_normal_matrix(s, w)
    q = (a + d + f) / 3.0
    p1 = b * b + c * c + e * e
    p2 = (a - q) ** 2 + (d - q) ** 2 + (f - q) ** 2 + 2.0 * p1
    p = np.sqrt(np.maximum(p2, 0.0) / 6.0)
    safe = np.where(p > 1e-300, p, 1.0)
    ba, bd, bf = (a - q) / safe, (d - q) / safe, (f - q) / safe
    bb, bc, be = b / safe, c / safe, e / safe
    half_det = 0.5 * (
        ba * (bd * bf - be * be) - bb * (bb * bf - be * bc) + bc * (bb * be - bd * bc)
    )
    phi = np.arccos(np.clip(half_det, -1.0, 1.0)) / 3.0
    largest = q + 2.0 * p * np.cos(phi)
    smallest = q + 2.0 * p * np.cos(phi + 2.0 * np.pi / 3.0)
    ratio = largest / np.where(smallest > 0, smallest, 1.0)
    return np.where(smallest > 1e-12 * np.maximum(largest, 1e-300), np.sqrt(ratio), np.inf)


def _neighbour_prior(
    b: np.ndarray, solved: np.ndarray, shape: tuple[int, int], needed: np.ndarray
) -> np.ndarray:
    """(3, P) Gaussian-weighted mean of the solved b around each pixel (NaN where none
    is within reach), for the ``needed`` pixels (flat indices) at least.

    Normalised convolution: the Gaussian (2 pixels wide) runs over the block means of a
    pyramid, level L standing for a width of 2 * 2^L, and the first level that reaches a
    pixel gives its prior, so wide holes cost no more than narrow ones. A prior needs
    no float64: OpenCV blurs the weight and the weighted b as one four-channel float32
    image, and only the blocks around the needed pixels feed the finest level.
    """
    weight = solved.reshape(shape).astype(np.float32)
    fields = np.empty((*shape, 4), np.float32)
    fields[..., 0] = weight
    fields[..., 1:] = np.moveaxis(b.reshape(3, *shape), 0, -1) * weight[..., None]
    prior = np.full((3, shape[0] * shape[1]), np.nan)
    todo = np.asarray(needed)
    rows, cols = np.divmod(todo, shape[1])
    for level in range(len(PRIOR_SIGMAS)):
        factor = 2**level
        if level:
            fields = _block_means(fields)
        smooth = cv2.GaussianBlur(fields, (17, 17), 2.0, borderType=cv2.BORDER_CONSTANT)
        picked = smooth[rows // factor, cols // factor]
        here = picked[:, 0] > 1e-3
        prior[:, todo[here]] = (picked[here, 1:] / picked[here, :1]).T
        todo, rows, cols = todo[~here], rows[~here], cols[~here]
        if todo.size == 0:
            break
    return prior


def _block_means(fields: np.ndarray) -> np.ndarray:
    """(ceil(H / 2), ceil(W / 2), C) means over 2 x 2 blocks (zero-padded at the edges)."""
    h, w = fields.shape[:2]
    if h % 2 or w % 2:
        fields = cv2.copyMakeBorder(fields, 0, h % 2, 0, w % 2, cv2.BORDER_CONSTANT, value=0)
    return cv2.resize(
        fields, (fields.shape[1] // 2, fields.shape[0] // 2), interpolation=cv2.INTER_AREA
    )


def _result(
    b: np.ndarray,
    how: np.ndarray,
    used_count: np.ndarray,
    residual: np.ndarray,
    requested: np.ndarray,
) -> PhotometricResult:
    """Split b = rho n into albedo and unit normals, zero where unsolved."""
    h, w = requested.shape
    albedo = np.sqrt((b * b).sum(axis=0))
    solved = requested.reshape(-1) & (albedo > 1e-8)
    normals = b / np.where(solved, albedo, np.inf)
    n_used = np.where(solved, np.minimum(used_count, 255), 0).astype(np.uint8)
    return PhotometricResult(
        normals=np.moveaxis(normals.reshape(3, h, w), 0, -1).astype(np.float32),
        albedo=np.where(solved, albedo, 0.0).reshape(h, w).astype(np.float32),
        mask=solved.reshape(h, w),
        residual=np.where(solved, residual, 0.0).reshape(h, w).astype(np.float32),
        n_used=n_used.reshape(h, w),
        underdetermined=requested & ~solved.reshape(h, w),
        how=np.where(solved, how, HOW["unsolved"]).reshape(h, w).astype(np.uint8),
    )
