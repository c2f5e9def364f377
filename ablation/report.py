"""An ablation's tables: results.csv, results.json and report.md.

Each run of one cell and repeat gives a *record*::

    {"cell": {"lights": 4, "solver": "plain"}, "repeat": 0,
     "measures": {"normal_error_deg": 7.1, "rank1/albedo": 0.9, ...}, "seconds": 2.3}

A measure with a plain name is a photometric-stereo figure; ``METRIC/MODALITY`` is a
recognition figure, the modality one of ``albedo``, ``normal``, ``depth``, ``photo``
(the photograph: the baseline every map is held against) or ``model:NAME``. Any
measure may be NaN (not measured), and a record may lack one (the same).

:func:`summarise` reduces the records to what a person reads: per factor and value the
mean over the other factors and the repeats, with the spread across repeats, and per
crossed pair of factors the mean of each combination (the heat maps). Nothing here
draws; the command line's ``psface/ablation_plots.py`` does, from the summary.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from psbase.atomic import write_atomically

#: The measure a report leads with; the first plain measure stands in where it is absent.
HEADLINE = "normal_error_deg"
#: The modality every map is compared with: recognition from the photograph itself.
BASELINE = "photo"
#: Where each modality sits within a metric's columns; models come between depth and photo.
_MODALITY_ORDER = {"albedo": 0, "normal": 1, "depth": 2, BASELINE: 4}
#: Words in a measure's name that make lower better.
_LOWER_WORDS = ("error", "unsolved", "spread")

#: What each factor is, with its unit, for axes and tables.
FACTOR_LABELS = {
    "lights": "number of lights",
    "spread": "light cone half-angle (degrees)",
    "calib_deg": "light direction error (degrees RMS)",
    "intensity_err": "light intensity error (relative RMS)",
    "noise": "sensor read noise (fraction of full scale)",
    "ambient": "room light (x one lamp)",
    "shadows": "cast shadows",
    "specular": "skin shine (x realistic)",
    "bounce": "inter-reflection strength",
    "solver": "photometric-stereo solver",
    "integrator": "normal integrator",
    "size": "crop side (pixels)",
}
_MEASURE_LABELS = {
    "normal_error_deg": "normal error (degrees)",
    "depth_error": "depth error",
    "albedo_error": "albedo error",
    "unsolved": "unsolved pixels (fraction)",
    "relight_error": "relighting error (relative RMS)",
    "albedo_spread": "albedo spread across sessions (std / mean)",
}
_METRIC_LABELS = {
    "rank1": "rank-1 identification rate (fraction)",
    "auc": "verification ROC AUC",
}


def lower_is_better(measure: str) -> bool:
    """Whether a smaller value of ``measure`` is the better one (errors, unsolved, spread)."""
    return any(word in measure for word in _LOWER_WORDS)


def split_measure(measure: str) -> tuple[str, str | None]:
    """``("rank1", "albedo")`` for ``rank1/albedo``; ``(name, None)`` for a plain measure."""
    metric, sep, modality = measure.partition("/")
    return (metric, modality) if sep else (measure, None)


def factor_label(name: str) -> str:
    """A factor's name as an axis or table reads it, unit included."""
    return FACTOR_LABELS.get(name, name)


def measure_label(measure: str) -> str:
    """A plain measure's or a recognition metric's name as an axis reads it."""
    metric, modality = split_measure(measure)
    if modality is None:
        return _MEASURE_LABELS.get(measure, measure.replace("_", " "))
    label = _METRIC_LABELS.get(metric, metric)
    if metric.startswith("tar@far="):
        label = f"TAR at FAR {metric.removeprefix('tar@far=')} (fraction)"
    return label


def modality_label(modality: str) -> str:
    """A recognition modality as a legend names it."""
    if modality == BASELINE:
        return "photograph (baseline)"
    if modality.startswith("model:"):
        return f"model {modality.removeprefix('model:')}"
    return f"{modality} map"


def show_value(value: object) -> str:
    """A factor's value as the command line takes it: ``on``/``off``, ``30``, ``0.002``."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def headline(measures: Sequence[str]) -> str | None:
    """The measure a report leads with among ``measures``, or None if there is none."""
    if HEADLINE in measures:
        return HEADLINE
    plain = [m for m in measures if split_measure(m)[1] is None]
    return plain[0] if plain else None


def measure_order(measures: Sequence[str]) -> list[str]:
    """Plain measures first, as given; then each recognition metric's modalities together.

    Within a metric the maps come first (albedo, normal, depth), then trained models,
    then the photograph, so each map's column sits beside the baseline's; the metrics
    keep the order they first appear in (rank1, auc, ...).
    """
    plain = [m for m in measures if split_measure(m)[1] is None]
    metrics: dict[str, list[str]] = {}
    for m in measures:
        metric, modality = split_measure(m)
        if modality is not None:
            metrics.setdefault(metric, []).append(m)
    out = list(plain)
    for group in metrics.values():
        out += sorted(group, key=lambda m: _MODALITY_ORDER.get(split_measure(m)[1] or "", 3))
    return out


def _number(value: object) -> float:
    """A measure's value as a float; anything missing or not a number is NaN."""
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _nanmean(values: Sequence[float] | np.ndarray) -> float:
    finite = np.asarray(values, dtype=float)
    finite = finite[~np.isnan(finite)]
    return float(finite.mean()) if finite.size else math.nan


def _mean_and_std(rows: list[tuple[int, float]]) -> tuple[float, float]:
    """Mean of every (repeat, value) given, and the std across repeats of each one's mean.

    NaN values are left out. The std is the sample std (ddof 1) of the per-repeat means;
    0 when only one repeat has a value, NaN when none has.
    """
    mean = _nanmean([v for _, v in rows])
    repeats: dict[int, list[float]] = {}
    for repeat, value in rows:
        repeats.setdefault(repeat, []).append(value)
    per_repeat = [m for m in (_nanmean(vs) for vs in repeats.values()) if not math.isnan(m)]
    if not per_repeat:
        return mean, math.nan
    if len(per_repeat) == 1:
        return mean, 0.0
    return mean, float(np.std(per_repeat, ddof=1))


def _first_seen(items: Sequence[object]) -> list[object]:
    """The distinct items in the order they first appear (values may be unhashable)."""
    out: list[object] = []
    for item in items:
        if not any(item == seen for seen in out):
            out.append(item)
    return out


def _index(values: list[object], value: object) -> int:
    return next(i for i, v in enumerate(values) if v == value)


def summarise(records: Sequence[Mapping], factors: list[str]) -> dict:
    """Per factor, per value and per measure: the mean and std; per crossed pair, cell means.

    Returns a JSON-ready dict (NaN where nothing was measured)::

        {"measures": [names, in report order],
         "repeats": number of distinct repeats,
         "overall": {"mean": {measure: x}, "std": {measure: x}},
         "factors": {name: {"values": [v, ...],
                            "mean": {measure: [x per value]},
                            "std": {measure: [x per value]}}},
         "pairs": [{"rows": a, "columns": b, "row_values": [...], "column_values": [...],
                    "mean": {measure: [[x per column] per row]}}, ...]}

    A value's mean is over every record with that value (the other factors and the
    repeats averaged out; NaN left out); its std is that of the per-repeat means (ddof 1),
    0 when only one repeat has a value. The values keep the order they first appear in,
    which is the grid's, which is the order the user gave them. Pairs are every two
    factors in the order given (a before b); a pair's cell mean is over the other
    factors and the repeats.
    """
    measures = measure_order(list(dict.fromkeys(str(m) for r in records for m in r["measures"])))
    table = np.array(
        [[_number(r["measures"].get(m)) for m in measures] for r in records], dtype=float
    ).reshape(len(records), len(measures))
    repeats = [int(r["repeat"]) for r in records]

    def stats(rows: Sequence[int]) -> tuple[dict[str, float], dict[str, float]]:
        means, stds = {}, {}
        for j, m in enumerate(measures):
            means[m], stds[m] = _mean_and_std([(repeats[i], table[i, j]) for i in rows])
        return means, stds

    every = range(len(records))
    overall_mean, overall_std = stats(every)
    summary: dict = {
        "measures": measures,
        "repeats": len(set(repeats)),
        "overall": {"mean": overall_mean, "std": overall_std},
        "factors": {},
        "pairs": [],
    }
    values = {f: _first_seen([r["cell"][f] for r in records]) for f in factors}
    where = {f: [_index(values[f], r["cell"][f]) for r in records] for f in factors}
    for f in factors:
        entry: dict = {"values": values[f], "mean": {m: [] for m in measures}}
        entry["std"] = {m: [] for m in measures}
        for k in range(len(values[f])):
            means, stds = stats([i for i in every if where[f][i] == k])
            for m in measures:
                entry["mean"][m].append(means[m])
                entry["std"][m].append(stds[m])
        summary["factors"][f] = entry
    for a, b in itertools.combinations(factors, 2):
        matrix = {
            m: [
                [
                    _nanmean(
                        [table[i, j] for i in every if where[a][i] == ra and where[b][i] == cb]
                    )
                    for cb in range(len(values[b]))
                ]
                for ra in range(len(values[a]))
            ]
            for j, m in enumerate(measures)
        }
        summary["pairs"].append(
            {
                "rows": a,
                "columns": b,
                "row_values": values[a],
                "column_values": values[b],
                "mean": matrix,
            }
        )
    return summary


# --- the files ------------------------------------------------------------------------


def write_tables(
    out: Path, records: Sequence[Mapping], factors: list[str], meta: dict
) -> list[Path]:
    """Write results.csv, results.json and report.md into folder ``out``; return their paths.

    ``results.csv`` is tidy: one row per cell, repeat and measure (columns: each factor,
    ``repeat``, ``measure``, ``value``; a NaN or missing value is an empty field).
    ``results.json`` holds ``meta``, ``factors``, the records and :func:`summarise`'s
    summary, NaN as null. ``report.md`` is the summary as tables. Each file is written
    atomically and owner-only; the folder must exist.
    """
    out = Path(out)
    summary = summarise(records, factors)
    paths = [out / "results.csv", out / "results.json", out / "report.md"]
    texts = [
        _csv(records, factors, summary["measures"]),
        json.dumps(
            _plain({"meta": meta, "factors": factors, "records": records, "summary": summary}),
            indent=1,
            allow_nan=False,
        )
        + "\n",
        markdown(summary, factors, meta),
    ]
    for path, text in zip(paths, texts, strict=True):
        _write_text(path, text)
    return paths


def _write_text(path: Path, text: str) -> None:
    """``text`` into ``path``, atomically and owner-only."""
    write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _csv_value(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:.15g}"
    return str(value)


def _csv(records: Sequence[Mapping], factors: list[str], measures: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*factors, "repeat", "measure", "value"])
    for r in records:
        cell = [_csv_value(r["cell"][f]) for f in factors]
        for m in measures:
            value = _number(r["measures"].get(m))
            writer.writerow([*cell, r["repeat"], m, "" if math.isnan(value) else repr(value)])
    return buffer.getvalue()


def _plain(obj: object) -> object:
    """``obj`` with NaN and infinities as None and NumPy scalars and arrays as Python's."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


# --- the markdown report --------------------------------------------------------------


def decimals_for(values: Sequence[float]) -> int:
    """Decimals for a column: 1 from 100 up, 2 above 1, else (fractions) 3."""
    finite = [abs(v) for v in values if not math.isnan(v)]
    top = max(finite, default=0.0)
    return 1 if top >= 100 else 2 if top > 1 else 3


def _best(values: Sequence[float], measure: str, decimals: int | None = None) -> set[int]:
    """Indices holding the best finite value of ``measure``; ties all count.

    With ``decimals``, values are compared as shown (rounded), so every entry that
    reads as the best is marked, and none is where all read the same (nothing to mark).
    """
    shown = [v if decimals is None or math.isnan(v) else round(v, decimals) for v in values]
    finite = [v for v in shown if not math.isnan(v)]
    if not finite or (decimals is not None and len(finite) > 1 and len(set(finite)) == 1):
        return set()
    target = min(finite) if lower_is_better(measure) else max(finite)
    return {i for i, v in enumerate(shown) if v == target}


def _cell(mean: float, std: float, decimals: int, *, spread: bool, bold: bool) -> str:
    if math.isnan(mean):
        return "n/a"
    text = f"{mean:.{decimals}f}"
    if spread and not math.isnan(std):
        text += f" ± {std:.{decimals}f}"
    return f"**{text}**" if bold else text


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _meta_lines(meta: Mapping) -> list[str]:
    keys = [k for k in ("data", "repeats", "date") if k in meta]
    keys += [k for k in meta if k not in keys]
    lines = []
    for k in keys:
        value = meta[k]
        if not isinstance(value, str | int | float | bool) and value is not None:
            value = json.dumps(_plain(value))
        lines.append(f"- {k}: {value}")
    return lines


def markdown(summary: Mapping, factors: list[str], meta: Mapping) -> str:
    """The report a person reads: one table per factor, one matrix per crossed pair."""
    repeats = summary["repeats"]
    lines = ["# psface ablation: lighting robustness", "", *_meta_lines(meta), ""]
    lines += [
        "Each entry is the mean over the other factors and "
        + (
            f"the {repeats} repeats, ± the standard deviation across repeats"
            if repeats > 1
            else "the one repeat"
        )
        + ". Lower is better for errors, unsolved and spread; higher for rank-1, AUC and "
        "TAR. The best value of each column is in bold; n/a: not measured. Photometric-"
        "stereo errors in degrees (normal_error_deg) or relative units; rates are fractions; "
        f"modality {BASELINE} is recognition from the photograph itself, the baseline.",
        "",
    ]
    if not factors:
        lines += _overall_table(summary, repeats)
    for f in factors:
        lines += _factor_table(summary, f, repeats)
    for pair in summary["pairs"]:
        lines += _pair_tables(pair)
    return "\n".join(lines)


def _overall_table(summary: Mapping, repeats: int) -> list[str]:
    measures = summary["measures"]
    head = ["conditions", *measures]
    row = ["defaults"]
    for m in measures:
        mean, std = summary["overall"]["mean"][m], summary["overall"]["std"][m]
        row.append(_cell(mean, std, decimals_for([mean]), spread=repeats > 1, bold=False))
    return ["## All cells", "", _row(head), _row(["---"] * len(head)), _row(row), ""]


def _factor_table(summary: Mapping, f: str, repeats: int) -> list[str]:
    entry = summary["factors"][f]
    measures = summary["measures"]
    head = [f, *measures]
    lines = [f"## {f}: {factor_label(f)}", "", _row(head), _row(["---"] * len(head))]
    decimals = {m: decimals_for(entry["mean"][m]) for m in measures}
    best = {m: _best(entry["mean"][m], m, decimals[m]) for m in measures}
    for k, value in enumerate(entry["values"]):
        row = [show_value(value)]
        for m in measures:
            row.append(
                _cell(
                    entry["mean"][m][k],
                    entry["std"][m][k],
                    decimals[m],
                    spread=repeats > 1,
                    bold=k in best[m],
                )
            )
        lines.append(_row(row))
    return [*lines, "", _verdict(entry, f, measures), ""]


def _verdict(entry: Mapping, f: str, measures: Sequence[str]) -> str:
    """One line: the best setting for the headline measure, and the best rank-1 vs photo."""
    values, means = entry["values"], entry["mean"]
    parts = []
    lead = headline(measures)
    if lead is not None and _best(means[lead], lead):
        k = min(_best(means[lead], lead))
        shown = f"{means[lead][k]:.{decimals_for(means[lead])}f}"
        if len(values) > 1 and not _best(means[lead], lead, decimals_for(means[lead])):
            parts.append(f"{measure_label(lead).capitalize()}: {shown} at every {f}.")
        else:
            word = "Lowest" if lower_is_better(lead) else "Highest"
            parts.append(f"{word} {measure_label(lead)}: {f} = {show_value(values[k])} ({shown}).")
    photo = f"rank1/{BASELINE}"
    ranks = [
        (v, m, k)
        for m in measures
        if split_measure(m)[0] == "rank1" and split_measure(m)[1] != BASELINE
        for k, v in enumerate(means[m])
        if not math.isnan(v)
    ]
    if ranks:
        v, m, k = max(ranks, key=lambda t: t[0])
        text = f"Best rank-1: {split_measure(m)[1]} at {f} = {show_value(values[k])} ({v:.3f})"
        if photo in means and not math.isnan(means[photo][k]):
            text += f", against {means[photo][k]:.3f} for the photograph there"
            best_photo = _best(means[photo], photo)
            j = min(best_photo)
            if j != k:
                text += f" (its best: {means[photo][j]:.3f} at {f} = {show_value(values[j])})"
        parts.append(text + ".")
    elif photo in means and _best(means[photo], photo):
        j = min(_best(means[photo], photo))
        parts.append(
            f"Best rank-1 (photograph only): {f} = {show_value(values[j])} ({means[photo][j]:.3f})."
        )
    return " ".join(parts) or "Nothing measured."


def _pair_tables(pair: Mapping) -> list[str]:
    """The headline measure (and rank-1 from albedo, where measured) over a crossed pair."""
    a, b = pair["rows"], pair["columns"]
    lines: list[str] = []
    lead = headline(list(pair["mean"]))
    for m in [lead, "rank1/albedo"]:
        if m is None or m not in pair["mean"]:
            continue
        grid = pair["mean"][m]
        flat = [v for row in grid for v in row]
        if all(math.isnan(v) for v in flat):
            continue
        decimals = decimals_for(flat)
        best = _best(flat, m, decimals)
        width = len(pair["column_values"])
        label = measure_label(m) if m != "rank1/albedo" else "rank-1 from albedo (fraction)"
        head = [f"{a} \\ {b}", *(show_value(v) for v in pair["column_values"])]
        lines += [f"## {a} × {b}: {label}", "", _row(head), _row(["---"] * len(head))]
        for i, (value, row) in enumerate(zip(pair["row_values"], grid, strict=True)):
            cells = [
                _cell(x, math.nan, decimals, spread=False, bold=i * width + j in best)
                for j, x in enumerate(row)
            ]
            lines.append(_row([show_value(value), *cells]))
        k = min(_best(flat, m))
        ties = f"; {len(best) - 1} more read the same" if len(best) > 1 else ""
        lines += [
            "",
            f"Best: {a} = {show_value(pair['row_values'][k // width])}, "
            f"{b} = {show_value(pair['column_values'][k % width])} "
            f"({flat[k]:.{decimals}f}{ties}).",
            "",
        ]
    return lines
