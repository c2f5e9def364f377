"""Train the liveness networks and calibrate the liveness score; write what psface ships.

Run: ``.venv/bin/python scripts/train_liveness.py [--work DIR]`` (about 15 minutes on two
cores). It writes ``photostereo/data/liveness_net.safetensors`` and
``photostereo/data/liveness_calibration.json``, from data it makes itself through the
commands' own code (synth, the attack renderer, preprocess), so the network sees what
preprocess will give it:

* **training**: synthetic people (seeds 1000, 2000 and 4000; 750 people, 600 of the
  attacks masks, the attack relief cannot see) preprocessed as ``psface preprocess``
  does by default (face detection, 112 px aligned crops); and, where
  ``../shared/data/yaleb`` is present, Extended Yale B people 1 to 5: the real protocol
  sessions as live faces, and print and screen attacks made from their captures
  (:func:`synthetic_faces.attacks.write_capture_attacks`), preprocessed as such tight
  crops must be (``--no-detect``) at 64 and 112 px. Real live faces keep the networks
  from calling real skin fake. Yale people 6 to 10 are never seen: the tests and
  ``benchmarks/bench_liveness.py`` judge on them;
* **calibration** of the score that decides, the physical one: live faces of synthetic
  seed 3000 and of the Yale people 1 to 5. For each BPCER the threshold is the score
  below which that share of each set's live faces falls, the lowest over the sets, so no
  set's live faces are rejected more often than asked.

Each of the :data:`photostereo.liveness_net.MEMBERS` networks is trained from its own
seed, on the CPU in float32 with one thread: the same run gives the same weights.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn
from tqdm import tqdm

from photostereo.batch import run_preprocess
from photostereo.liveness import CALIBRATION_FILE, physical_score
from photostereo.liveness_net import (
    WEIGHTS_FILE,
    LivenessEnsemble,
    mirror,
    net_input,
)
from photostereo.maps_file import MapsFile
from photostereo.preprocess import PreprocessConfig
from photostereo.realdata.export import export_sessions
from photostereo.realdata.runner import load_protocol
from synthetic_faces.attacks import ATTACKS, generate_attacks, write_capture_attacks
from synthetic_faces.generate import SynthConfig, generate

ROOT = Path(__file__).resolve().parents[1]
YALE = ROOT.parent / "shared" / "data" / "yaleb"
PROTOCOL = ROOT / "data" / "protocols" / "yaleb.json"
#: Yale B people the network trains and calibrates on; the others are held out.
YALE_TRAINING = [f"yaleB{i:02d}" for i in range(1, 6)]
#: (name, seed, people, sessions each, attacks) of the synthetic sets.
SYNTHETIC = {
    "train-a": (1000, 150, 2, ATTACKS),
    "train-b": (2000, 300, 1, ("mask", "screen")),
    "train-c": (4000, 300, 1, ("mask",)),
    "calibrate": (3000, 60, 2, ()),
}
BPCERS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
EPOCHS = 40
BATCH = 64


def synthetic_maps(work: Path, name: str, workers: int) -> Path:
    """The synthetic set ``name``, preprocessed as by default."""
    seed, people, sessions, attacks = SYNTHETIC[name]
    folder = work / name
    if not folder.exists():
        config = SynthConfig(subjects=people, sessions=sessions, seed=seed)
        generate(folder, config, workers=workers)
        if attacks:
            generate_attacks(folder, config, attacks, workers=workers)
    return _preprocess(folder, work / f"{name}-aligned.h5", detect=True, size=112)


def yale_maps(work: Path) -> list[Path]:
    """Yale B people 1 to 5: every protocol session, and two print and two screen
    attacks from each four-light session's captures, preprocessed without detection
    (MTCNN finds no face in these tight crops) at 64 and 112 px."""
    folder = work / "yale"
    if not folder.exists():
        export_sessions(YALE, load_protocol(PROTOCOL), folder, people=YALE_TRAINING)
        write_capture_attacks(folder, np.random.default_rng(0))
    return [
        _preprocess(folder, work / f"yale-{size}.h5", detect=False, size=size) for size in (64, 112)
    ]


def _preprocess(folder: Path, out: Path, *, detect: bool, size: int) -> Path:
    if not out.exists():
        run_preprocess(folder, out, PreprocessConfig(size=size, detect=detect), workers=2)
    return out


def load_set(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(inputs (N, 4, 48, 48), is live (N,), physical scores (N,), subjects (N,))."""
    with MapsFile(path) as maps:
        normal, albedo, mask = maps.read("normal"), maps.read("albedo"), maps.mask()
        live = np.asarray(maps.attacks(), dtype=str) == ""
        cues = np.asarray(maps.handle["meta/liveness_cues"][:], np.float64)
        subjects, _ = maps.labels()
    inputs = np.stack(
        [
            net_input(np.moveaxis(n, 0, -1), a[0], m[0].astype(bool))
            for n, a, m in zip(normal, albedo, mask, strict=True)
        ]
    )
    return inputs, live, physical_score(cues), subjects


def train(inputs: np.ndarray, live: np.ndarray) -> LivenessEnsemble:
    """Every member of the ensemble, each from its own seed."""
    torch.set_num_threads(1)
    ensemble = LivenessEnsemble()
    for seed, member in enumerate(ensemble.members):
        train_member(member, inputs, live, seed=seed)
    return ensemble.eval()


def train_member(net: nn.Module, inputs: np.ndarray, live: np.ndarray, *, seed: int) -> None:
    """Class-balanced logistic loss, Adam with a cosine schedule, mirror images."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, EPOCHS)
    x = torch.from_numpy(inputs)
    y = torch.from_numpy(live.astype(np.float32))
    share = float(y.mean())
    weight = torch.where(y > 0.5, 0.5 / share, 0.5 / (1.0 - share))
    for _ in tqdm(range(EPOCHS), desc=f"member {seed}", unit="epoch"):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), BATCH):
            rows = order[start : start + BATCH]
            batch = x[rows]
            flip = torch.rand(len(rows), generator=generator) < 0.5
            batch = torch.where(flip[:, None, None, None], mirror(batch), batch)
            loss = nn.functional.binary_cross_entropy_with_logits(
                net(batch), y[rows], weight=weight[rows]
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        schedule.step()


def calibrate(sets: dict[str, Path]) -> dict:
    """Per BPCER, the lowest over ``sets`` of the live faces' quantile of the score that
    decides, the physical one (:mod:`photostereo.liveness`)."""
    per_set = {}
    for name, path in sets.items():
        _, live, physical, _ = load_set(path)
        scores = physical[live]
        per_set[name] = {"live_faces": int(live.sum()), "threshold": np.quantile(scores, BPCERS)}
    thresholds = np.min([entry["threshold"] for entry in per_set.values()], axis=0)
    return {
        "bpcer": list(BPCERS),
        "threshold": [round(float(t), 6) for t in thresholds],
        "sets": {
            name: {
                "live_faces": entry["live_faces"],
                "threshold": [round(float(t), 6) for t in entry["threshold"]],
            }
            for name, entry in per_set.items()
        },
        "made_by": "scripts/train_liveness.py",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "liveness")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if WEIGHTS_FILE.exists() or CALIBRATION_FILE.exists():
        print(f"remove {WEIGHTS_FILE.name} and {CALIBRATION_FILE.name} first: preprocess must")
        print("not score the training sets with an earlier network")
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    training = [synthetic_maps(args.work, name, args.workers) for name in SYNTHETIC]
    calibration = {"synthetic": training.pop()}
    if YALE.is_dir():
        yale = yale_maps(args.work)
        training += yale
        calibration |= {
            f"Yale B 1-5 ({size} px)": path for size, path in zip((64, 112), yale, strict=True)
        }
    loaded = [load_set(path) for path in training]
    inputs = np.concatenate([part[0] for part in loaded])
    live = np.concatenate([part[1] for part in loaded])
    print(f"training on {len(live)} sessions, {int(live.sum())} live")
    net = train(inputs, live)
    table = calibrate(calibration)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(WEIGHTS_FILE))
    CALIBRATION_FILE.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {WEIGHTS_FILE} and {CALIBRATION_FILE}")
    print(json.dumps({"bpcer": table["bpcer"], "threshold": table["threshold"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
