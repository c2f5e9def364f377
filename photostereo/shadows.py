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
   the b solved in step 2 around it, suspects left out (normalised convolution on a
   pyramid, widening until it reaches: :mod:`photostereo.shadow_prior`):
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

Rigs of up to :data:`photostereo._shadow_kernels.MAX_SUBSET_LIGHTS` lights run as two
compiled passes over the frame with the prior blurred between them
(:mod:`photostereo._shadow_kernels`); :mod:`photostereo.shadow_steps` states the same
steps as NumPy, runs larger rigs and is what the tests hold the passes to.

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

import numpy as np

from photostereo import _shadow_kernels
from photostereo.shadow_passes import (
    PackedFirstPass,
    block_fields_compiled,
    first_pass_compiled,
    second_pass_compiled,
)
from photostereo.shadow_prior import block_fields, prior_grid, sample_prior
from photostereo.shadow_steps import (
    CastShadowTest,
    FirstPass,
    closest_to_prior,
    exposure,
    first_pass_numpy,
    leave_one_out_fits,
    misfit,
    rms_residual,
    second_pass_numpy,
    starved_pixels,
)
from photostereo.solver_common import HOW, PhotometricResult, prepare_inputs

__all__ = ["HOW", "NOISE_REFERENCE", "solve_shadow_aware"]

#: Step 5 pulls at full strength once the session's misfit reaches this.
NOISE_REFERENCE = 0.01


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
    k, width = len(s), requested.shape[1]
    inside = requested.reshape(-1)
    dark_level = dark_fraction * exposure(stack, valid, saturation, inside, requested.shape)
    thresholds = (saturation, dark_level, relative_shadow, max_condition)
    cast = CastShadowTest.for_lights(s, cast_shadow, max_condition)
    first: FirstPass | PackedFirstPass
    if k <= _shadow_kernels.MAX_SUBSET_LIGHTS:
        first = first_pass_compiled(stack, s, valid, inside, thresholds, cast)
        fields = block_fields_compiled(first, requested.shape)
    else:
        first = first_pass_numpy(stack, s, valid, inside, thresholds, cast)
        fields = _block_fields_numpy(first, k, requested.shape)
    grid = prior_grid(*fields)
    if first.suspect_cols.size:
        prior = sample_prior(grid, first.suspect_cols, width)
        _choose_cast_shadows(stack, s, first, prior, cast)
    pull = smoothing * min(1.0, (misfit(first, k, requested.shape) / NOISE_REFERENCE) ** 2)
    light_weight = float(np.mean(np.sum(s * s, axis=1))) / 3.0
    weights = (light_weight * prior_weight, light_weight * pull)
    if isinstance(first, PackedFirstPass):
        out, how = second_pass_compiled(stack, s, first, grid, width, weights)
    else:
        out, how = second_pass_numpy(
            stack, s, first, lambda cols: sample_prior(grid, cols, width), weights
        )
    return _result(out, how, requested)


def _choose_cast_shadows(
    stack: np.ndarray,
    s: np.ndarray,
    first: FirstPass | PackedFirstPass,
    prior: np.ndarray,
    cast: CastShadowTest,
) -> None:
    """Step 3's choice, in place: each suspect pixel takes the hypothesis (plain, or a
    leave-one-out fit) whose normal lies closest to the ``prior`` (3, n) there."""
    cols = first.suspect_cols
    hypotheses = leave_one_out_fits(stack[:, cols], s, first.b[:, cols], first.suspect_sets, cast)
    chosen = closest_to_prior(hypotheses, prior)
    moved = np.flatnonzero(chosen)
    cols, dropped = cols[moved], chosen[moved] - 1
    first.b[:, cols] = hypotheses[chosen[moved], :, moved].T
    others = np.arange(len(s))[:, None] != dropped
    first.residual[cols] = rms_residual(stack, s, first.b, cols, others)
    first.drop_cast_shadows(cols, dropped)


def _block_fields_numpy(
    first: FirstPass, k: int, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`photostereo.shadow_prior.block_fields` of the first pass's clean pixels."""
    well = (first.how == HOW["all lights"]) | (first.how == HOW["shadows dropped"])
    clean = well & ~first.suspect
    return block_fields(first.b, clean, well | starved_pixels(first, k), shape)


def _result(out: np.ndarray, how: np.ndarray, requested: np.ndarray) -> PhotometricResult:
    """Views of the (6, P) rows (normal x, y, z, albedo, residual, observations used)
    as (H, W) maps and (H, W, 3) normals."""
    h, w = requested.shape
    maps = out.reshape(6, h, w)
    albedo = maps[3]
    solved = albedo > 0
    return PhotometricResult(
        normals=np.moveaxis(maps[:3], 0, -1),
        albedo=albedo,
        mask=solved,
        residual=maps[4],
        n_used=maps[5].astype(np.uint8),
        underdetermined=requested & ~solved,
        how=how.reshape(h, w),
    )
