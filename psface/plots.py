"""The evaluation plots: the command line draws, the library only computes the curves.

Kept here so that matplotlib and its backend choice (Agg: files only, no display) belong
to the program, never to a library that someone else imports. Each plot is written
atomically, owner-only, beside the report (:func:`gallery.report.write_report`):

* ``roc.png`` — TAR against FAR on a log axis, one curve per model;
* ``cmc.png`` — identification rate against rank, one curve per model;
* ``scores.png`` — genuine and impostor score histograms, one panel per model.

The curves are :func:`gallery.evaluation.evaluate`'s: ``far``, ``tar``, ``genuine``,
``impostor`` and, where identification ran, ``cmc``.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from psbase.atomic import write_atomically

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def write_plots(out: Path, names: list[str], curves: list[dict]) -> list[Path]:
    """Write roc.png, cmc.png and scores.png into ``out``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for name, draw in (("roc.png", _roc), ("cmc.png", _cmc), ("scores.png", _scores)):
        fig = draw(plt, names, curves)
        paths.append(out / name)
        _save(fig, paths[-1])
        plt.close(fig)
    return paths


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
