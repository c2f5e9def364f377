"""The exported model against its run: speed and templates through onnxruntime.

Run: ``.venv/bin/python benchmarks/bench_export.py [--run psface-demo/run]
[--maps psface-demo/maps.h5]`` (after ``make demo``). The run is exported twice, float
and ``--int8``; each embeds the same maps (all of them, batches of 64, each engine on
the machine's cores) and is evaluated by ``psface evaluate``'s own workflow on the
run's held-out people
(:func:`gallery.runs.evaluate_runs`). The baseline is the run itself through PyTorch on
the CPU: every speed is printed as a ratio to it, every template as its cosine to the
run's, every figure beside the run's.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import onnxruntime  # noqa: E402
import torch  # noqa: E402

from gallery.runs import evaluate_runs  # noqa: E402
from photostereo.maps_file import MapsFile  # noqa: E402
from recognition.export import export_onnx  # noqa: E402
from recognition.models import load_model  # noqa: E402


def timed_embedding(model, maps_path: Path) -> tuple[np.ndarray, float]:
    """(embeddings of every sample, maps per second), after a warm-up batch."""
    with MapsFile(maps_path) as maps:
        model.embed_file(maps, np.arange(min(64, len(maps))), batch_size=64)
        start = time.perf_counter()
        emb, _ = model.embed_file(maps, batch_size=64)
        return emb, len(emb) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=ROOT / "psface-demo" / "run")
    parser.add_argument("--maps", type=Path, default=ROOT / "psface-demo" / "maps.h5")
    args = parser.parse_args()
    if not (args.run / "model.safetensors").is_file() or not args.maps.is_file():
        parser.error(f"{args.run} or {args.maps} missing: run `make demo` first")
    print(
        f"machine: {platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}"
    )
    with tempfile.TemporaryDirectory() as work:
        models = {
            "run (PyTorch)": args.run,
            "export": export_onnx(args.run, Path(work) / "float.onnx"),
            "export --int8": export_onnx(args.run, Path(work) / "int8.onnx", int8=True),
        }
        weights = {name: path if path.is_file() else path / "model.safetensors"
                   for name, path in models.items()}  # fmt: skip
        sizes = {name: path.stat().st_size for name, path in weights.items()}
        embedded = {
            name: timed_embedding(load_model(path, device="cpu"), args.maps)
            for name, path in models.items()
        }
        report = Path(work) / "report"
        evaluate_runs(
            args.maps,
            list(models.values()),
            report,
            open_maps=MapsFile,
            load_model=lambda p: load_model(p, device="cpu"),
            bootstrap=0,
        )
        entries = json.loads((report / "report.json").read_text())["models"]
    reference, base_rate = embedded["run (PyTorch)"]
    print(f"\n{len(reference)} maps from {args.maps}, held-out people of {args.run}")
    header = f"{'model':16s} {'MB':>6s} {'maps/s':>8s} {'vs run':>7s} {'min cos':>8s}"
    print(f"{header} {'AUC':>7s} {'EER':>7s} {'rank-1':>7s}")
    for (name, (emb, rate)), entry in zip(embedded.items(), entries, strict=True):
        cos = float(np.min((emb * reference).sum(axis=1)))
        v, i = entry["verification"], entry["identification"]
        print(
            f"{name:16s} {sizes[name] / 1e6:6.1f} {rate:8.0f} {rate / base_rate:6.2f}x "
            f"{cos:8.5f} {v['auc']:7.4f} {v['eer']:7.4f} {i['rank1']:7.4f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
