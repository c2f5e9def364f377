"""The ablation's plots, drawn from :func:`ablation.report.summarise`'s summary.

Like :mod:`psface.plots`, matplotlib (Agg: files only) is the program's, imported when
a plot is drawn, and each file is written atomically, owner-only, beside the tables:

* ``factor_<name>.png``: one panel per photometric-stereo measure against the factor's
  values (error bars: the std across repeats), then one panel per recognition metric
  (rank-1, AUC, ...) with a line per modality, the photograph dashed black as the
  baseline. Solver, integrator, shadows and any other non-numeric factor sit on a
  categorical axis;
* ``heatmap_<a>_x_<b>.png``: for each crossed pair of factors, the normal error of every
  combination, annotated, and beside it rank-1 from albedo where it was measured.
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from ablation.report import (
    BASELINE,
    decimals_for,
    factor_label,
    headline,
    lower_is_better,
    measure_label,
    modality_label,
    show_value,
    split_measure,
)
from psface.plots import _save

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Panels per row of a factor's figure.
_COLUMNS = 3


def write_ablation_plots(out: Path, summary: dict, factors: list[str]) -> list[Path]:
    """Write factor_<name>.png per factor and heatmap_<a>_x_<b>.png per crossed pair.

    ``summary`` is :func:`ablation.report.summarise`'s, or the one results.json holds
    (not measured: NaN or null). A figure with nothing measured in it is not written.
    Returns the paths written, in that order.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    drawings = [(f"factor_{f}.png", partial(_factor, plt, summary, f)) for f in factors]
    drawings += [
        (f"heatmap_{pair['rows']}_x_{pair['columns']}.png", partial(_heatmaps, plt, pair))
        for pair in summary["pairs"]
    ]
    paths = []
    for name, draw in drawings:  # one figure open at a time
        fig = draw()
        if fig is None:
            continue
        try:
            _save(fig, out / name)
        finally:
            plt.close(fig)
        paths.append(out / name)
    return paths


def _floats(values: object) -> np.ndarray:
    """Values as floats, a null (from results.json) as NaN."""
    return np.asarray(values, dtype=float)


def _measured(values: object) -> bool:
    return bool(np.any(~np.isnan(_floats(values))))


def _positions(values: list[object]) -> tuple[np.ndarray, bool]:
    """Where each value sits on the x axis, and whether that is to scale.

    Numbers sit at their values where each can be told apart (no two closer than 6% of
    the range); otherwise (0, 0.001, 0.002, 0.05, say), and for words and switches,
    they sit evenly spaced in the order given.
    """
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if numeric and len(values) > 1:
        x = np.asarray(values, dtype=float)
        if np.diff(np.sort(x)).min() >= 0.06 * np.ptp(x):
            return x, True
    return np.arange(len(values), dtype=float), False


def _x_axis(ax: Axes, name: str, values: list[object], x: np.ndarray, to_scale: bool) -> None:
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    note = " (not to scale)" if numeric and not to_scale and len(values) > 2 else ""
    ax.set_xlabel(factor_label(name) + note)
    labels = [show_value(v) for v in values]
    crowded = sum(len(label) + 2 for label in labels) > 36  # about a panel's width
    ax.set_xticks(x, labels, rotation=30 if crowded else 0, ha="right" if crowded else "center")
    margin = 0.06 * float(np.ptp(x)) if to_scale else 0.5
    ax.set_xlim(x.min() - margin, x.max() + margin)


def _factor(plt: ModuleType, summary: dict, name: str) -> Figure | None:
    """The factor's figure: photometric-stereo panels, then one per recognition metric.

    The modalities' legend takes a spare panel's place, or a strip under the panels.
    """
    entry = summary["factors"][name]
    values = entry["values"]
    means = {m: _floats(v) for m, v in entry["mean"].items()}
    stds = {m: _floats(v) for m, v in entry["std"].items()}
    plain = [m for m in summary["measures"] if split_measure(m)[1] is None and _measured(means[m])]
    metrics: dict[str, list[str]] = {}
    for m in summary["measures"]:
        metric, modality = split_measure(m)
        if modality is not None and _measured(means[m]):
            metrics.setdefault(metric, []).append(m)
    panels = len(plain) + len(metrics)
    if not panels:
        return None
    columns = min(panels, _COLUMNS)
    rows = math.ceil(panels / columns)
    strip = bool(metrics) and rows * columns == panels
    fig = plt.figure(figsize=(max(4.4 * columns, 6.5), 3.5 * rows + 0.8 + 0.8 * strip))
    layout = fig.add_gridspec(rows + strip, columns, height_ratios=[1.0] * rows + [0.2] * strip)
    flat = [fig.add_subplot(layout[i, j]) for i in range(rows) for j in range(columns)]
    x, to_scale = _positions(values)
    lines = _lines_by_category(summary, name)
    for ax, m in zip(flat, plain, strict=False):
        if lines is None:
            ax.errorbar(x, means[m], yerr=stds[m], marker="o", capsize=3, color="tab:blue")
        else:
            for label, cell_means in lines.items():
                ax.plot(x, cell_means[m], marker="o", label=label)
            ax.legend(fontsize=8)
        ax.set_ylabel(measure_label(m))
        better = "lower" if lower_is_better(m) else "higher"
        ax.set_title(f"{measure_label(m)}, {better} is better", fontsize=10)
    modalities = [split_measure(m)[1] or "" for g in metrics.values() for m in g]
    colours = _colours(list(dict.fromkeys(modalities)))
    for ax, group in zip(flat[len(plain) :], metrics.values(), strict=False):
        _recognition_panel(ax, x, group, means, stds, colours)
    for ax in flat[:panels]:
        _x_axis(ax, name, values, x, to_scale)
        ax.grid(True, alpha=0.3)
    for ax in flat[panels:]:
        ax.axis("off")
    if metrics:
        handles, labels = _legend(flat[len(plain) : panels])
        if strip:
            key = fig.add_subplot(layout[rows, :])
            key.axis("off")
            key.legend(handles, labels, loc="center", ncol=len(labels), title="recognition from")
        else:
            flat[panels].legend(handles, labels, loc="center", title="recognition from")
    repeats = summary.get("repeats", 1)
    spread = f", error bars: std across {repeats} repeats" if repeats > 1 else ""
    lines_note = "" if lines is None else f"; {next(iter(lines)).split(' = ')[0]} apart"
    fig.suptitle(
        f"Effect of {factor_label(name)}\n(mean over the other factors{lines_note}{spread})",
        fontsize=12,
    )
    return fig


def _lines_by_category(summary: dict, name: str) -> dict[str, dict[str, np.ndarray]] | None:
    """Where ``name`` is crossed with a factor of words or switches (a solver, say), the
    photometric-stereo panels draw one line per value of it, from the pair's cell means:
    {"solver = plain": {measure: mean per value of ``name``}}; None otherwise."""
    for pair in summary["pairs"]:
        if name not in (pair["rows"], pair["columns"]):
            continue
        other = pair["columns"] if pair["rows"] == name else pair["rows"]
        other_values = pair["column_values"] if pair["rows"] == name else pair["row_values"]
        if any(isinstance(v, int | float) and not isinstance(v, bool) for v in other_values):
            continue
        lines = {}
        for k, value in enumerate(other_values):
            cells = {}
            for m, matrix in pair["mean"].items():
                grid = _floats(matrix)
                cells[m] = grid[:, k] if pair["rows"] == name else grid[k, :]
            lines[f"{other} = {show_value(value)}"] = cells
        return lines
    return None


def _colours(modalities: list[str]) -> dict[str, str]:
    """One colour per modality, the same in every panel; the photograph is black."""
    fixed = {"albedo": "tab:blue", "normal": "tab:orange", "depth": "tab:green"}
    others = iter(["tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"])
    colours = {}
    for modality in modalities:
        if modality == BASELINE:
            colours[modality] = "black"
        else:
            colours[modality] = fixed.get(modality) or next(others, "tab:gray")
    return colours


def _recognition_panel(
    ax: Axes, x: np.ndarray, group: list[str], means: dict, stds: dict, colours: dict
) -> None:
    """One recognition metric: a line per modality, the photograph dashed black."""
    for m in group:
        modality = split_measure(m)[1] or ""
        style: dict = {"marker": "o", "capsize": 3, "label": modality_label(modality)}
        style["color"] = colours[modality]
        if modality == BASELINE:
            style.update(linestyle="--", marker="s", linewidth=2, zorder=3)
        ax.errorbar(x, means[m], yerr=stds[m], **style)
    ax.set_ylabel(measure_label(group[0]))
    ax.set_title(f"{measure_label(group[0])}, by modality", fontsize=10)


def _legend(axes: list[Axes]) -> tuple[list, list[str]]:
    """Every modality drawn in ``axes``, once each, the photograph last."""
    found: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            found.setdefault(label, handle)
    baseline = modality_label(BASELINE)
    labels = [label for label in found if label != baseline]
    labels += [baseline] if baseline in found else []
    return [found[label] for label in labels], labels


def _heatmaps(plt: ModuleType, pair: dict) -> Figure | None:
    """The headline measure (and rank-1 from albedo) over every combination of the pair."""
    shown = [
        m
        for m in (headline(list(pair["mean"])), "rank1/albedo")
        if m is not None and m in pair["mean"] and _measured(pair["mean"][m])
    ]
    if not shown:
        return None
    a, b = pair["rows"], pair["columns"]
    rows, columns = len(pair["row_values"]), len(pair["column_values"])
    width = max(4.5, 0.85 * columns + 3.0)
    height = max(3.6, 0.55 * rows + 2.2)
    figsize = (max(width * len(shown), 6.5), height + 0.3)
    fig, axes = plt.subplots(1, len(shown), figsize=figsize, squeeze=False)
    for ax, m in zip(axes[0], shown, strict=True):
        _heatmap(plt, fig, ax, pair, m)
    fig.suptitle(f"{a} × {b}: each combination, mean over repeats", fontsize=12)
    return fig


def _heatmap(plt: ModuleType, fig: Figure, ax: Axes, pair: dict, measure: str) -> None:
    grid = np.asarray(pair["mean"][measure], dtype=float)
    # better is always the bright end of the map
    name = "viridis_r" if lower_is_better(measure) else "viridis"
    cmap = plt.get_cmap(name).with_extremes(bad="lightgrey")
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, aspect="auto")
    label = "rank-1 from albedo (fraction)" if measure == "rank1/albedo" else measure_label(measure)
    fig.colorbar(image, ax=ax, label=label)
    decimals = decimals_for(grid.ravel().tolist())
    size = 9 if grid.shape[1] <= 6 else 7
    for (i, j), value in np.ndenumerate(grid):
        if math.isnan(value):
            ax.text(j, i, "n/a", ha="center", va="center", fontsize=size, color="dimgrey")
            continue
        red, green, blue, _ = cmap(image.norm(value))
        dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
        ax.text(
            j,
            i,
            f"{value:.{decimals}f}",
            ha="center",
            va="center",
            fontsize=size,
            color="white" if dark else "black",
        )
    labels = [show_value(v) for v in pair["column_values"]]
    crowded = max(len(label) for label in labels) > 9  # wider than a cell
    ax.set_xticks(
        range(grid.shape[1]),
        labels,
        rotation=30 if crowded else 0,
        ha="right" if crowded else "center",
    )
    ax.set_yticks(range(grid.shape[0]), [show_value(v) for v in pair["row_values"]])
    ax.set_xlabel(factor_label(pair["columns"]))
    ax.set_ylabel(factor_label(pair["rows"]))
    better = "lower" if lower_is_better(measure) else "higher"
    ax.set_title(f"{label}, {better} is better", fontsize=10)
