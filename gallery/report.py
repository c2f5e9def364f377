"""The evaluation report: report.json and report.md, for one model or several.

``report.json`` keeps INTERFACES.md's keys at the top level (``verification`` and
``identification`` of the first model) and adds ``models``: one entry per model with
its name, run, modality, fingerprint and full numbers, in the order given; where the
attributes were measured (:mod:`gallery.attributes`), an entry also holds
``attributes`` (``{task: {"auc", "balanced_accuracy" (multi-task runs only),
"leakage_auc", "positives", "negatives"}}``) and ``attribute_change`` (``{"changed",
"unchanged", "by_task": {task: ...}}``, each ``{"probes", "people", "rank1", "auc"}``),
and report.md a table of each. Where the maps file holds presentation attacks with
liveness scores, ``presentation_attack`` holds the file's PAD figures
(:func:`gallery.evaluation.presentation_attack`) and report.md a section on them. The
curves behind the plots (ROC, CMC, score histograms, DET) come from
:mod:`gallery.evaluation`;
drawing them is the command line's (``psface/plots.py``), so the library needs no
plotting backend.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from gallery.metrics import REPORT_FARS, far_key
from psbase.atomic import write_atomically
from psbase.outputs import make_folders


def build_report(
    models: list[dict], *, protocol: dict, presentation_attack: dict | None = None
) -> dict:
    """The report.json object from per-model entries (each with both halves), and the
    maps file's PAD figures where it has them."""
    first = models[0]
    report = {
        "verification": first["verification"],
        "identification": first["identification"],
        "models": models,
        "protocol": protocol,
    }
    if presentation_attack is not None:
        report["presentation_attack"] = presentation_attack
    return report


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
    attacks = report["protocol"].get("presentation_attacks")
    if attacks:
        lines.append(
            f"- {attacks['attack_rows']} presentation attack rows of the maps file left out: "
            "the figures above are over bona fide sessions only."
        )
    lines += _attribute_tables(report["models"])
    if notes:
        lines += ["", "Not measured:", "", *[f"- {n}" for n in notes]]
    plots = "roc.png (log FAR), cmc.png, scores.png"
    if "presentation_attack" in report:
        lines += _presentation_attack_section(report["presentation_attack"])
        if report["presentation_attack"]["bona_fide"]:  # no DET without bona fide scores
            plots += ", det.png (DET, normal-deviate axes)"
    lines += ["", f"Plots: {plots}.", ""]
    return "\n".join(lines)


def _threshold_text(pad: dict) -> str:
    """Where the operating threshold came from, in a sentence."""
    target = f"BPCER {100 * pad['bpcer_target']:g}%"
    if pad["threshold"] is None:
        return (
            f"No operating threshold for {target}: the maps file has neither a liveness "
            "calibration nor a bona fide presentation with a liveness score."
        )
    head = f"Operating threshold {pad['threshold']:.4f}"
    if pad["threshold_source"] == "calibration":
        return f"{head}: the maps file's liveness calibration for {target}."
    return (
        f"{head}: the maps file has no liveness calibration, so this is the threshold at "
        f"{target} of its own {pad['bona_fide']} bona fide scores (optimistic: fitted to "
        "the scores it is measured on)."
    )


def _presentation_attack_section(pad: dict) -> list[str]:
    """PAD figures: BPCER and each attack type's APCER at the operating threshold, and
    APCER at the reported BPCERs."""
    keys = list(pad["apcer_at_bpcer"])
    at = pad["apcer_at_bpcer"]
    lines = [
        "",
        "## Presentation attack detection",
        "",
        "Liveness scores of every row of the maps file (ISO/IEC 30107-3); a presentation "
        "is classified bona fide (live) when its score is at least the threshold. "
        "APCER: share of one attack type's presentations classified bona fide (attacks let "
        "through); BPCER: share of bona fide presentations classified as attacks (live "
        "faces turned away); max: the worst attack type. Rates in percent.",
        "",
        _threshold_text(pad),
        "",
        "| presentations | n | at the threshold | "
        + " | ".join(f"APCER@BPCER {k}" for k in keys)
        + " |",
        "|" + "---|" * (3 + len(keys)),
        f"| bona fide | {pad['bona_fide']} | BPCER {_fmt(pad['bpcer'])} |" + " |" * len(keys),
    ]
    for kind, n in pad["attacks"].items():
        cells = [_fmt(None if at[k] is None else at[k][kind]) for k in keys]
        lines.append(f"| {kind} | {n} | APCER {_fmt(pad['apcer'][kind])} | {' | '.join(cells)} |")
    cells = [_fmt(None if at[k] is None else at[k]["max"]) for k in keys]
    total = sum(pad["attacks"].values())
    lines.append(
        f"| attacks, max | {total} | APCER {_fmt(pad['apcer_max'])} | {' | '.join(cells)} |"
    )
    notes = [f"APCER@BPCER {k} {text}" for k, text in pad["apcer_at_bpcer_note"].items()]
    if pad["not_measured"]:
        notes.append(f"{pad['not_measured']} rows without a liveness score are left out")
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    return lines + _recorded_scores(pad.get("recorded_scores", {}))


def _recorded_scores(recorded: dict) -> list[str]:
    """The scores recorded beside the deciding one: each attack type's APCER at the
    threshold of this file's own bona fide scores for the target BPCER."""
    if not recorded:
        return []
    kinds = sorted({kind for entry in recorded.values() for kind in entry["apcer"]})
    lines = [
        "",
        "Recorded beside the deciding score, not deciding: the learned liveness networks, "
        "and both scores together (the lower). Each at the threshold of this file's own "
        "bona fide scores for the target BPCER (optimistic: fitted where it is measured).",
        "",
        "| score | threshold | BPCER | " + " | ".join(f"APCER {k}" for k in kinds) + " |",
        "|" + "---|" * (3 + len(kinds)),
    ]
    for name, entry in recorded.items():
        cells = [_fmt(entry["apcer"].get(kind)) for kind in kinds]
        threshold = "-" if entry["threshold"] is None else f"{entry['threshold']:.3f}"
        lines.append(f"| {name} | {threshold} | {_fmt(entry['bpcer'])} | {' | '.join(cells)} |")
    return lines


def _attribute_tables(models: list[dict]) -> list[str]:
    """The attribute heads and leakage, and identification by attribute change."""
    measured = [m for m in models if "attributes" in m]
    if not measured:
        return []
    lines = [
        "",
        "## Attributes",
        "",
        "Heads (multi-task models): ROC AUC, and balanced accuracy (percent) at probability 0.5. "
        "Leakage: ROC AUC of a linear probe reading the attribute off the embedding, "
        "cross-validated over person-disjoint halves (0.5: nothing leaks; lower is better). "
        "Known labels only: pos/neg counts them among the samples.",
        "",
        "| model | attribute | head AUC | head balanced accuracy | leakage AUC | pos/neg |",
        "|---|---|---|---|---|---|",
    ]
    for m in measured:
        for task, f in m["attributes"].items():
            row = [
                m["name"],
                task,
                _fmt(f.get("auc"), percent=False),
                _fmt(f.get("balanced_accuracy")),
                _fmt(f["leakage_auc"], percent=False),
                f"{f['positives']}/{f['negatives']}",
            ]
            lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "## Identification by attribute change",
        "",
        "Probes whose spectacles, facial hair or expression differ from their person's "
        "earliest enrolled session, against the rest (no change known; missing labels "
        "count as unchanged): rank-1 (percent) and the AUC of the group's probes against "
        "every enrolled template.",
        "",
        "| model | probes | n | people | rank-1 | AUC |",
        "|---|---|---|---|---|---|",
    ]
    for m in measured:
        change = m["attribute_change"]
        groups = [("changed", change["changed"]), ("unchanged", change["unchanged"])]
        groups += [(f"{task} changed", g) for task, g in change["by_task"].items()]
        for name, g in groups:
            row = [
                m["name"],
                name,
                str(g["probes"]),
                str(g["people"]),
                _fmt(g["rank1"]),
                _fmt(g["auc"], percent=False),
            ]
            lines.append("| " + " | ".join(row) + " |")
    missing = [
        f"- {m['name']}: {m['attribute_change']['unchanged']['unknown']} of the unchanged "
        "probes lack a spectacles, facial hair or expression label on one side"
        for m in measured
        if m["attribute_change"]["unchanged"].get("unknown")
    ]
    if missing:
        lines += ["", *missing]
    return lines


def write_report(out: str | Path, report: dict) -> Path:
    """Write REPORT/report.json and report.md, each atomically; return the folder.

    The folder is created (owner-only) if absent; the caller decides whether an existing
    one may be written into (:func:`psbase.outputs.prepare_output_folder`).
    """
    out = Path(out)
    make_folders(out)
    _write_text(out / "report.json", json.dumps(report, indent=1) + "\n")
    _write_text(out / "report.md", markdown(report))
    return out


def _write_text(path: Path, text: str) -> None:
    write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
