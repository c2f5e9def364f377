"""Liveness beside the match: verify and identify judge each probe live, attack or
unknown at its maps file's threshold, warn when an attack matches, and reject it with
--require-live.

Maps files are written by hand (tiny crops, one albedo pattern per person) and read by
the real :class:`MapsFile`; the model is a stand-in that embeds the albedo map, so a
person's sessions score 1 against each other and strangers about 0, in milliseconds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from gallery.liveness import (
    ATTACK,
    LIVE,
    UNKNOWN,
    Liveness,
    check_match,
    decide,
    read_liveness,
)
from photostereo.maps_file import MapsFile, append_samples, create_datasets
from psface import commands
from psface.cli import main

SIZE = 8
#: BPCER -> threshold, as preprocess records it; 0.01 (the default) gives exactly 0.5.
CALIBRATION = {"bpcer": [0.001, 0.01, 0.1], "threshold": [0.2, 0.5, 0.8]}
#: (subject, session, liveness score, attack label). The labels contradict the scores
#: on purpose: decisions must follow the score only.
SESSIONS = [
    ("s0", "v0", 0.9, ""),  # live
    ("s0", "v1", 0.3, ""),  # attack (a spoof the labels missed)
    ("s1", "v0", 0.5, "print"),  # exactly at the threshold: live, whatever the label
    ("s1", "v1", math.nan, ""),  # not measured: unknown
    ("s2", "v0", 0.49, ""),  # just below: attack
    ("s2", "v1", 0.7, ""),  # live at 0.01, an attack at BPCER 0.1 (threshold 0.8)
]


def write_maps(path: Path, *, calibration: dict | None = CALIBRATION) -> Path:
    rng = np.random.default_rng(0)
    faces = {s: rng.normal(0, 1, (1, SIZE, SIZE)).astype(np.float32) for s in ("s0", "s1", "s2")}
    samples = []
    for subject, session, score, attack in SESSIONS:
        zeros = np.zeros((1, SIZE, SIZE), np.float32)
        samples.append(
            {
                "normal": np.zeros((3, SIZE, SIZE), np.float32),
                "albedo": faces[subject]
                + rng.normal(0, 0.01, faces[subject].shape).astype(np.float32),
                "depth": zeros,
                "image": zeros,
                "mask": np.ones((1, SIZE, SIZE), np.uint8),
                "subject": subject,
                "session": session,
                "liveness": np.float32(score),
                "attack": attack,
            }
        )
    with h5py.File(path, "w") as handle:
        create_datasets(handle, SIZE)
        append_samples(handle, samples)
        if calibration is not None:
            handle.attrs["liveness_calibration"] = json.dumps(calibration)
    return path


def strip_liveness(path: Path) -> Path:
    """The file as psface wrote it before liveness existed."""
    with h5py.File(path, "a") as handle:
        for name in ("liveness", "liveness_learned", "attack", "liveness_cues"):
            del handle[f"meta/{name}"]
        handle.attrs.pop("liveness_calibration", None)
    return path


class AlbedoModel:
    """A stand-in embedder: the unit-length albedo map."""

    fingerprint = "f" * 64
    modality = "albedo"
    config = SimpleNamespace(embedding_dim=SIZE * SIZE)

    trained_people = None  # the run folder's split.json says

    def embed_file(self, maps_file, indices=None, *, batch_size=256):
        rows = np.arange(len(maps_file)) if indices is None else np.asarray(indices)
        flat = maps_file.read("albedo", rows).reshape(len(rows), -1)
        return flat / np.linalg.norm(flat, axis=1, keepdims=True), np.ones(len(rows), np.float32)

    def attribute_logits_file(self, maps_file, indices=None, *, batch_size=256):
        return None


@pytest.fixture
def cli(monkeypatch):
    """``main`` with the stand-in model wired into the matching stages."""

    def wiring(device):
        return {"open_maps": MapsFile, "load_model": lambda run: AlbedoModel()}

    for stage in (commands.enroll, commands.verify, commands.identify):
        monkeypatch.setattr(stage, "maps_and_models", wiring)
    return main


@pytest.fixture
def files(tmp_path, cli):
    """(maps with liveness, the same maps from before liveness, a gallery of everyone)."""
    maps = write_maps(tmp_path / "maps.h5")
    old = strip_liveness(write_maps(tmp_path / "old.h5"))
    gallery = tmp_path / "g.h5"
    assert cli(["enroll", str(maps), "--model", "run", "--gallery", str(gallery)]) == 0
    return maps, old, gallery


def verify(cli, capsys, a, b, maps, *extra):
    args = ["verify", a, b, "--model", "run", "--maps", str(maps), "--threshold", "0.9", *extra]
    assert cli(args) == 0
    out = capsys.readouterr().out
    return json.loads(out) if "--json" in extra else out


def identify(cli, capsys, maps, gallery, *extra):
    """The answers by probe (``--json``), or the text table and what went to stderr."""
    args = ["identify", str(maps), "--model", "run", "--gallery", str(gallery), "-k", "2"]
    assert cli([*args, *extra]) == 0
    printed = capsys.readouterr()
    if "--json" in extra:
        return {f"{p['subject']}/{p['session']}": p for p in json.loads(printed.out)["probes"]}
    return printed.out, printed.err


# The decision itself.


@pytest.mark.parametrize(
    ("score", "threshold", "decision"),
    [
        (0.9, 0.5, LIVE),
        (0.5, 0.5, LIVE),  # at the threshold: live
        (np.nextafter(0.5, 0), 0.5, ATTACK),
        (0.0, 0.5, ATTACK),
        (math.nan, 0.5, UNKNOWN),
        (0.9, None, UNKNOWN),
        (math.nan, None, UNKNOWN),
    ],
)
def test_a_score_is_live_from_the_threshold_up(score, threshold, decision):
    assert decide(score, threshold) == decision
    assert Liveness(score, threshold).decision == decision


def test_a_maps_file_judges_each_session_by_its_score_not_its_label(tmp_path):
    with MapsFile(write_maps(tmp_path / "maps.h5")) as maps:
        verdicts = read_liveness(maps, np.arange(len(maps)))
        assert [v.decision for v in verdicts] == [LIVE, ATTACK, LIVE, UNKNOWN, ATTACK, LIVE]
        assert {v.threshold for v in verdicts} == {0.5}
        strict = read_liveness(maps, np.array([5, 0]), bpcer=0.1)
        assert [(v.threshold, v.decision) for v in strict] == [(0.8, ATTACK), (0.8, LIVE)]
    with MapsFile(write_maps(tmp_path / "uncalibrated.h5", calibration=None)) as maps:
        assert {v.decision for v in read_liveness(maps, np.arange(len(maps)))} == {UNKNOWN}


def test_a_maps_reader_without_liveness_reads_as_unmeasured():
    class Unmeasured:  # what MapsFile returns for a file made before liveness
        def liveness(self) -> np.ndarray:
            return np.full(2, np.nan, np.float32)

        def liveness_threshold(self, bpcer: float) -> None:
            return None

    (verdict,) = read_liveness(Unmeasured(), np.array([1]))  # type: ignore[arg-type]
    assert verdict.decision == UNKNOWN and not verdict.measured


def test_only_an_accepted_match_is_checked_and_require_live_rejects_unknown():
    attack, unknown, live = Liveness(0.1, 0.5), Liveness(math.nan, 0.5), Liveness(0.6, 0.5)
    samples = {"A": live, "B": attack}
    assert check_match(samples, accepted=False, require_live=True).rejection is None
    warned = check_match(samples, accepted=True)
    assert warned.rejection is None and "B liveness 0.100 < threshold 0.500" in warned.warning
    assert "A " not in warned.warning
    assert check_match({"A": live, "B": unknown}, accepted=True).warning is None
    rejected = check_match({"A": live, "B": unknown}, accepted=True, require_live=True)
    assert rejected.warning is None and "B liveness unknown" in rejected.rejection
    assert check_match({"A": live}, accepted=True, require_live=True) == check_match(
        {"A": live}, accepted=True
    )


# psface verify.


def test_verify_reports_both_samples_liveness_in_json(cli, files, capsys):
    maps, _, _ = files
    out = verify(cli, capsys, "s0/v0", "s1/v0", maps, "--json")
    assert out["decision"] == "different"  # two people: no match, nothing to warn about
    assert out["liveness"] == {
        "a": {"score": pytest.approx(0.9), "threshold": 0.5, "bpcer": 0.01, "decision": "live"},
        "b": {"score": 0.5, "threshold": 0.5, "bpcer": 0.01, "decision": "live"},
    }
    assert "warning" not in out and "rejected" not in out
    out = verify(cli, capsys, "s1/v1", f"{maps}:0", maps, "--json")
    assert out["liveness"]["a"] == {
        "score": None,
        "threshold": 0.5,
        "bpcer": 0.01,
        "decision": "unknown",
    }


def test_verify_warns_when_an_attack_matches(cli, files, capsys):
    maps, _, _ = files
    out = verify(cli, capsys, "s0/v0", "s0/v1", maps, "--json")
    assert out["decision"] == "same" and out["liveness"]["b"]["decision"] == "attack"
    assert "presentation attack suspected" in out["warning"] and "s0/v1" in out["warning"]
    assert "0.300" in out["warning"] and "s0/v0" not in out["warning"]
    text = verify(cli, capsys, "s0/v0", "s0/v1", maps)
    lines = text.splitlines()
    assert lines[1].startswith("decision same (accept when score >= 0.9000")
    assert "liveness A (s0/v0): 0.900 live (live when >= 0.500, BPCER 0.01)" in lines
    assert "liveness B (s0/v1): 0.300 attack (live when >= 0.500, BPCER 0.01)" in lines
    (warning,) = [line for line in lines if line.startswith("WARNING:")]
    assert "B (s0/v1) liveness 0.300 < threshold 0.500" in warning


def test_verify_bpcer_moves_the_threshold(cli, files, capsys):
    maps, _, _ = files
    default = verify(cli, capsys, "s2/v1", "s2/v1", maps, "--json")
    assert default["liveness"]["a"]["decision"] == "live" and "warning" not in default
    strict = verify(cli, capsys, "s2/v1", "s2/v1", maps, "--json", "--bpcer", "0.1")
    assert strict["liveness"]["a"] == {
        "score": pytest.approx(0.7),
        "threshold": pytest.approx(0.8),
        "bpcer": 0.1,
        "decision": "attack",
    }
    assert strict["decision"] == "same" and "warning" in strict


def test_verify_require_live_rejects_an_attack_and_an_unknown(cli, files, capsys):
    maps, _, _ = files
    out = verify(cli, capsys, "s0/v0", "s0/v1", maps, "--json", "--require-live")
    assert out["decision"] == "rejected" and "s0/v1" in out["rejected"]
    assert "warning" not in out
    text = verify(cli, capsys, "s0/v0", "s0/v1", maps, "--require-live")
    assert "decision rejected (presentation attack suspected)" in text.splitlines()
    assert "decision same" not in text
    out = verify(cli, capsys, "s1/v1", "s1/v0", maps, "--json", "--require-live")
    assert out["decision"] == "rejected" and "s1/v1" in out["rejected"]
    assert "unknown" in out["rejected"]
    # Live on both sides: the requirement is met; and a non-match is never "rejected".
    out = verify(cli, capsys, "s1/v0", "s1/v0", maps, "--json", "--require-live")
    assert out["decision"] == "same" and "rejected" not in out
    out = verify(cli, capsys, "s0/v1", "s1/v0", maps, "--json", "--require-live")
    assert out["decision"] == "different" and "rejected" not in out


def test_verify_of_a_file_without_liveness_prints_as_before(cli, files, capsys):
    _, old, _ = files
    out = verify(cli, capsys, "s0/v0", "s0/v1", old, "--json")
    assert set(out) == {"a", "b", "score", "decision", "threshold", "far"}
    assert out["decision"] == "same"
    text = verify(cli, capsys, "s0/v0", "s0/v1", old)
    assert text == f"score {out['score']:.4f}\ndecision same (accept when score >= 0.9000)\n"
    # A requirement cannot be met without a measurement.
    out = verify(cli, capsys, "s0/v0", "s0/v1", old, "--json", "--require-live")
    assert out["decision"] == "rejected"
    assert out["liveness"]["a"]["decision"] == out["liveness"]["b"]["decision"] == "unknown"


def test_verify_judges_each_sample_by_its_own_file(cli, files, capsys):
    maps, old, _ = files
    out = verify(cli, capsys, f"{maps}:1", f"{old}:0", maps, "--json")
    assert out["decision"] == "same" and "warning" in out
    assert out["liveness"]["a"]["decision"] == "attack"
    assert out["liveness"]["b"] == {
        "score": None,
        "threshold": None,
        "bpcer": 0.01,
        "decision": "unknown",
    }


# psface identify.


def test_identify_reports_each_probes_liveness_and_warns_on_attacks(cli, files, capsys):
    maps, _, gallery = files
    probes = identify(cli, capsys, maps, gallery, "--json")
    decisions = {name: p["liveness"]["decision"] for name, p in probes.items()}
    assert decisions == {
        "s0/v0": "live",
        "s0/v1": "attack",
        "s1/v0": "live",
        "s1/v1": "unknown",
        "s2/v0": "attack",
        "s2/v1": "live",
    }
    assert all(p["answer"] == p["subject"] for p in probes.values())  # closed set: accepted
    warned = {name for name, p in probes.items() if "warning" in p}
    assert warned == {"s0/v1", "s2/v0"}
    assert "s2/v0 liveness 0.490 < threshold 0.500" in probes["s2/v0"]["warning"]
    text, err = identify(cli, capsys, maps, gallery)
    lines = text.splitlines()  # the table keeps its columns, one line per probe
    assert lines[0].split() == ["probe", "answer", "candidates", "(score)"]
    assert len(lines) == 1 + len(probes)
    (row,) = [line for line in lines if line.startswith("s0/v1 ")]
    assert row.split()[:2] == ["s0/v1", "s0"]
    assert row.endswith("[liveness 0.300 attack]")
    warnings = err.splitlines()
    assert len(warnings) == 2
    assert all(w.startswith("psface identify: WARNING: presentation attack") for w in warnings)
    assert any("s0/v1 liveness 0.300" in w for w in warnings)


def test_identify_warns_only_on_an_accepted_identity(cli, files, capsys):
    maps, _, gallery = files
    probes = identify(cli, capsys, maps, gallery, "--json", "--threshold", "1.01")
    assert all(p["answer"] == "unknown" for p in probes.values())
    assert not any("warning" in p or "rejected" in p for p in probes.values())
    assert probes["s0/v1"]["liveness"]["decision"] == "attack"


def test_identify_bpcer_moves_the_threshold(cli, files, capsys):
    maps, _, gallery = files
    probes = identify(cli, capsys, maps, gallery, "--json", "--bpcer", "0.1")
    assert probes["s2/v1"]["liveness"] == {
        "score": pytest.approx(0.7),
        "threshold": pytest.approx(0.8),
        "bpcer": 0.1,
        "decision": "attack",
    }
    assert "s2/v1 liveness 0.700 < threshold 0.800 at BPCER 0.1" in probes["s2/v1"]["warning"]
    assert probes["s0/v0"]["liveness"]["decision"] == "live"


def test_identify_require_live_refuses_attacks_and_unknowns(cli, files, capsys):
    maps, _, gallery = files
    probes = identify(cli, capsys, maps, gallery, "--json", "--require-live")
    refused = {name for name, p in probes.items() if p["answer"] == "unknown"}
    assert refused == {"s0/v1", "s1/v1", "s2/v0"}
    assert refused == {name for name, p in probes.items() if "rejected" in p}
    assert probes["s0/v1"]["rejected"].startswith("s0 refused: s0/v1 liveness 0.300")
    assert not any("warning" in p for p in probes.values())
    assert probes["s0/v1"]["candidates"][0]["subject"] == "s0"  # still shown, not accepted
    text, err = identify(cli, capsys, maps, gallery, "--require-live")
    (row,) = [line for line in text.splitlines() if line.startswith("s1/v1 ")]
    assert row.split()[:2] == ["s1/v1", "unknown"]
    assert row.endswith("[liveness - unknown]")
    assert err.count("REJECTED (presentation attack suspected): ") == 3


def test_identify_of_a_file_without_liveness_prints_as_before(cli, files, capsys):
    _, old, gallery = files
    probes = identify(cli, capsys, old, gallery, "--json")
    assert all(set(p) == {"subject", "session", "answer", "candidates"} for p in probes.values())
    assert all(p["answer"] == p["subject"] for p in probes.values())
    text, err = identify(cli, capsys, old, gallery)
    assert err == ""
    lines = text.splitlines()
    assert lines[0] == f"{'probe':<32} {'answer':<16} candidates (score)"
    assert len(lines) == 1 + len(SESSIONS)
    for line in lines[1:]:
        probe, answer, first, _ = line.split(maxsplit=3)
        assert answer == probe.split("/")[0] == first
    probes = identify(cli, capsys, old, gallery, "--json", "--require-live")
    assert all(p["answer"] == "unknown" and "rejected" in p for p in probes.values())


def test_help_explains_bpcer_and_require_live(capsys):
    for stage in ("verify", "identify"):
        with pytest.raises(SystemExit):
            main([stage, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "--bpcer RATE" in text and "share of live faces" in text
        assert "lets more attacks through" in text
        assert "unknown liveness" in text


def test_bpcer_must_be_a_rate(capsys):
    for bad in ("0", "1", "-0.1", "nan"):
        with pytest.raises(SystemExit):
            main(["verify", "a/b", "c/d", "--model", "run", "--bpcer", bad])
        assert "--bpcer" in capsys.readouterr().err


def test_the_stripped_file_really_is_an_old_one(files):
    _, old, _ = files
    with MapsFile(old) as maps, h5py.File(old) as raw:
        assert "meta/liveness" not in raw and maps.liveness_threshold(0.01) is None
        assert np.isnan(maps.liveness()).all()
