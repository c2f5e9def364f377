"""The evaluation plots: the command line draws, the library only computes the curves.

Kept here so that matplotlib and its backend choice (Agg: files only, no display) belong
to the program, never to a library that someone else imports. Each plot is written
atomically, owner-only, beside the report (:func:`gallery.report.write_report`):

* ``roc.png`` — TAR against FAR on a log axis, one curve per model;
* ``cmc.png`` — identification rate against rank, one curve per model;
* ``scores.png`` — genuine and impostor score histograms, one panel per model;
* ``det.png`` (:func:`write_det`, where the maps file holds presentation attacks with
  liveness scores) — APCER against BPCER, one curve per attack type, the operating
  point marked.

The curves are :func:`gallery.evaluation.evaluate`'s: ``far``, ``tar``, ``genuine``,
``impostor`` and, where identification ran, ``cmc``; the DET's are
:func:`gallery.evaluation.presentation_attack`'s.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from psbase.atomic import write_atomically

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def write_plots(
    out: Path, names: list[str], curves: list[dict], pad_curves: dict | None = None
) -> list[Path]:
    """Write roc.png, cmc.png and scores.png into ``out``, and det.png
    (:func:`write_det`) where ``pad_curves`` hold DET curves; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for name, draw in (("roc.png", _roc), ("cmc.png", _cmc), ("scores.png", _scores)):
        fig = draw(plt, names, curves)
        paths.append(out / name)
        _save(fig, paths[-1])
        plt.close(fig)
    if pad_curves is not None and pad_curves["det"]:
        paths.append(write_det(out, pad_curves))
    return paths


#: The DET axes' ticks (rates, labelled in percent); those inside the axis range are used.
DET_TICKS = (1e-4, 1e-3, 0.01, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.95)
#: The DET axes' upper end: the rates of small samples reach 1, which has no place on a
#: normal-deviate axis; they are drawn at this edge (and 0 at the lower one).
DET_TOP = 0.99


def write_det(out: Path, pad_curves: dict) -> Path:
    """Write det.png into ``out`` from :func:`gallery.evaluation.presentation_attack`'s
    curves; return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = _det(plt, pad_curves)
    path = out / "det.png"
    _save(fig, path)
    plt.close(fig)
    return path


def _det_bottom(det: dict) -> float:
    """The DET axes' lower end: 0.1%, or lower to show the smallest non-zero rate."""
    rates = np.concatenate([np.r_[c["bpcer"], c["apcer"]] for c in det.values()])
    positive = rates[rates > 0]
    smallest = float(positive.min()) if positive.size else 1.0
    return max(DET_TICKS[0], min(1e-3, 0.5 * smallest))


def _det(plt: ModuleType, pad_curves: dict) -> Figure:
    """APCER against BPCER on normal-deviate (probit) axes, as DET curves are drawn: a
    straight line for normally distributed scores, and the low error rates that matter
    spread out. One curve per attack type, its operating point a dot on it."""
    from scipy.special import ndtri

    det, operating = pad_curves["det"], pad_curves["operating"]
    bottom = _det_bottom(det)

    def probit(rate: np.ndarray | float) -> np.ndarray:
        return ndtri(np.clip(rate, bottom, DET_TOP))

    fig, ax = plt.subplots(figsize=(6, 5.5))
    marked = operating["threshold"] is not None and operating["bpcer"] is not None
    for kind, c in det.items():
        (line,) = ax.plot(probit(c["bpcer"]), probit(c["apcer"]), label=kind)
        if marked:
            point = (probit(operating["bpcer"]), probit(operating["apcer"][kind]))
            ax.plot(*point, "o", color=line.get_color(), markeredgecolor="black", zorder=3)
    if marked:
        ax.plot(
            [],
            [],
            "o",
            color="white",
            markeredgecolor="black",
            label=f"operating point (threshold {operating['threshold']:.3f})",
        )
    ticks = np.array([t for t in DET_TICKS if bottom <= t <= DET_TOP])
    labels = [f"{100 * t:g}%" for t in ticks]
    ax.set_xticks(probit(ticks), labels)
    ax.set_yticks(probit(ticks), labels)
    ax.set_xlim(probit(bottom), probit(DET_TOP))
    ax.set_ylim(probit(bottom), probit(DET_TOP))
    ax.set_xlabel("BPCER: bona fide presentations rejected")
    ax.set_ylabel("APCER: attack presentations accepted")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right")
    ax.set_title("DET, presentation attack detection")
    ax.annotate(
        f"rates of 0 and 1 are drawn at the axes' edges ({100 * bottom:g}%, {100 * DET_TOP:g}%)",
        (1.0, -0.11),
        xycoords="axes fraction",
        ha="right",
        va="top",
        fontsize=7,
        color="dimgray",
    )
    return fig


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    write_atomically(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))


def _roc(plt: ModuleType, names: list[str], curves: list[dict]) -> Figure:
    """TAR against FAR (log axis; FAR = 0 has no place on it), one curve per model."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, c in zip(names, curves, strict=True):
        far, tar = c["far"], c["tar"]
        keep = far > 0
        ax.plot(far[keep], tar[keep], label=name)
    ax.set_xscale("log")
    ax.set_xlabel("false accept rate (FAR)")
    ax.set_ylabel("true accept rate (TAR)")
    ax.set_ylim(0, 1.01)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("ROC, all pairs")
    return fig


def _cmc(plt: ModuleType, names: list[str], curves: list[dict]) -> Figure:
    """Identification rate against rank, one curve per model that had probes."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, c in zip(names, curves, strict=True):
        if "cmc" in c:
            ranks = np.arange(1, len(c["cmc"]) + 1)
            ax.plot(ranks, c["cmc"], marker=".", label=name)
    ax.set_xlabel("rank")
    ax.set_ylabel("identification rate")
    ax.set_ylim(0, 1.01)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("CMC, closed set")
    return fig


def _scores(plt: ModuleType, names: list[str], curves: list[dict]) -> Figure:
    """Genuine and impostor score histograms (densities), one panel per model."""
    fig, axes = plt.subplots(len(names), 1, figsize=(6, 2.6 * len(names)), squeeze=False)
    bins = np.linspace(-1, 1, 101)
    for ax, name, c in zip(axes[:, 0], names, curves, strict=True):
        ax.hist(c["impostor"], bins=bins, density=True, alpha=0.6, label="impostor")
        ax.hist(c["genuine"], bins=bins, density=True, alpha=0.6, label="genuine")
        ax.set_title(name)
        ax.set_xlabel("cosine score")
        ax.legend(loc="upper left")
    return fig
