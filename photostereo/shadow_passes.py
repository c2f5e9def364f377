"""The shadow-aware solver's compiled passes (:mod:`photostereo._shadow_kernels`),
called with the NumPy definition's arguments and results."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from photostereo import _shadow_kernels
from photostereo._shadow_kernels import HOW_SHIFT, USABLE_SHIFT, subset_table
from photostereo.shadow_steps import (
    CastShadowTest,
    FirstPass,
    FittedPixels,
    Lights,
    subset_decisions,
    subset_members,
)
from photostereo.solver_common import HOW

_BITS = (1 << _shadow_kernels.MAX_SUBSET_LIGHTS) - 1


@dataclass
class PackedFirstPass(FittedPixels):
    """:class:`photostereo.shadow_steps.FirstPass` as the compiled pass leaves it: the
    same ``fit`` and suspects, with the integer fields of its ``k`` lights packed in
    ``codes`` (2, P) int32 (:mod:`photostereo._shadow_kernels`)."""

    codes: np.ndarray
    k: int

    def every_light_lit(self, sample) -> np.ndarray:
        packed = sample(self.codes[0])
        every = (packed & _BITS) == (1 << self.k) - 1
        return every & (packed >> HOW_SHIFT == HOW["all lights"])

    def drop_cast_shadows(self, cols: np.ndarray, lights: np.ndarray) -> None:
        keep = ((1 << HOW_SHIFT) - 1) & ~(1 << lights.astype(np.int32))
        packed = (self.codes[0, cols] & keep) | (HOW["cast shadow"] << HOW_SHIFT)
        self.codes[0, cols] = packed

    def unpacked(self) -> FirstPass:
        """The same pass with the NumPy definition's fields."""
        bits = 1 << np.arange(self.k)[:, None]
        packed = self.codes[0]
        suspect = self.codes[1] != 0
        return FirstPass(
            fit=self.fit,
            how=(packed >> HOW_SHIFT).astype(np.uint8),
            lit=(packed & bits) > 0,
            usable=((packed >> USABLE_SHIFT) & bits) > 0,
            suspect=suspect,
            suspect_cols=self.suspect_cols,
            suspect_sets=self.suspect_sets,
        )


@lru_cache(maxsize=64)
def _subset_tables(light_bytes: bytes, max_condition: float) -> tuple:
    """Tables of the subsets solved alone and of those determining b (cached per rig: a
    batch shares one)."""
    s = np.frombuffer(light_bytes).reshape(-1, 3)
    alone, determined = subset_decisions(s, subset_members(len(s)), max_condition)
    return subset_table(alone), subset_table(determined)


@lru_cache(maxsize=64)
def _rig_constants(light_bytes: bytes) -> tuple:
    """The float32 :class:`photostereo.shadow_steps.Lights` flattened: tuples, whose
    values the compiled loops keep in registers, up to
    :data:`photostereo._shadow_kernels.WORD_TABLE_LIGHTS` lights; arrays beyond, where
    the loops over lights no longer unroll and a tuple indexed by a loop variable
    compiles to a lookup per use."""
    lights = Lights.of(np.frombuffer(light_bytes).reshape(-1, 3))
    flat = (lights.s.ravel(), lights.outer.ravel())
    if len(lights.s) > _shadow_kernels.WORD_TABLE_LIGHTS:
        return flat
    return tuple(tuple(np.float32(v) for v in values) for values in flat)


def _key(s: np.ndarray) -> bytes:
    return np.ascontiguousarray(s, np.float64).tobytes()


def first_pass_compiled(
    stack: np.ndarray,
    s: np.ndarray,
    valid: np.ndarray | None,
    requested: np.ndarray,
    thresholds: tuple,
    cast: CastShadowTest,
) -> PackedFirstPass:
    """:func:`photostereo.shadow_steps.first_pass_numpy` in one compiled pass."""
    k, n = stack.shape
    *levels, max_condition = thresholds
    tables = _subset_tables(_key(s), float(max_condition))
    lights, outer = _rig_constants(_key(s))
    flags = np.zeros((1, 1), bool) if valid is None else np.asarray(valid, bool).reshape(k, n)
    fit = np.empty((4, n), np.float32)
    codes = np.empty((2, n), np.int32)
    cast_test = (
        np.float32(cast.shortfall),
        tuple(bool(v) for v in cast.spare),
        tuple(np.float32(v) for v in cast.inverse_free),
    )
    kernel = _shadow_kernels.first_pass(k, valid is not None)
    kernel(
        stack, flags, requested, tuple(np.float32(v) for v in levels), tables, lights, outer,
        cast_test, fit, codes,
    )  # fmt: skip
    cols = _shadow_kernels.nonzero_columns(codes[1])
    sets = ((codes[1, cols][None, :] >> np.arange(k)[:, None]) & 1).astype(bool)
    return PackedFirstPass(fit=fit, suspect_cols=cols, suspect_sets=sets, codes=codes, k=k)


def block_fields_compiled(
    first: PackedFirstPass, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`photostereo.shadow_prior.block_fields` of the first pass's clean pixels,
    compiled."""
    h, w = shape
    fields = np.empty(((h + 1) // 2, (w + 1) // 2, 4), np.float32)
    needed = np.empty(fields.shape[:2], bool)
    _shadow_kernels.block_fields(first.fit, first.codes, first.k, h, w, fields, needed)
    return fields, needed


def second_pass_compiled(
    stack: np.ndarray,
    s: np.ndarray,
    first: PackedFirstPass,
    grid: np.ndarray,
    width: int,
    weights: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`photostereo.shadow_steps.second_pass_numpy` in one compiled pass."""
    n = stack.shape[1]
    out = np.empty((6, n), np.float32)
    how = np.empty(n, np.uint8)
    lights, outer = _rig_constants(_key(s))
    lambdas = tuple(np.float32(w) for w in weights)
    kernel = _shadow_kernels.second_pass(len(s))
    planes = np.ascontiguousarray(np.moveaxis(grid, -1, 0))
    kernel(stack, lights, outer, first.fit, first.codes, planes, width, lambdas, out, how)
    return out, how
