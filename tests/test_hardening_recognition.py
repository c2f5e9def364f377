"""Issue 9, recognition and gallery: every bad input is one line naming the file and the
problem, no command writes over its inputs or over files it did not make, galleries are
owner-only, and a full disk leaves the previous gallery byte for byte."""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

from gallery.store import read_gallery
from psbase.errors import PsfaceError
from psface.cli import main
from recognition.checkpoint import load_tensors, save_tensors
from recognition.config import TrainConfig
from recognition.embed import load_embedder, save_model
from recognition.fusion import EmbeddingModel
from tests.recognition.ground_truth_maps import write_ground_truth_maps
from tests.tmpfs import small_tmpfs

ROOT = Path(__file__).resolve().parents[1]
PEOPLE, SESSIONS, SIZE, DIM = 12, 4, 32, 512


class World(NamedTuple):
    root: Path
    maps: Path
    run: Path  # an untrained model: embedding needs no training
    fingerprint: str


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("hardening")
    maps = root / "maps.h5"
    write_ground_truth_maps(maps, subjects=PEOPLE, sessions=SESSIONS, size=SIZE, seed=3)
    run = root / "run"
    run.mkdir()
    config = TrainConfig(modality="normal", size=SIZE, width=0.125, embedding_dim=DIM)
    torch.manual_seed(0)
    save_model(run, EmbeddingModel(config), config)
    return World(root, maps, run, load_embedder(run, device="cpu").fingerprint)


@pytest.fixture(scope="module")
def few(world) -> Path:
    """Maps of 6 people with 2 sessions each: training on them takes a moment."""
    path = world.root / "few.h5"
    write_ground_truth_maps(path, subjects=6, sessions=2, size=SIZE, seed=4)
    return path


@pytest.fixture(scope="module")
def trained(few, tmp_path_factory) -> Path:
    """A real one-epoch run with a checkpoint, for --resume."""
    run = tmp_path_factory.mktemp("trained") / "run"
    args = ["train", few, "--modality", "normal", "--out", run, "--epochs", "1"]
    args += ["--width", "0.125", "--batch-size", "16", "--device", "cpu", "--val-fraction", "0.25"]
    assert main([str(a) for a in args]) == 0
    return run


def cli(capsys, *argv) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``psface ARGV`` run in this process."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse refusals
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "(unexpected;" not in err, err
    for word in words:
        assert word in lines[0], (word, lines[0])


def model_args(world: World, gallery: Path) -> list:
    return ["--model", world.run, "--gallery", gallery, "--device", "cpu"]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp"))


# ---------------------------------------------------------------------------------------
# Outputs: never an input, never an existing file without --overwrite
# ---------------------------------------------------------------------------------------


def test_embed_never_writes_over_its_inputs_or_an_existing_file(world, tmp_path, capsys):
    gallery = tmp_path / "g.h5"
    assert cli(capsys, "enroll", world.maps, *model_args(world, gallery), "--earliest", "1")[0] == 0
    alias = tmp_path / "alias.h5"
    os.link(world.maps, alias)  # the maps file under another name
    keep = {p: p.read_bytes() for p in (world.maps, gallery, world.run / "model.safetensors")}
    base = ["embed", world.maps, "--model", world.run, "--quiet", "--device", "cpu", "-o"]
    refusals = [
        ([world.maps, "--overwrite"], "is also an input"),
        ([alias, "--overwrite"], "is also an input"),
        ([world.run / "model.safetensors", "--overwrite"], "is also an input"),
        ([gallery], "already exists; choose another name, or pass --overwrite"),
        ([tmp_path], "is a folder"),
        ([tmp_path / "nowhere" / "emb.h5"], "does not exist; create it first"),
    ]
    for target, words in refusals:
        code, _, err = cli(capsys, *base, *target)
        assert code == 1
        assert_one_line(err, str(target[0]), words)
    assert all(p.read_bytes() == data for p, data in keep.items())
    assert not temporaries(tmp_path)
    # A file of the user's, not an input, is replaced with --overwrite (owner-only).
    old = tmp_path / "old.h5"
    old.write_bytes(b"previous")
    assert cli(capsys, *base, old, "--overwrite")[0] == 0
    with h5py.File(old, "r") as handle:
        assert handle["embedding"].shape == (PEOPLE * SESSIONS, DIM)
    assert mode(old) == 0o600


def test_evaluate_refuses_a_report_folder_with_files_and_keeps_them(world, tmp_path, capsys):
    report = tmp_path / "report"
    report.mkdir()
    (report / "notes.txt").write_text("mine")
    args = ["evaluate", world.maps, "--model", world.run, "--device", "cpu", "--bootstrap", "0"]
    code, _, err = cli(capsys, *args, "-o", report)
    assert code == 1
    assert_one_line(err, str(report), "already holds files", "--overwrite")
    assert sorted(p.name for p in report.iterdir()) == ["notes.txt"]
    code, _, err = cli(capsys, *args, "-o", world.run, "--overwrite")
    assert code == 1
    assert_one_line(err, "overlaps the input")
    assert cli(capsys, *args, "-o", report, "--overwrite")[0] == 0
    assert (report / "notes.txt").read_text() == "mine"
    for name in ("report.json", "report.md", "roc.png", "cmc.png", "scores.png"):
        assert mode(report / name) == 0o600
    assert not temporaries(report)


def test_evaluate_without_genuine_pairs_is_one_line(world, tmp_path, capsys):
    single = tmp_path / "single.h5"
    write_ground_truth_maps(single, subjects=4, sessions=1, size=SIZE, seed=1)
    code, _, err = cli(
        capsys, "evaluate", single, "--model", world.run, "-o", tmp_path / "r", "--device", "cpu"
    )
    assert code == 1
    assert_one_line(err, str(single), "no genuine pairs")


def test_train_out_refuses_other_files_and_earlier_runs(few, trained, tmp_path, capsys):
    base = ["train", few, "--modality", "normal", "--device", "cpu", "--epochs", "1"]
    base += ["--width", "0.125", "--batch-size", "16", "--size", str(SIZE)]
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    code, _, err = cli(capsys, *base, "--out", folder)
    assert code == 1
    assert_one_line(err, str(folder), "already holds files", "--overwrite")
    assert [p.name for p in folder.iterdir()] == ["thesis.tex"]

    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    code, _, err = cli(capsys, *base, "--out", copy)
    assert code == 1
    assert_one_line(err, str(copy), "already holds a run", "--resume", "--overwrite")
    # --overwrite with a bad input: the earlier run is still whole.
    bad = ["train", tmp_path / "none.h5", "--modality", "normal", "--size", str(SIZE)]
    code, _, err = cli(capsys, *bad, "--out", copy, "--overwrite")
    assert code == 1
    assert_one_line(err, "none.h5")
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before
    code, _, err = cli(capsys, "train", few, "--resume", copy, "--overwrite")
    assert code == 1
    assert_one_line(err, "--overwrite is for a new run")

    assert cli(capsys, *base, "--out", folder, "--overwrite")[0] == 0
    assert (folder / "thesis.tex").read_text() == "years of work"
    for name in ("config.json", "model.safetensors", "checkpoint.safetensors", "split.json"):
        assert mode(folder / name) == 0o600
    assert mode(folder / "log.jsonl") == 0o600
    assert json.loads(before["config.json"])["val_fraction"] == 0.25
    assert cli(capsys, *base, "--out", copy, "--overwrite")[0] == 0
    assert json.loads((copy / "config.json").read_text())["val_fraction"] == 0.2  # the new run
    lines = (copy / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [0, 1]


# ---------------------------------------------------------------------------------------
# Galleries: owner-only, refused when they are not galleries, emptied galleries
# ---------------------------------------------------------------------------------------


def test_gallery_and_its_lock_are_owner_only(world, tmp_path, capsys):
    gallery = tmp_path / "g.h5"
    assert cli(capsys, "enroll", world.maps, *model_args(world, gallery), "--earliest", "1")[0] == 0
    assert mode(gallery) == 0o600 and mode(tmp_path / "g.h5.lock") == 0o600
    gallery.chmod(0o644)  # as psface before this fix made them: the next write tightens it
    assert cli(capsys, "gallery", "remove", gallery, "s0001")[0] == 0
    assert mode(gallery) == 0o600


def test_files_that_are_not_galleries_are_refused_untouched(world, tmp_path, capsys):
    weights = world.run / "model.safetensors"
    cases = [
        (world.maps, "not a psface gallery"),
        (weights, "not a psface gallery"),
        (tmp_path, "is a folder, not a gallery file"),
    ]
    for target, words in cases:
        before = target.read_bytes() if target.is_file() else None
        for argv in (
            ["enroll", world.maps, *model_args(world, target)],
            ["identify", world.maps, *model_args(world, target)],
            ["gallery", "remove", target, "s0001"],
            ["gallery", "list", target],
        ):
            code, _, err = cli(capsys, *argv)
            assert code == 1, argv
            assert_one_line(err, str(target), words)
        if before is not None:
            assert target.read_bytes() == before
            assert not target.with_name(target.name + ".lock").exists()
    code, _, err = cli(capsys, "gallery", "show", tmp_path / "none.h5")
    assert code == 1
    assert_one_line(err, "none.h5", "no such gallery")


def test_identify_on_an_emptied_gallery_is_one_line(world, tmp_path, capsys):
    gallery = tmp_path / "g.h5"
    args = model_args(world, gallery)
    assert cli(capsys, "enroll", world.maps, *args, "--subject", "s0001", "s0002")[0] == 0
    assert cli(capsys, "gallery", "remove", gallery, "s0001", "s0002")[0] == 0
    code, _, err = cli(capsys, "identify", world.maps, *args)
    assert code == 1
    assert_one_line(err, str(gallery), "holds no enrolled people", "psface enroll")
    code, out, _ = cli(capsys, "gallery", "show", gallery)
    assert code == 0 and "templates    0 x" in out
    # Enrolling into the emptied gallery works again.
    assert cli(capsys, "enroll", world.maps, *args, "--subject", "s0003")[0] == 0
    assert list(read_gallery(gallery).identities) == ["s0003"]


def broken_gallery(path: Path, name: str, value) -> None:
    """Replace dataset ``name`` of the gallery at ``path``."""
    with h5py.File(path, "a") as handle:
        del handle[name]
        handle[name] = value


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("templates/embedding", np.zeros((PEOPLE, DIM), np.int32), "expected floating-point"),
        ("templates/quality", np.zeros(PEOPLE + 1, np.float32), "disagree in length"),
        ("templates/subject", np.zeros(PEOPLE, np.float32), "expected string"),
        ("identities/count", np.ones((PEOPLE, 1), np.int64), "expected (N,)"),
        ("identities/count", np.full(PEOPLE, 2, np.int64), "disagree with templates/subject"),
        ("identities/embedding", np.zeros((PEOPLE, 3), np.float32), "3-dimensional"),
        ("templates/embedding", np.full((PEOPLE, DIM), np.nan, np.float32), "NaN"),
        ("templates", h5py.SoftLink("/identities"), "is a link"),
    ],
)
def test_damaged_galleries_are_one_line_naming_the_dataset(
    world, tmp_path, capsys, name, value, words
):
    gallery = tmp_path / "g.h5"
    assert cli(capsys, "enroll", world.maps, *model_args(world, gallery), "--earliest", "1")[0] == 0
    broken_gallery(gallery, name, value)
    for argv in (
        ["identify", world.maps, *model_args(world, gallery)],
        ["enroll", world.maps, *model_args(world, gallery)],
        ["gallery", "show", gallery],
    ):
        before = gallery.read_bytes()
        code, _, err = cli(capsys, *argv)
        assert code == 1
        assert_one_line(err, str(gallery), words)
        assert gallery.read_bytes() == before


# ---------------------------------------------------------------------------------------
# A full disk: one line, previous gallery byte for byte, no temporary file
# ---------------------------------------------------------------------------------------


def small_disk(stack: contextlib.ExitStack, fallback: Path) -> tuple[Path, bool]:
    """(folder, True) on a 1 MiB tmpfs, or (``fallback``, False) where none can be mounted."""
    try:
        return stack.enter_context(small_tmpfs(1024)), True
    except pytest.skip.Exception:
        return fallback, False


def fill(folder: Path, leave: int) -> None:
    """Take all free space of ``folder``'s file system but ``leave`` bytes."""
    info = os.statvfs(folder)
    (folder / "filler").write_bytes(bytes(max(0, info.f_bavail * info.f_frsize - leave)))


def psface_process(*argv, limit: int | None) -> subprocess.CompletedProcess:
    """``python -m psface ARGV`` in a child, its files capped at ``limit`` bytes if given."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "psface", *map(str, argv)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        preexec_fn=None if limit is None else cap,
    )


@pytest.mark.parametrize(
    "action, leave",
    [
        ("enroll", 0.0),  # nothing fits
        ("enroll", 1.8),  # part of the new file fits: HDF5 used to segfault at exit here
        ("remove", 0.8),
    ],
)
def test_full_disk_is_one_line_and_keeps_the_gallery(world, tmp_path, capsys, action, leave):
    with contextlib.ExitStack() as stack:
        folder, mounted = small_disk(stack, tmp_path)
        gallery = folder / "g.h5"
        first = ["--earliest", "1"] if action == "enroll" else []
        assert cli(capsys, "enroll", world.maps, *model_args(world, gallery), *first)[0] == 0
        before = gallery.read_bytes()
        free = int(leave * len(before))  # the new file is ~4x (enroll) or ~0.9x (remove)
        if mounted:
            fill(folder, free)
        if action == "enroll":
            argv = ["enroll", world.maps, *model_args(world, gallery)]
        else:
            argv = ["gallery", "remove", gallery, "s0001"]
        done = psface_process(*argv, limit=None if mounted else max(free, 1))
        assert done.returncode == 1, done.stderr[:3000]
        assert_one_line(done.stderr, str(gallery), "disk is full", "unchanged")
        assert gallery.read_bytes() == before
        assert not temporaries(folder)


# ---------------------------------------------------------------------------------------
# Option values: refused while parsing, one line naming the option
# ---------------------------------------------------------------------------------------

MODEL = ["--model", "run"]


@pytest.mark.parametrize(
    "argv, option",
    [
        (["verify", "a/b", "c/d", *MODEL, "--far", "0"], "--far"),
        (["verify", "a/b", "c/d", *MODEL, "--far", "nan"], "--far"),
        (["verify", "a/b", "c/d", *MODEL, "--far", "1.5"], "--far"),
        (["verify", "a/b", "c/d", *MODEL, "--threshold", "inf"], "--threshold"),
        (["enroll", "m.h5", *MODEL, "--gallery", "g.h5", "--earliest", "0"], "--earliest"),
        (["enroll", "m.h5", *MODEL, "--gallery", "g.h5", "--batch-size", "0"], "--batch-size"),
        (["enroll", "m.h5", *MODEL, "--gallery", "g.h5", "--timeout", "-1"], "--timeout"),
        (["identify", "m.h5", *MODEL, "--gallery", "g.h5", "-k", "0"], "-k"),
        (["identify", "m.h5", *MODEL, "--gallery", "g.h5", "--threshold", "nan"], "--threshold"),
        (["embed", "m.h5", *MODEL, "-o", "e.h5", "--batch-size", "-5"], "--batch-size"),
        (["evaluate", "m.h5", *MODEL, "-o", "r", "--bootstrap", "-1"], "--bootstrap"),
        (["evaluate", "m.h5", *MODEL, "-o", "r", "--enrol-sessions", "0"], "--enrol-sessions"),
        (["evaluate", "m.h5", *MODEL, "-o", "r", "--seed", "-1"], "--seed"),
        (["train", "m.h5", "--out", "r", "--epochs", "0"], "--epochs"),
        (["train", "m.h5", "--out", "r", "--lr", "0"], "--lr"),
        (["train", "m.h5", "--out", "r", "--lr", "nan"], "--lr"),
        (["train", "m.h5", "--out", "r", "--batch-size", "1"], "--batch-size"),
        (["train", "m.h5", "--out", "r", "--val-fraction", "1"], "--val-fraction"),
        (["train", "m.h5", "--out", "r", "--width", "0"], "--width"),
        (["train", "m.h5", "--out", "r", "--dropout", "1"], "--dropout"),
        (["train", "m.h5", "--out", "r", "--pk", "1", "4"], "--pk"),
        (["train", "m.h5", "--out", "r", "--seed", "-1"], "--seed"),
        (["train", "m.h5", "--out", "r", "--size", "8"], "--size"),
        (["train", "m.h5", "--out", "r", "--weight-decay", "-0.1"], "--weight-decay"),
        (["gallery", "remove", "g.h5", "s1", "--timeout", "nan"], "--timeout"),
    ],
)
def test_out_of_range_options_are_one_line(capsys, argv, option):
    code, _, err = cli(capsys, *argv)
    assert code == 2
    assert_one_line(err, f"argument {option}", "--help")


# ---------------------------------------------------------------------------------------
# Model files: weights and config.json with broken structure
# ---------------------------------------------------------------------------------------


def _edit_weights(run: Path, change) -> None:
    path = run / "model.safetensors"
    tensors = load_file(str(path))
    change(tensors)
    save_file(tensors, str(path))


@pytest.mark.parametrize(
    "change, words",
    [
        (
            lambda t: t.update({"input_scale": t["input_scale"].long()}),
            "tensor input_scale is int64",
        ),
        (lambda t: t.update({"input_scale": torch.ones(7)}), "(7,), expected float32 (3,)"),
        (lambda t: t.pop("input_scale"), "lacks tensors input_scale"),
        (lambda t: t.update({"extra": torch.ones(1)}), "has unexpected tensors extra"),
        (lambda t: t.update({"input_scale": torch.full((3,), float("nan"))}), "NaN"),
    ],
)
def test_broken_weights_are_one_line_naming_the_tensor(world, tmp_path, capsys, change, words):
    run = tmp_path / "run"
    shutil.copytree(world.run, run)
    _edit_weights(run, change)
    code, _, err = cli(capsys, "embed", world.maps, "--model", run, "-o", tmp_path / "e.h5")
    assert code == 1
    assert_one_line(err, str(run / "model.safetensors"), words)
    assert not (tmp_path / "e.h5").exists()


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda c: c.update(epochs="ten"), "epochs must be a whole number"),
        (lambda c: c.update(modality=5), "modality must be a string"),
        (lambda c: c.update(pk="ab"), "pk must be two whole numbers"),
        (lambda c: c.update(width=float("nan")), "width must be a finite number"),
        (lambda c: c.update(size=8), "size must be a multiple of 16"),
        (lambda c: c.update(amp="yes"), "amp must be true or false"),
        (lambda c: c.update(depth=3), "unknown config keys: depth"),
    ],
)
def test_broken_config_is_one_line(world, tmp_path, capsys, edit, words):
    run = tmp_path / "run"
    shutil.copytree(world.run, run)
    config = json.loads((run / "config.json").read_text())
    edit(config)
    (run / "config.json").write_text(json.dumps(config))
    code, _, err = cli(capsys, "embed", world.maps, "--model", run, "-o", tmp_path / "e.h5")
    assert code == 1
    assert_one_line(err, str(run / "config.json"), words)


def test_unreadable_config_and_weights_are_one_line(world, tmp_path, capsys):
    weights = world.run / "model.safetensors"
    code, _, err = cli(capsys, "embed", world.maps, "--model", weights, "-o", tmp_path / "e.h5")
    assert code == 1
    assert_one_line(err, str(weights), "is a file; --model names a run folder")
    run = tmp_path / "run"
    shutil.copytree(world.run, run)
    (run / "config.json").write_bytes(b"\xff\xfe not utf-8")
    code, _, err = cli(capsys, "embed", world.maps, "--model", run, "-o", tmp_path / "e.h5")
    assert code == 1
    assert_one_line(err, "config.json", "unreadable config")
    shutil.copy(world.run / "config.json", run / "config.json")
    (run / "model.safetensors").write_bytes(b'\x08\x00\x00\x00\x00\x00\x00\x00{"a":1}')
    code, _, err = cli(capsys, "embed", world.maps, "--model", run, "-o", tmp_path / "e.h5")
    assert code == 1
    assert_one_line(err, "model.safetensors", "not a readable safetensors file")


def _break_checkpoint(run: Path, kind: str) -> None:
    path = run / "checkpoint.safetensors"
    tensors, meta = load_tensors(path)
    if kind == "meta":
        meta["optimizer"] = "adam"
    elif kind == "epoch":
        meta["epoch"] = 99
    elif kind == "rng":
        tensors.pop("rng/torch")
    else:
        key = next(k for k in tensors if k.startswith("model/"))
        tensors[key] = tensors[key].double()
    save_tensors(path, tensors, meta)


@pytest.mark.parametrize(
    "kind, words",
    [
        ("meta", "optimiser or random state cannot be restored"),
        ("epoch", "epoch 99"),
        ("rng", "rng/torch"),
        ("dtype", "is float64"),
    ],
)
def test_broken_checkpoints_are_one_line_and_kept(few, trained, tmp_path, capsys, kind, words):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    _break_checkpoint(run, kind)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    code, _, err = cli(capsys, "train", few, "--resume", run, "--device", "cpu")
    assert code == 1
    assert_one_line(err, str(run / "checkpoint.safetensors"), words)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_a_broken_log_is_one_line(few, trained, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    (run / "log.jsonl").write_text('{"epoch": 0}\nnot json\n')
    code, _, err = cli(capsys, "train", few, "--resume", run, "--device", "cpu")
    assert code == 1
    assert_one_line(err, str(run / "log.jsonl"), "line 2 is not a log row")


# ---------------------------------------------------------------------------------------
# Fuzzing: gallery files of any structure are read or refused with one line
# ---------------------------------------------------------------------------------------

DATASETS = (
    "templates/embedding",
    "templates/quality",
    "templates/subject",
    "templates/session",
    "templates/enrolled_at",
    "identities/subject",
    "identities/embedding",
    "identities/count",
)
GROUPS = ("templates", "identities")
ATTRIBUTES = ("format", "schema_version", "fingerprint", "modality", "model", "updated")
ODD_VALUES = (
    None,  # removed
    "psface-gallery",
    b"psface-gallery",
    np.array([1, 2]),
    np.int64(1),
    np.int64(-3),
    np.int64(99),
    np.float64(1.0),
    np.bool_(True),
    "1",
    "",
)
DTYPES = ("int8", "uint64", "float16", "float64", "bool", "complex64", "str", "bytes", "compound")
SHAPES = ("scalar", "flat", "3d", "longer", "shorter", "wider", "empty")

mutations = st.one_of(
    st.tuples(st.just("drop"), st.sampled_from(DATASETS + GROUPS)),
    st.tuples(st.just("extra"), st.sampled_from(("templates/extra", "junk", "identities/a/b"))),
    st.tuples(st.just("dtype"), st.sampled_from(DATASETS), st.sampled_from(DTYPES)),
    st.tuples(st.just("shape"), st.sampled_from(DATASETS), st.sampled_from(SHAPES)),
    st.tuples(st.just("attr"), st.sampled_from(ATTRIBUTES), st.sampled_from(ODD_VALUES)),
    st.tuples(st.just("link"), st.sampled_from(DATASETS + GROUPS)),
    st.tuples(st.just("group"), st.sampled_from(DATASETS)),
    st.tuples(st.just("nan"), st.sampled_from(("templates/embedding", "identities/embedding"))),
)


def valid_gallery(n: int, dim: int, fingerprint: str) -> tuple[dict, dict]:
    """(attributes, datasets) of a consistent gallery with ``n`` templates."""
    rng = np.random.default_rng(n * 10 + dim)
    subject = np.array([f"s{i // 2}" for i in range(n)], dtype=object)
    names, counts = np.unique(subject.astype(str), return_counts=True)
    rows = rng.normal(size=(n, dim)).astype(np.float32)
    attrs = {"format": "psface-gallery", "schema_version": np.int64(1)}
    attrs |= {"fingerprint": fingerprint, "modality": "normal", "model": "run", "updated": "x"}
    data = {
        "templates/embedding": rows,
        "templates/quality": np.ones(n, np.float32),
        "templates/subject": subject,
        "templates/session": np.array([f"v{i % 2}" for i in range(n)], dtype=object),
        "templates/enrolled_at": np.array(["2024"] * n, dtype=object),
        "identities/subject": names.astype(object),
        "identities/embedding": rng.normal(size=(names.size, dim)).astype(np.float32),
        "identities/count": counts.astype(np.int64),
    }
    return attrs, data


def recast(value: np.ndarray, dtype: str) -> np.ndarray:
    shape = value.shape
    if dtype == "str":
        return np.full(shape, "x", dtype=object)
    if dtype == "bytes":
        return np.full(shape, b"\xff\xfe", dtype="S2")
    if dtype == "compound":
        return np.zeros(shape, dtype=[("a", "<i4"), ("b", "<f4")])
    return np.ones(shape, dtype=dtype)


def filler(shape: tuple, dtype: np.dtype) -> np.ndarray:
    return np.full(shape, "x", dtype=object) if dtype.kind == "O" else np.ones(shape, dtype)


def reshape(value: np.ndarray, how: str) -> np.ndarray:
    if value.ndim == 0:
        return value.reshape(1)
    if how == "scalar":
        return value.reshape(-1)[0:1].reshape(()) if value.size else filler((), value.dtype)
    if how == "flat":
        return value.reshape(-1)
    if how == "3d":
        return value.reshape(*value.shape, 1)
    if how == "longer":
        return np.concatenate([value, filler((1, *value.shape[1:]), value.dtype)])
    if how == "shorter":
        return value[1:]
    if how == "wider" and value.ndim == 2:
        return np.concatenate([value, filler((value.shape[0], 1), value.dtype)], axis=1)
    return value[:0]


def mutate(attrs: dict, data: dict, changes: list[tuple]) -> None:
    for change in changes:
        kind, name = change[0], change[1]
        if kind == "drop":
            for key in [k for k in data if k == name or k.startswith(name + "/")]:
                del data[key]
        elif kind == "extra":
            data[name] = np.arange(3)
        elif kind == "attr":
            attrs[name] = change[2]
        elif kind in ("link", "group"):
            for key in [k for k in data if k.startswith(name + "/")]:
                del data[key]
            data[name] = kind
        elif isinstance(data.get(name), np.ndarray):
            value = data[name]
            if kind == "dtype":
                data[name] = recast(value, change[2])
            elif kind == "shape":
                data[name] = reshape(value, change[2])
            elif value.dtype.kind == "f" and value.size:
                data[name] = np.full_like(value, np.nan)


def write_raw(path: Path, attrs: dict, data: dict) -> None:
    """Write the (mutated) layout; parts HDF5 cannot hold (a group below a link) are left out."""
    with h5py.File(path, "w") as handle:
        for key, value in attrs.items():
            if value is not None:
                handle.attrs[key] = value
        for name, value in data.items():
            with contextlib.suppress(KeyError, ValueError, TypeError, OSError):
                if isinstance(value, str) and value == "link":
                    handle[name] = h5py.SoftLink("/nowhere")
                elif isinstance(value, str):
                    handle.require_group(name)
                elif value.dtype == object:
                    handle.create_dataset(name, data=value, dtype=h5py.string_dtype())
                else:
                    handle.create_dataset(name, data=value)


def quietly(argv: list) -> tuple[int, str]:
    """(exit code, stderr) of ``psface ARGV`` in this process, without capsys."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, err.getvalue()


def check_reading(path: Path) -> bool:
    """read_gallery gives a consistent gallery or a PsfaceError; True when it read."""
    try:
        g = read_gallery(path)
    except PsfaceError as error:
        assert "\n" not in str(error) and str(path) in str(error)
        return False
    n = len(g)
    assert g.templates.dtype == np.float32 and g.templates.shape == (n, g.dim)
    assert g.quality.shape == g.subject.shape == g.session.shape == g.enrolled_at.shape == (n,)
    assert g.identity_templates.shape == (g.identities.size, g.dim)
    return True


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(
    n=st.integers(0, 5),
    dim=st.sampled_from([1, 4, DIM]),
    changes=st.lists(mutations, max_size=3),
)
def test_fuzzed_galleries_are_read_or_refused_in_one_line(world, n, dim, changes):
    path = world.root / "fuzz.h5"
    attrs, data = valid_gallery(n, dim, world.fingerprint)
    mutate(attrs, data, changes)
    write_raw(path, attrs, data)
    read = check_reading(path)
    if not changes:
        assert read
    for action in ("list", "show"):
        code, err = quietly(["gallery", action, path])
        assert code == (0 if read else 1)
        if not read:
            assert_one_line(err, str(path))


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(n=st.integers(0, 3), changes=st.lists(mutations, max_size=2))
def test_fuzzed_galleries_never_break_identify(world, n, changes):
    path = world.root / "fuzz-identify.h5"
    attrs, data = valid_gallery(n, DIM, world.fingerprint)
    mutate(attrs, data, changes)
    write_raw(path, attrs, data)
    read = check_reading(path)
    code, err = quietly(["identify", world.maps, *model_args(world, path), "-k", "2"])
    assert code in (0, 1)
    if code:
        assert_one_line(err, str(path))
    if read and n and not any(change[0] == "attr" for change in changes):
        assert code == 0, err
