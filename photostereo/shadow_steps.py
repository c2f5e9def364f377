"""The shadow-aware solver's per-pixel steps as vectorised NumPy: their definition.

:mod:`photostereo._shadow_kernels` compiles the same steps into passes over the frame;
the tests hold the two together on every pixel, bit for bit, and rigs of more than
:data:`photostereo._shadow_kernels.MAX_SUBSET_LIGHTS` lights run these. The steps and
their reasons are in :mod:`photostereo.shadows`.

The per-pixel arithmetic is float32, one light at a time, in the order the compiled
passes run it (NumPy's float32 operations round exactly as the compiled ones do), so
the two agree exactly, decisions on thresholds included. Which subsets of lights are
trusted is decided in float64, per subset (:func:`subset_decisions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from photostereo.lambert_fit import condition_numbers, regularised_inverses
from photostereo.solver_common import HOW, MIN_OBSERVATIONS

#: Exposure of a session: this percentile of its usable observations.
EXPOSURE_PERCENTILE = 99.0
#: Observations (exposure) and pixels (misfit) a session's statistics are taken over.
STATISTICS_SAMPLE = 16384
#: A regularised 3 x 3 system counts as singular below this determinant over the cube
#: of its mean eigenvalue.
SINGULAR = np.float32(1e-6)

_F32 = np.float32


@dataclass(frozen=True)
class Lights:
    """A rig's constants in the float32 the passes compute with: ``s`` (K, 3) (s_k = e_k
    l_k) and ``outer`` (K, 6), the entries xx, xy, xz, yy, yz, zz of s_k s_k^T."""

    s: np.ndarray
    outer: np.ndarray

    @classmethod
    def of(cls, s: np.ndarray) -> Lights:
        s32 = np.asarray(s, np.float32)
        pairs = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
        outer = np.stack([s32[:, p] * s32[:, q] for p, q in pairs], axis=1)
        return cls(np.ascontiguousarray(s32), np.ascontiguousarray(outer))


@dataclass
class FittedPixels:
    """What steps 1 to 3 leave in either form (:class:`FirstPass`, or the compiled
    pass's packed one): ``fit`` (4, P) float32, b and the RMS residual over the
    observations used, zero outside the mask; ``suspect_cols`` (n,) the pixels where
    step 3 suspects a light, and ``suspect_sets`` (K, n) bool the lights suspected."""

    fit: np.ndarray
    suspect_cols: np.ndarray
    suspect_sets: np.ndarray

    @property
    def b(self) -> np.ndarray:
        return self.fit[:3]

    @property
    def residual(self) -> np.ndarray:
        return self.fit[3]


@dataclass
class FirstPass(FittedPixels):
    """Steps 1 to 3 per pixel, P pixels of K lights, as NumPy arrays: ``how`` (P,)
    uint8: 0 outside the mask, else 1, 2 or 4 of :data:`HOW` (5 once step 3 moves a
    pixel); ``lit`` and ``usable`` (K, P) bool; ``suspect`` (P,) bool: where step 3
    suspects a light.
    """

    how: np.ndarray
    lit: np.ndarray
    usable: np.ndarray
    suspect: np.ndarray

    def every_light_lit(self, sample) -> np.ndarray:
        """(n,) bool: step 2 solved the pixels ``sample(values (..., P)) -> (..., n)``
        picks from every light, all of them lit."""
        return (sample(self.how) == HOW["all lights"]) & sample(self.lit).all(axis=0)

    def drop_cast_shadows(self, cols: np.ndarray, lights: np.ndarray) -> None:
        """Step 3 moved pixels ``cols``: they no longer count light ``lights`` as lit."""
        self.how[cols] = HOW["cast shadow"]
        self.lit[lights, cols] = False


@dataclass(frozen=True)
class CastShadowTest:
    """Step 3's constants: ``shortfall`` (a fraction of the prediction), and per light
    whether it may be left out (``spare``: the others are well conditioned) and
    ``free`` = 1 - h_k, its leverage's complement (1 where not spare), with its float32
    reciprocal ``inverse_free``."""

    shortfall: float
    spare: np.ndarray
    free: np.ndarray

    @property
    def inverse_free(self) -> np.ndarray:
        return (1.0 / self.free).astype(np.float32)

    @classmethod
    def for_lights(cls, s: np.ndarray, shortfall: float, max_condition: float) -> CastShadowTest:
        return _cast_shadow_test(np.asarray(s, np.float64).tobytes(), shortfall, max_condition)

    @classmethod
    def _build(cls, s: np.ndarray, shortfall: float, max_condition: float) -> CastShadowTest:
        k = len(s)
        if k < 4:
            return cls(shortfall, np.zeros(k, bool), np.ones(k))
        leverage = np.einsum("kc,cd,kd->k", s, np.linalg.inv(s.T @ s), s)
        spare = condition_numbers(s, ~np.eye(k, dtype=bool)) <= max_condition
        spare &= leverage < 1.0 - 1e-9
        return cls(shortfall, spare, np.where(spare, 1.0 - leverage, 1.0))


@lru_cache(maxsize=64)
def _cast_shadow_test(light_bytes: bytes, shortfall: float, max_condition: float) -> CastShadowTest:
    """:meth:`CastShadowTest.for_lights`, once per rig (a batch shares one)."""
    s = np.frombuffer(light_bytes).reshape(-1, 3)
    return CastShadowTest._build(s, shortfall, max_condition)


def exposure(
    stack: np.ndarray,
    valid: np.ndarray | None,
    saturation: float,
    requested: np.ndarray,
    shape: tuple[int, int],
) -> float:
    """The session's exposure: :data:`EXPOSURE_PERCENTILE` of its usable observations,
    over every few rows of the requested pixels (about :data:`STATISTICS_SAMPLE`
    observations, plenty for a percentile; whole rows, so the sample reads a fraction
    of the memory)."""
    k = len(stack)
    rows = slice(None, None, max(1, int(np.count_nonzero(requested)) * k // STATISTICS_SAMPLE))
    picked = requested.reshape(shape)[rows]

    def sample_of(values: np.ndarray) -> np.ndarray:
        return values.reshape(k, *shape)[:, rows][:, picked]

    sample = sample_of(stack)
    flags = None if valid is None else sample_of(np.asarray(valid, bool))
    sample = sample[usable_observations(sample, flags, saturation)]
    return quantile(sample, EXPOSURE_PERCENTILE / 100) if sample.size else 0.0


def quantile(values: np.ndarray, q: float) -> float:
    """``np.quantile(values, q)`` (linear interpolation) from one partial sort, without
    its per-call overhead, which dominates on the small frames preprocessing solves."""
    position = q * (values.size - 1)
    low = int(position)
    high = min(low + 1, values.size - 1)
    parted = np.partition(values.ravel(), (low, high))
    return float(parted[low] + (position - low) * (float(parted[high]) - float(parted[low])))


def misfit(first, k: int, shape: tuple[int, int]) -> float:
    """How far the session's captures stray from Lambert's law: the median residual RMS
    over albedo of the pixels every light lit, over every few rows (at most about
    :data:`STATISTICS_SAMPLE` pixels; 0 with three lights: no redundancy). ``first`` is
    a :class:`FirstPass` or its compiled form."""
    if k < 4:
        return 0.0
    h, w = shape
    step = max(1, h * w // STATISTICS_SAMPLE)

    def sample(values: np.ndarray) -> np.ndarray:
        lead = values.shape[:-1]
        return values.reshape(*lead, h, w)[..., ::step, :].reshape(*lead, -1)

    fit = sample(first.fit)[:, first.every_light_lit(sample)].astype(np.float64)
    albedo = np.sqrt((fit[:3] ** 2).sum(axis=0))
    if not (albedo > 0).any():
        return 0.0
    return quantile(fit[3][albedo > 0] / albedo[albedo > 0], 0.5)


def usable_observations(
    stack: np.ndarray, valid: np.ndarray | None, saturation: float
) -> np.ndarray:
    """(K, P) bool: observations neither marked invalid nor at the saturation level."""
    usable = stack < _F32(saturation)
    if valid is not None:
        usable &= np.asarray(valid, bool).reshape(stack.shape)
    return usable


def lit_observations(
    stack: np.ndarray, usable: np.ndarray, dark_level: float, relative_shadow: float
) -> np.ndarray:
    """(K, n) bool: usable observations above both dark floors, in float32."""
    brightest = np.where(usable, stack, _F32(0)).max(axis=0)
    floor = np.maximum(_F32(dark_level), _F32(relative_shadow) * brightest)
    return usable & (stack > floor)


def normal_equations(
    obs: np.ndarray,
    used: np.ndarray,
    lights: Lights,
    weight: np.ndarray | float = 0.0,
    prior: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """The float32 entries a, b, c, d, e, f of sum_k w_k s_k s_k^T + lambda I and x, y,
    z of sum_k w_k I_k s_k + lambda b0, w_k the ``used`` (K, n) flags, summed light by
    light; lambda and b0 (3, n) only with a ``prior``."""
    zero = np.zeros(obs.shape[1], np.float32)
    sums = [zero] * 9
    for light in range(len(obs)):
        w = used[light]
        for entry in range(6):
            sums[entry] = sums[entry] + np.where(w, lights.outer[light, entry], _F32(0))
        v = np.where(w, obs[light], _F32(0))
        for axis in range(3):
            sums[6 + axis] = sums[6 + axis] + lights.s[light, axis] * v
    if prior is not None:
        lam = np.asarray(weight, np.float32)
        for entry in (0, 3, 5):
            sums[entry] = sums[entry] + lam
        for axis in range(3):
            sums[6 + axis] = sums[6 + axis] + lam * prior[axis]
    return tuple(sums)


def adjugate_solve(equations: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """b (3, n) = adj(A) r and det(A) of :func:`normal_equations`' A b = r, undivided
    by the determinant: (adj(A) r, det A, mean eigenvalue of A), float32."""
    a, b, c, d, e, f, x, y, z = equations
    c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
    c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
    det = a * c00 + b * c01 + c * c02
    scaled = np.stack(
        [c00 * x + c01 * y + c02 * z, c01 * x + c11 * y + c12 * z, c02 * x + c12 * y + c22 * z]
    )
    return scaled, det, (a + d + f) * _F32(1 / 3)


def residual_sums(
    obs: np.ndarray, lights: Lights, b: np.ndarray, used: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Float32 sum of squares of I - S b over the ``used`` observations, and the (K, n)
    residuals of every observation."""
    sx, sy, sz = lights.s[:, 0:1], lights.s[:, 1:2], lights.s[:, 2:3]
    residuals = obs - (sx * b[0] + sy * b[1] + sz * b[2])
    rss = np.zeros(obs.shape[1], np.float32)
    for light in range(len(obs)):
        rss = rss + np.where(used[light], residuals[light] * residuals[light], _F32(0))
    return rss, residuals


def root_mean(rss: np.ndarray, count: np.ndarray) -> np.ndarray:
    """sqrt(rss / count) in float32, with count at least one."""
    return np.sqrt(rss / np.maximum(count, 1).astype(np.float32))


def determines(s: np.ndarray, members: np.ndarray) -> np.ndarray:
    """(n,) bool, in float64: whether each set of lights ``members`` (K, n) determines b."""
    return regularised_inverses(s, members)[1]


def subset_decisions(s: np.ndarray, members: np.ndarray, max_condition: float) -> tuple:
    """Step 2's decisions for sets of lights ``members`` (K, n) bool, in float64: whether
    a pixel lit by that set is solved from it alone (three or more, determining b, and
    well conditioned unless they are every light), and whether the set determines b."""
    k = len(s)
    determined = determines(s, members)
    count = members.sum(axis=0)
    guarded = (count == k) | (condition_numbers(s, members) <= max_condition)
    return determined & (count >= MIN_OBSERVATIONS) & guarded, determined


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
    lights = Lights.of(s)
    usable = usable_observations(stack, valid, saturation) & requested
    lit = lit_observations(stack, usable, dark_level, relative_shadow)
    alone, _ = subset_decisions(s, lit, max_condition)
    used = np.where(alone, lit, usable)
    determined = determines(s, used)
    scaled, det, _ = adjugate_solve(normal_equations(stack, used, lights))
    b = np.where(determined, scaled * (_F32(1) / np.where(determined, det, _F32(1))), _F32(0))
    rss, residuals = residual_sums(stack, lights, b, used)
    how = np.where(alone, np.where((lit == usable).all(axis=0), 1, 2), HOW["plain"])
    every = requested & alone & lit.all(axis=0)
    suspect_sets = cast_shadow_suspects(stack, residuals, rss, dark_level, cast) & every
    suspect = suspect_sets.any(axis=0)
    fit = np.zeros((4, stack.shape[1]), np.float32)
    fit[:3] = np.where(requested, b, _F32(0))
    fit[3] = np.where(requested, root_mean(rss, used.sum(axis=0)), _F32(0))
    return FirstPass(
        fit=fit,
        how=np.where(requested, how, HOW["unsolved"]).astype(np.uint8),
        lit=lit,
        usable=usable,
        suspect=suspect,
        suspect_cols=np.flatnonzero(suspect),
        suspect_sets=suspect_sets[:, suspect],
    )


def cast_shadow_suspects(
    obs: np.ndarray, residuals: np.ndarray, rss: np.ndarray, dark_level: float, cast: CastShadowTest
) -> np.ndarray:
    """(K, n) which lights of pixels every light lit step 3 may suspect of a cast shadow,
    from the fit's float32 ``residuals`` I - S b (K, n) and their sum of squares.

    Light k is suspect where the fit of the other lights predicts more than it shows,
    by ``shortfall`` of the prediction (shadows only darken), or predicts a negative
    value while it shows light (attached shadow), and in both by more than the dark
    level. Leave-one-out needs no refit (Cook and Weisberg 1982): with r = I - S b and
    the leverage h_k of the hat matrix S (S^T S)^-1 S^T, the others predict I_k + r_k'
    with r_k' = -r_k / (1 - h_k). With five or more lights dropping k must also remove
    most of the residual.
    """
    k = len(obs)
    if k < 4:
        return np.zeros(obs.shape, bool)
    inverse_free = cast.inverse_free[:, None]
    missing = -residuals * inverse_free
    predicted = obs + missing
    darkened = missing > _F32(cast.shortfall) * predicted  # a cast shadow
    unreachable = predicted < _F32(0)  # attached: what shows is room or bounced light
    suspect = (darkened | unreachable) & (np.abs(missing) > _F32(dark_level))
    suspect &= cast.spare[:, None]
    if k > 4:
        suspect &= rss - residuals * residuals * inverse_free <= _F32(0.25) * rss
    return suspect


def rms_residual(
    stack: np.ndarray, s: np.ndarray, b: np.ndarray, cols: np.ndarray, used: np.ndarray
) -> np.ndarray:
    """RMS of I - S b over the ``used`` observations of the ``cols`` pixels, float64."""
    obs = stack[:, cols].astype(np.float64)
    r = np.where(used, obs - s @ b[:, cols].astype(np.float64), 0.0)
    return np.sqrt((r * r).sum(axis=0) / np.maximum(used.sum(axis=0), 1))


def leave_one_out_fits(
    obs: np.ndarray, s: np.ndarray, b: np.ndarray, suspect_sets: np.ndarray, cast: CastShadowTest
) -> np.ndarray:
    """(1 + K, 3, n) hypotheses for suspect pixels, float64: b, then the fit without
    light k, b_k = b - (S^T S)^-1 s_k r_k / (1 - h_k) (NaN where k is not suspect there)."""
    b = b.astype(np.float64)
    residual = obs.astype(np.float64) - s @ b
    steps = np.einsum("cd,kd,kn->kcn", np.linalg.inv(s.T @ s), s, residual / cast.free[:, None])
    hypotheses = np.where(suspect_sets[:, None, :], b[None] - steps, np.nan)
    return np.concatenate([b[None], hypotheses])


def closest_to_prior(hypotheses: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """(n,) index of the hypothesis (1 + K, 3, n; NaN: none) whose normal is closest to
    the prior's (3, n): 0, plain, where no prior reaches and on ties."""
    unit = hypotheses / np.linalg.norm(hypotheses, axis=1, keepdims=True)
    prior = prior.astype(np.float64)
    cosine = np.einsum("hcn,cn->hn", unit, prior / np.linalg.norm(prior, axis=0))
    closest = np.argmax(np.where(np.isnan(cosine), -np.inf, cosine), axis=0)
    return np.where(np.isfinite(prior[0]), closest, 0)


def subset_members(k: int) -> np.ndarray:
    """(K, 2^K) bool: the lights of each subset, indexed by its bit mask (bit k: light k)."""
    return ((np.arange(2**k)[None, :] >> np.arange(k)[:, None]) & 1).astype(bool)


def starved_pixels(first: FirstPass, k: int) -> np.ndarray:
    """(P,) step 4's pixels: plain least squares, with some lights lit or clipped."""
    lit_count = first.lit.sum(axis=0)
    partly_lit = (lit_count > 0) & (lit_count < k)
    clipped = first.usable.sum(axis=0) < k
    return (first.how == HOW["plain"]) & (partly_lit | clipped)


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
    ``prior_at(cols) -> (3, n)`` float32 (NaN where none reaches). Returns the (6, P)
    float32 rows of :mod:`photostereo._kernels` (normal x, y, z, albedo, residual,
    observations used; zero where unsolved) and ``how`` (P,) uint8.
    """
    k = len(s)
    lights = Lights.of(s)
    fit, how = first.fit.copy(), first.how.copy()
    well = (how != HOW["plain"]) & (how != HOW["unsolved"])
    starved = starved_pixels(first, k)
    pulled = starved | (well & (weights[1] > 0) & (how != HOW["cast shadow"]))
    cols = np.flatnonzero(pulled)
    prior = prior_at(cols)
    used = first.lit[:, cols]
    lam = np.where(starved[cols], _F32(weights[0]), _F32(weights[1]))
    obs = stack[:, cols]
    scaled, det, mean = adjugate_solve(normal_equations(obs, used, lights, lam, prior))
    solved = np.isfinite(prior[0]) & (det > SINGULAR * mean * mean * mean)
    b = scaled * (_F32(1) / np.where(solved, det, _F32(1)))
    rss, _ = residual_sums(obs, lights, b, used)
    fit[:, cols] = np.where(solved, np.vstack([b, root_mean(rss, used.sum(axis=0))]), fit[:, cols])
    how[cols[solved & starved[cols]]] = HOW["neighbours"]
    count = np.where(how == HOW["plain"], first.usable.sum(axis=0), first.lit.sum(axis=0))
    bx, by, bz = fit[:3]
    albedo = np.sqrt(bx * bx + by * by + bz * bz)
    kept = (how != HOW["unsolved"]) & (albedo > _F32(1e-8))
    out = np.zeros((6, fit.shape[1]), np.float32)
    out[:3] = np.where(kept, fit[:3] * (_F32(1) / np.where(kept, albedo, _F32(1))), _F32(0))
    out[3] = np.where(kept, albedo, _F32(0))
    out[4] = np.where(kept, fit[3], _F32(0))
    out[5] = np.where(kept, np.minimum(count, 255), 0)
    return out, np.where(kept, how, HOW["unsolved"]).astype(np.uint8)
