"""Printing helpers shared by the benchmarks that compare solvers against plain least
squares (bench_real.py, bench_synthetic_solvers.py), so their tables read alike."""

from __future__ import annotations

import math
from collections.abc import Sequence


def ratio(value: float, base: float) -> str:
    """``(x1.23)``: value / base, or blank where it has no meaning."""
    if not (math.isfinite(value) and math.isfinite(base)) or base == 0:
        return "(x  -  )"
    return f"(x{value / base:4.2f})"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns right-aligned to their widest cell, the first left-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            str(c).rjust(w) if i else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells))
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def by_key_table(errors: dict, solvers: Sequence[str], baseline: str) -> str:
    """Mean error per column key (side or ring zenith), with ratios to ``baseline``."""
    keys = list(errors)
    rows = [
        [name]
        + [f"{errors[k][name]:6.2f} {ratio(errors[k][name], errors[k][baseline])}" for k in keys]
        for name in solvers
    ]
    return table(["solver", *(str(k) for k in keys)], rows)
