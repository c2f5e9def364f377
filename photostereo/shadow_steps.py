"""The shadow-aware solver's per-pixel steps as vectorised NumPy: their definition.

:mod:`photostereo._shadow_kernels` compiles the same steps into two passes over the
frame; the tests hold the two together on every pixel, and rigs of more than
:data:`photostereo._shadow_kernels.MAX_SUBSET_LIGHTS` lights run these. The steps
and their reasons are in :mod:`photostereo.shadows`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from photostereo.lambert_fit import condition_numbers, weighted_fit
from photostereo.solver_common import HOW, MIN_OBSERVATIONS

#: Exposure of a session: this percentile of its usable observations.
EXPOSURE_PERCENTILE = 99.0
#: Observations (exposure) and pixels (misfit) a session's statistics are taken over.
STATISTICS_SAMPLE = 65536


@dataclass
class FirstPass:
    """Steps 1 to 3 per pixel, P pixels of K lights.

    ``b`` (3, P) float64, zero outside the mask; ``how`` (P,) uint8: 0 outside the mask,
    else 1, 2 or 4 of :data:`HOW`; ``residual`` (P,) RMS over the observations used;
    ``lit_count`` (P,) lit observations; ``lit`` and ``usable``: which observations are
    lit and usable, (K, P) bool here and (P,) bit masks (bit k: light k) in the compiled
    pass; ``suspect`` (P,): nonzero where step 3 suspects a light; ``suspect_cols`` (n,)
    those pixels and ``suspect_sets`` (K, n) bool the lights suspected at each.
    """

    b: np.ndarray
    how: np.ndarray
    residual: np.ndarray
    lit_count: np.ndarray
    lit: np.ndarray
    usable: np.ndarray
    suspect: np.ndarray
    suspect_cols: np.ndarray
    suspect_sets: np.ndarray


@dataclass(frozen=True)
class CastShadowTest:
    """Step 3's constants: ``shortfall`` (a fraction of the prediction), and per light
    whether it may be left out (``spare``: the others are well conditioned) and
    ``free`` = 1 - h_k, its leverage's complement (1 where not spare)."""

    shortfall: float
    spare: np.ndarray
    free: np.ndarray

    @classmethod
    def for_lights(cls, s: np.ndarray, shortfall: float, max_condition: float) -> CastShadowTest:
        k = len(s)
        if k < 4:
            return cls(shortfall, np.zeros(k, bool), np.ones(k))
        leverage = np.einsum("kc,cd,kd->k", s, np.linalg.inv(s.T @ s), s)
        spare = condition_numbers(s, ~np.eye(k, dtype=bool)) <= max_condition
        spare &= leverage < 1.0 - 1e-9
        return cls(shortfall, spare, np.where(spare, 1.0 - leverage, 1.0))


def exposure(stack: np.ndarray, valid: np.ndarray | None, saturation: float, requested) -> float:
    """The session's exposure: :data:`EXPOSURE_PERCENTILE` of its usable observations,
    over a regular sample of the requested pixels (about :data:`STATISTICS_SAMPLE`
    observations, plenty for a percentile)."""
    k, n = stack.shape
    step = max(1, int(np.count_nonzero(requested)) * k // STATISTICS_SAMPLE)
    cols = np.arange(0, n, step)
    cols = cols[requested[cols]]
    flags = None if valid is None else np.asarray(valid, bool).reshape(k, n)[:, cols]
    sample = stack[:, cols]
    sample = sample[usable_observations(sample, flags, saturation)]
    return float(np.percentile(sample, EXPOSURE_PERCENTILE)) if sample.size else 0.0


def misfit(first: FirstPass, k: int) -> float:
    """How far the session's captures stray from Lambert's law: the median residual RMS
    over albedo of the pixels every light lit, over a regular sample of at most
    :data:`STATISTICS_SAMPLE` pixels (0 with three lights: no redundancy)."""
    if k < 4:
        return 0.0
    cols = np.arange(0, first.how.size, max(1, first.how.size // STATISTICS_SAMPLE))
    cols = cols[(first.how[cols] == HOW["all lights"]) & (first.lit_count[cols] == k)]
    albedo = np.sqrt((first.b[:, cols] ** 2).sum(axis=0))
    if not (albedo > 0).any():
        return 0.0
    return float(np.median(first.residual[cols][albedo > 0] / albedo[albedo > 0]))


def usable_observations(
    stack: np.ndarray, valid: np.ndarray | None, saturation: float
) -> np.ndarray:
    """(K, P) bool: observations neither marked invalid nor at the saturation level."""
    usable = stack < np.float64(saturation)  # compared in float64, as the kernel does
    if valid is not None:
        usable &= np.asarray(valid, bool).reshape(stack.shape)
    return usable


def lit_observations(
    stack: np.ndarray, usable: np.ndarray, dark_level: float, relative_shadow: float
) -> np.ndarray:
    """(K, n) bool: usable observations above both dark floors."""
    brightest = np.where(usable, stack, 0).max(axis=0).astype(np.float64)
    return usable & (stack > np.float64(dark_level)) & (stack > relative_shadow * brightest)


def rms_residual(
    stack: np.ndarray, s: np.ndarray, b: np.ndarray, cols: np.ndarray | slice, used: np.ndarray
) -> np.ndarray:
    """RMS of I - S b over the ``used`` observations of the ``cols`` pixels."""
    r = np.where(used, _residuals(stack[:, cols], s, b[:, cols]), 0.0)
    return np.sqrt((r * r).sum(axis=0) / np.maximum(used.sum(axis=0), 1))


def _residuals(obs: np.ndarray, s: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(K, n) I - S b, summed in the compiled passes' order."""
    return obs.astype(np.float64) - (s[:, 0:1] * b[0] + s[:, 1:2] * b[1] + s[:, 2:3] * b[2])


def first_pass_numpy(
    stack: np.ndarray,
    s: np.ndarray,
    valid: np.ndarray | None,
    requested: np.ndarray,
    thresholds: tuple,
    cast: CastShadowTest,
) -> FirstPass:
    """Steps 1 to 3 (which lights to trust, the fit from them, which lights a cast
    shadow may darken) over the ``requested`` pixels (P,) bool. ``thresholds`` is
    (saturation, dark level, relative shadow, max condition)."""
    saturation, dark_level, relative_shadow, max_condition = thresholds
    k = len(s)
    usable = usable_observations(stack, valid, saturation)
    lit = lit_observations(stack, usable, dark_level, relative_shadow)
    b_all, _ = weighted_fit(s, stack, usable)
    b_lit, well = weighted_fit(s, stack, lit)
    lit_count = lit.sum(axis=0)
    guarded = (lit_count == k) | (condition_numbers(s, lit) <= max_condition)
    well &= (lit_count >= MIN_OBSERVATIONS) & guarded & requested
    how = np.where(well, HOW["all lights"], HOW["plain"])
    how = np.where(well & (lit_count < usable.sum(axis=0)), HOW["shadows dropped"], how)
    how = np.where(requested, how, HOW["unsolved"]).astype(np.uint8)
    b = np.where(well, b_lit, np.where(requested, b_all, 0.0))
    residual = rms_residual(stack, s, b, slice(None), np.where(well, lit, usable))
    every = np.flatnonzero(well & (lit_count == k))
    suspect_sets = cast_shadow_suspects(stack[:, every], s, b[:, every], dark_level, cast)
    suspect = np.zeros(stack.shape[1], bool)
    suspect[every] = suspect_sets.any(axis=0)
    return FirstPass(
        b=b,
        how=how,
        residual=np.where(requested, residual, 0.0),
        lit_count=np.where(requested, lit_count, 0).astype(np.uint8),
        lit=lit & requested,
        usable=usable & requested,
        suspect=suspect,
        suspect_cols=every[suspect[every]],
        suspect_sets=suspect_sets[:, suspect[every]],
    )


def cast_shadow_suspects(
    obs: np.ndarray, s: np.ndarray, b: np.ndarray, dark_level: float, cast: CastShadowTest
) -> np.ndarray:
    """(K, n) which lights of pixels every light lit step 3 suspects of a cast shadow.

    Light k is suspect where the fit of the other lights predicts more than it shows,
    by ``shortfall`` of the prediction (shadows only darken), or predicts a negative
    value while it shows light (attached shadow), and in both by more than the dark
    level. Leave-one-out needs no refit (Cook and Weisberg 1982): with r = I - S b and
    the leverage h_k of the hat matrix S (S^T S)^-1 S^T, the others predict I_k + r_k'
    with r_k' = -r_k / (1 - h_k). With five or more lights dropping k must also remove
    most of the residual.
    """
    k = len(s)
    if k < 4:
        return np.zeros(obs.shape, bool)
    residual = _residuals(obs, s, b)
    missing = -residual / cast.free[:, None]
    predicted = obs + missing
    darkened = missing > cast.shortfall * predicted  # a cast shadow
    unreachable = predicted < 0.0  # attached: what shows is room or bounced light
    suspect = (darkened | unreachable) & (np.abs(missing) > dark_level)
    suspect &= cast.spare[:, None]
    if k > 4:
        rss = (residual * residual).sum(axis=0)
        suspect &= rss - residual * residual / cast.free[:, None] <= 0.25 * rss
    return suspect


def leave_one_out_fits(
    obs: np.ndarray, s: np.ndarray, b: np.ndarray, suspect_sets: np.ndarray, cast: CastShadowTest
) -> np.ndarray:
    """(1 + K, 3, n) hypotheses for suspect pixels: b, then the fit without light k,
    b_k = b - (S^T S)^-1 s_k r_k / (1 - h_k) (NaN where k is not suspect there)."""
    residual = _residuals(obs, s, b)
    steps = np.einsum("cd,kd,kn->kcn", np.linalg.inv(s.T @ s), s, residual / cast.free[:, None])
    hypotheses = np.where(suspect_sets[:, None, :], b[None] - steps, np.nan)
    return np.concatenate([b[None], hypotheses])


def closest_to_prior(hypotheses: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """(n,) index of the hypothesis (1 + K, 3, n; NaN: none) whose normal is closest to
    the prior's (3, n): 0, plain, where no prior reaches and on ties."""
    unit = hypotheses / np.linalg.norm(hypotheses, axis=1, keepdims=True)
    cosine = np.einsum("hcn,cn->hn", unit, prior / np.linalg.norm(prior, axis=0))
    closest = np.argmax(np.where(np.isnan(cosine), -np.inf, cosine), axis=0)
    return np.where(np.isfinite(prior[0]), closest, 0)


def subset_tables(s: np.ndarray, max_condition: float) -> tuple[np.ndarray, np.ndarray]:
    """Step 2's decision and solution for every subset of the K lights, indexed by its
    bit mask (bit k: light k): whether a pixel whose lit lights are that subset is
    solved from them alone (three or more, determining b, and well conditioned unless
    they are every light), and the (3, K) operator giving b from the K observations
    (least squares over the subset; zero where the subset does not determine b). The
    same functions as :func:`first_pass_numpy` decide, column by column."""
    k = len(s)
    members = subset_members(k)
    _, determined = weighted_fit(s, np.zeros(members.shape), members)
    count = members.sum(axis=0)
    guarded = (count == k) | (condition_numbers(s, members) <= max_condition)
    lit_ok = determined & (count >= MIN_OBSERVATIONS) & guarded
    normal = np.einsum("km,kc,kd->mcd", members.astype(np.float64), s, s)
    normal[~determined] = np.eye(3)
    operators = np.linalg.inv(normal) @ (s.T[None] * members.T[:, None, :])
    operators[~determined] = 0.0
    return lit_ok, np.ascontiguousarray(operators)


def starved_pixels(first: FirstPass, k: int) -> np.ndarray:
    """(P,) step 4's pixels: plain least squares, with some lights lit or clipped (the
    first pass's ``lit`` and ``usable`` as (K, P) bool)."""
    partly_lit = (first.lit_count > 0) & (first.lit_count < k)
    clipped = first.usable.sum(axis=0) < k
    return (first.how == HOW["plain"]) & (partly_lit | clipped)


def subset_members(k: int) -> np.ndarray:
    """(K, 2^K) bool: the lights of each subset, indexed by its bit mask (bit k: light k)."""
    return ((np.arange(2**k)[None, :] >> np.arange(k)[:, None]) & 1).astype(bool)


def second_pass_numpy(
    stack: np.ndarray,
    s: np.ndarray,
    first: FirstPass,
    prior_at,
    weights: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Steps 4 and 5 and the split of b into normal and albedo.

    A pixel asked for whose lit lights could not be trusted alone, but which has lit or
    clipped observations, is *starved*; it, and where the pull (``weights`` = (lambda
    starved, lambda pull)) is on every pixel its own lights solved except those step 3
    moved, is solved again from its lit observations with the neighbour prior
    ``prior_at(cols) -> (3, n)`` (NaN where none reaches). Returns the (6, P) float32
    rows of :mod:`photostereo._kernels` (normal x, y, z, albedo, residual, observations
    used; zero where unsolved) and ``how`` (P,) uint8.
    """
    b, how, residual = first.b.copy(), first.how.copy(), first.residual.copy()
    well = (how != HOW["plain"]) & (how != HOW["unsolved"])
    usable_count = first.usable.sum(axis=0)
    starved = starved_pixels(first, len(s))
    pulled = starved | (well & (weights[1] > 0) & (how != HOW["cast shadow"]))
    cols = np.flatnonzero(pulled)
    prior = prior_at(cols)
    reached = np.isfinite(prior[0])
    cols, prior = cols[reached], prior[:, reached]
    used = first.lit[:, cols]
    weight = np.where(starved[cols], weights[0], weights[1])
    fitted, ok = weighted_fit(s, stack[:, cols], used, prior=(weight, prior))
    b[:, cols] = np.where(ok, fitted, b[:, cols])
    how[cols[ok & starved[cols]]] = HOW["neighbours"]
    residual[cols] = rms_residual(stack, s, b, cols, used)
    used_count = np.where(how == HOW["plain"], usable_count, first.lit_count)
    albedo = np.sqrt((b * b).sum(axis=0))
    solved = (how != HOW["unsolved"]) & (albedo > 1e-8)
    out = np.zeros((6, b.shape[1]), np.float32)
    out[:3] = np.where(solved, b / np.where(solved, albedo, 1.0), 0.0)
    out[3] = np.where(solved, albedo, 0.0)
    out[4] = np.where(solved, residual, 0.0)
    out[5] = np.where(solved, np.minimum(used_count, 255), 0)
    return out, np.where(solved, how, HOW["unsolved"]).astype(np.uint8)
