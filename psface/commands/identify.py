"""``psface identify``: rank gallery people for every session of a maps file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from psbase.errors import InputError
from psface.commands.enroll import add_model_args, embed_rows
from psface.options import integer, number

HELP = "search a gallery: ranked candidates for each session (1:N)"
DESCRIPTION = """\
Embed each session of a maps dataset and search the gallery for the people it most
resembles (cosine similarity of templates). Prints the top-k candidates with scores.

By default each person is represented by their aggregate template (quality-weighted
mean of their enrolled sessions); --per-session scores every enrolled session and keeps
each person's best. With --threshold T the answer is open-set: a session whose best
score is below T is reported as "unknown".

Search is exact (NumPy below 100,000 templates, FAISS above); --search ivf uses an
approximate FAISS index for very large galleries. The gallery must have been enrolled
with the same model.

examples:
  psface identify probes.h5 --model runs/normal --gallery gallery.h5
  psface identify probes.h5 --model runs/normal --gallery gallery.h5 -k 3 --threshold 0.35
  psface identify probes.h5 --model runs/normal --gallery gallery.h5 --json > answers.json"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "identify",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("maps", type=Path, metavar="MAPS", help="maps dataset of the probes")
    add_model_args(parser)
    parser.add_argument("--gallery", required=True, type=Path, help="gallery file (.h5)")
    parser.add_argument(
        "-k", "--top", type=integer(1, 1000), default=5, help="candidates per probe, 1-1000 (5)"
    )
    parser.add_argument(
        "--threshold", type=number(), help="open set: below this cosine, answer unknown"
    )
    parser.add_argument("--per-session", action="store_true", help="search session templates")
    parser.add_argument(
        "--search", choices=("auto", "numpy", "faiss", "ivf"), default="auto", help="(auto)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run)


def rank_identities(
    queries: np.ndarray, templates: np.ndarray, labels: np.ndarray, k: int, method: str
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k distinct identities per query: (labels (Q, k) with '' padding, scores (Q, k))."""
    from gallery.search import build_searcher

    searcher = build_searcher(templates, method=method)
    per_label = int(np.unique(labels, return_counts=True)[1].max()) if labels.size else 1
    if per_label == 1:  # one template per identity: the top-k rows are the answer
        scores, idx = searcher.search(queries, k)
        names = np.where(idx >= 0, labels[np.maximum(idx, 0)].astype(object), "")
        return names, np.where(idx >= 0, scores, np.nan)
    scores, idx = searcher.search(queries, min(len(templates), k * per_label) or 1)
    out_l = np.full((len(queries), k), "", dtype=object)
    out_s = np.full((len(queries), k), np.nan)
    for q in range(len(queries)):
        seen: list[str] = []
        for s, i in zip(scores[q], idx[q], strict=True):
            if i >= 0 and labels[i] not in seen:
                out_l[q, len(seen)], out_s[q, len(seen)] = labels[i], s
                seen.append(labels[i])
                if len(seen) == k:
                    break
    return out_l, out_s


def run(args: argparse.Namespace) -> int:
    from gallery.store import read_gallery
    from recognition.embed import load_embedder

    g = read_gallery(args.gallery)
    if len(g) == 0:
        raise InputError(
            args.gallery, "holds no enrolled people; enrol some with `psface enroll` first"
        )
    embedder = load_embedder(args.model, device=args.device)
    g.check_model(embedder.fingerprint, embedder.modality, str(args.model))
    if g.dim != embedder.config.embedding_dim:
        raise InputError(
            args.gallery,
            f"holds {g.dim}-dimensional templates but its model gives "
            f"{embedder.config.embedding_dim}-dimensional embeddings; the file is damaged",
        )
    emb, _, subject, session = embed_rows(args.maps, embedder, batch_size=args.batch_size)
    if args.per_session:
        templates, labels = g.templates, g.subject
    else:
        templates, labels = g.identity_templates, g.identities
    names, scores = rank_identities(emb, templates, labels, args.top, args.search)
    answers = []
    for q in range(len(emb)):
        best = names[q, 0] if names[q, 0] else "unknown"
        if args.threshold is not None and not scores[q, 0] >= args.threshold:
            best = "unknown"
        candidates = [
            {"subject": str(n), "score": float(s)}
            for n, s in zip(names[q], scores[q], strict=True)
            if n
        ]
        answers.append(
            {
                "subject": str(subject[q]),
                "session": str(session[q]),
                "answer": best,
                "candidates": candidates,
            }
        )
    if args.json:
        print(json.dumps({"gallery": str(args.gallery), "probes": answers}, indent=1))
        return 0
    print(f"{'probe':<32} {'answer':<16} candidates (score)")
    for a in answers:
        cands = "  ".join(f"{c['subject']} ({c['score']:.3f})" for c in a["candidates"])
        print(f"{a['subject'] + '/' + a['session']:<32} {a['answer']:<16} {cands}")
    return 0
