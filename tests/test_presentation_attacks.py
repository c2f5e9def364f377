"""Presentation-attack detection end to end: attacks through ``preprocess``, judged at
the shipped calibration's threshold for BPCER 1%, on people the network never saw.

The synthetic set is the issue's: 20 people of a seed the training script does not use
(five live sessions each, so that BPCER 1% is measurable: one live face in 100), every
attack kind made from their own photographs. The real set is Extended Yale B
people 6 to 10 (the script trains and calibrates on 1 to 5): their protocol sessions
live, and prints and screens made from their captures; it skips only without
``../shared/data/yaleb``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from gallery.pad_metrics import apcer_at_bpcer, apcer_per_type, bpcer
from photostereo.batch import run_preprocess
from photostereo.liveness import CALIBRATION_FILE
from photostereo.liveness_net import WEIGHTS_FILE, LivenessEnsemble, mirror, net_input
from photostereo.maps_file import MapsFile
from photostereo.preprocess import PreprocessConfig
from photostereo.realdata.export import export_sessions
from photostereo.realdata.runner import load_protocol
from synthetic_faces.attacks import ATTACKS, generate_attacks, write_capture_attacks
from synthetic_faces.generate import SynthConfig, generate
from tests.test_real_yaleb import DATA, PROTOCOL, needs_data

HELD_OUT_YALE = [f"yaleB{i:02d}" for i in range(6, 11)]


SHEETS = ("print", "curved-print", "screen")


def judged(path) -> tuple[float, dict[str, float]]:
    """BPCER and APCER per kind at the shipped threshold for BPCER 1%."""
    with MapsFile(path) as maps:
        attacks = np.asarray(maps.attacks(), dtype=str)
        scores = maps.liveness()
        threshold = maps.liveness_threshold(0.01)
    assert threshold is not None and np.isfinite(scores).all()
    return bpcer(scores[attacks == ""], threshold), apcer_per_type(scores, attacks, threshold)


def test_the_shipped_network_and_calibration_load():
    net = LivenessEnsemble()
    net.load_state_dict(load_file(str(WEIGHTS_FILE)))  # every weight, no missing key
    assert sum(p.numel() for p in net.parameters()) < 100_000
    assert torch.isfinite(torch.cat([p.flatten() for p in net.parameters()])).all()
    table = json.loads(CALIBRATION_FILE.read_text())
    rates, thresholds = np.array(table["bpcer"]), np.array(table["threshold"])
    assert (np.diff(rates) > 0).all() and (np.diff(thresholds) >= 0).all()
    assert ((thresholds > 0) & (thresholds < 1)).all()
    assert 0.01 in table["bpcer"]


def test_training_mirrors_the_face_and_its_normals():
    rng = np.random.default_rng(0)
    normals = rng.normal(size=(56, 56, 3)).astype(np.float32)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    albedo = rng.uniform(0.2, 0.8, (56, 56)).astype(np.float32)
    x = torch.from_numpy(net_input(normals, albedo, np.ones((56, 56), bool))[None])
    seen = mirror(x)
    assert torch.equal(seen[0, 0], torch.flip(x[0, 0], dims=[1]))
    assert torch.equal(seen[0, 1], -torch.flip(x[0, 1], dims=[1]))
    assert torch.equal(seen[0, 2:], torch.flip(x[0, 2:], dims=[2]))
    assert torch.equal(mirror(seen), x)


@pytest.fixture(scope="module")
def synthetic_maps(tmp_path_factory):
    work = tmp_path_factory.mktemp("pad_synthetic")
    config = SynthConfig(subjects=20, sessions=5, seed=100)
    generate(work / "sessions", config, workers=2)
    generate_attacks(work / "sessions", config, ATTACKS, workers=2)
    summary = run_preprocess(work / "sessions", work / "maps.h5", PreprocessConfig(), workers=2)
    assert len(summary.done) >= 100 + 4 * 18  # MTCNN may miss a face on a screen
    return work / "maps.h5"


def test_every_sheet_is_caught_at_bpcer_1_percent(synthetic_maps):
    """Prints, bent prints and screens, at the shipped calibration's threshold for BPCER
    1% (which other live faces set: 100 live faces cannot tell 1% from 3%, four
    rejections would be 2% likely), and at BPCER 1% of this set's own live faces (the
    ISO figure)."""
    rejected_live, accepted = judged(synthetic_maps)
    assert rejected_live <= 0.03
    assert max(accepted[kind] for kind in SHEETS) == 0.0, accepted
    with MapsFile(synthetic_maps) as maps:
        attacks = np.asarray(maps.attacks(), dtype=str)
        assert (attacks == "").sum() >= 100
        own = apcer_at_bpcer(maps.liveness(), attacks, 0.01)
    assert max(own[kind] for kind in SHEETS) == 0.0, own


def test_a_mask_passes_relief_and_only_the_learned_networks_see_it(synthetic_maps):
    """A mask has a face's shape: the deciding (physical) score accepts it. The learned
    networks, recorded beside it, catch most masks at BPCER 1% of these live faces
    (measured: 18 of 20); they do not decide because real faces lit from one side fool
    them (photostereo.liveness)."""
    _, accepted = judged(synthetic_maps)
    assert accepted["mask"] >= 0.9
    with MapsFile(synthetic_maps) as maps:
        attacks = np.asarray(maps.attacks(), dtype=str)
        both = np.minimum(maps.liveness(), maps.learned_liveness())
    assert np.isfinite(both).all()
    assert apcer_at_bpcer(both, attacks, 0.01)["max"] <= 0.25


@needs_data
def test_real_faces_are_told_from_prints_and_screens_of_them(tmp_path):
    """Real Yale B faces against prints of their own captures (each capture the albedo
    of a plane, lit by the session's lamps) and screens showing them: separated at BPCER
    1% of these live faces (no live face rejected, 90 of them) with no attack let
    through; and at the shipped threshold for BPCER 1%, which Yale people 1 to 5 set,
    no attack through and a BPCER that 90 live faces cannot tell from 1% (3%: three
    rejections would be 6% likely)."""
    count = export_sessions(DATA, load_protocol(PROTOCOL), tmp_path, people=HELD_OUT_YALE)
    attacks = write_capture_attacks(tmp_path, np.random.default_rng(1))
    out = tmp_path.parent / f"{tmp_path.name}.h5"
    config = PreprocessConfig(size=64, detect=False)
    summary = run_preprocess(tmp_path, out, config, workers=2)
    assert len(summary.done) == count + len(attacks) == 90 + 160
    with MapsFile(out) as maps:
        kinds = np.asarray(maps.attacks(), dtype=str)
        own = apcer_at_bpcer(maps.liveness(), np.where(kinds == "", "", kinds), 0.01)
    assert own["print"] == 0.0 and own["screen"] == 0.0, own
    rejected_live, accepted = judged(out)
    assert rejected_live <= 0.03
    assert accepted["print"] == 0.0 and accepted["screen"] == 0.0, accepted
