"""The evaluation report: report.json, report.md and PNG plots, for one model or several.

``report.json`` keeps INTERFACES.md's keys at the top level (``verification`` and
``identification`` of the first model) and adds ``models``: one entry per model with
its name, run, modality, fingerprint and full numbers, in the order given. Plots
(matplotlib, Agg backend, no display needed):

* ``roc.png`` — TAR against FAR on a log axis, one curve per model;
* ``cmc.png`` — identification rate against rank, one curve per model;
* ``scores.png`` — genuine and impostor score histograms, one panel per model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from gallery.metrics import REPORT_FARS, far_key
from psbase.atomic import write_atomically
from psbase.outputs import make_folders


def build_report(models: list[dict], *, protocol: dict) -> dict:
    """The report.json object from per-model entries (each with both halves)."""
    first = models[0]
    return {
        "verification": first["verification"],
        "identification": first["identification"],
        "models": models,
        "protocol": protocol,
    }


def _fmt(value: float | None, ci: list[float] | None = None, *, percent: bool = True) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    scale, unit = (100.0, "") if percent else (1.0, "")
    text = f"{scale * value:.2f}{unit}" if percent else f"{value:.4f}"
    if ci:
        lo, hi = (scale * ci[0], scale * ci[1])
        text += f" [{lo:.2f}, {hi:.2f}]" if percent else f" [{ci[0]:.4f}, {ci[1]:.4f}]"
    return text


def markdown(report: dict) -> str:
    """A table a person reads: one row per model, 95% bootstrap intervals in brackets."""
    lines = [
        "# psface evaluation",
        "",
        "Verification over all pairs; identification with each person's earliest "
        f"{report['protocol'].get('n_enrol', 1)} session(s) enrolled and the rest as probes. "
        "Rates in percent; [95% bootstrap interval].",
        "",
    ]
    tar_heads = [f"TAR@FAR {far_key(f)}" for f in REPORT_FARS]
    head = ["model", "modality", "AUC", "EER", *tar_heads, "rank-1", "rank-5", "mAP"]
    head.append("DIR@FPIR 1e-2")
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes: list[str] = []
    for m in report["models"]:
        v, i = m["verification"], m["identification"]
        vci, ici = v.get("ci", {}), i.get("ci", {})
        tars = [
            _fmt(v["tar_at_far"][far_key(f)], vci.get("tar_at_far", {}).get(far_key(f)))
            for f in REPORT_FARS
        ]
        dirs = i.get("dir_at_fpir", {}).get("1e-2")
        row = [
            m["name"],
            m["modality"],
            _fmt(v["auc"], vci.get("auc"), percent=False),
            _fmt(v["eer"], vci.get("eer")),
            *tars,
            _fmt(i.get("rank1"), ici.get("rank1")),
            _fmt(i.get("rank5"), ici.get("rank5")),
            _fmt(i.get("map")),
            _fmt(dirs, ici.get("dir_at_fpir", {}).get("1e-2")),
        ]
        lines.append("| " + " | ".join(row) + " |")
        notes += [f"{m['name']}: TAR@FAR {k} {text}" for k, text in v["tar_at_far_note"].items()]
        if "dir_at_fpir_note" in i:
            notes.append(f"{m['name']}: DIR@FPIR 1e-2 {i['dir_at_fpir_note']}")
        if "note" in i:
            notes.append(f"{m['name']}: identification {i['note']}")
    lines += ["", "Pairs and probes:", ""]
    for m in report["models"]:
        v, i = m["verification"], m["identification"]
        lines.append(
            f"- {m['name']}: {v['n_genuine']} genuine and {v['n_impostor']} impostor pairs; "
            f"{i.get('n_probes', 0)} probes against {i.get('n_gallery_identities', 0)} "
            f"enrolled identities; {m.get('n_samples', '?')} samples of "
            f"{m.get('n_identities', '?')} people not used in training."
        )
    if notes:
        lines += ["", "Not measured:", "", *[f"- {n}" for n in notes]]
    lines += ["", "Plots: roc.png (log FAR), cmc.png, scores.png.", ""]
    return "\n".join(lines)


def plot(out: Path, names: list[str], curves: list[dict]) -> list[Path]:
    """Write roc.png, cmc.png and scores.png; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = [out / "roc.png", out / "cmc.png", out / "scores.png"]

    def save(fig, path: Path) -> None:
        fig.tight_layout()
        write_atomically(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
        plt.close(fig)

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
    save(fig, paths[0])

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
    save(fig, paths[1])

    fig, axes = plt.subplots(len(names), 1, figsize=(6, 2.6 * len(names)), squeeze=False)
    bins = np.linspace(-1, 1, 101)
    for ax, name, c in zip(axes[:, 0], names, curves, strict=True):
        ax.hist(c["impostor"], bins=bins, density=True, alpha=0.6, label="impostor")
        ax.hist(c["genuine"], bins=bins, density=True, alpha=0.6, label="genuine")
        ax.set_title(name)
        ax.set_xlabel("cosine score")
        ax.legend(loc="upper left")
    save(fig, paths[2])
    return paths


def write_report(out: str | Path, report: dict, names: list[str], curves: list[dict]) -> Path:
    """Write REPORT/report.json, report.md and the plots, each atomically; return the folder.

    The folder is created (owner-only) if absent; the caller decides whether an existing
    one may be written into (:func:`psbase.outputs.prepare_output_folder`).
    """
    out = Path(out)
    make_folders(out)
    texts = {"report.json": json.dumps(report, indent=1) + "\n", "report.md": markdown(report)}
    for name, text in texts.items():
        write_atomically(out / name, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8"))
    plot(out, names, curves)
    return out
