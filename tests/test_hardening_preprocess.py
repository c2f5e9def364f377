"""`psface preprocess` and maps files under failure: any exception in one session, a
dying worker, a full disk, two writers, another root, bad output paths, damaged maps
files. Each test checks that nothing finished was lost and that the user reads one line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from photostereo import batch, preprocess
from photostereo.batch import DIED, run_preprocess
from photostereo.io import find_sessions
from photostereo.maps_file import (
    CHANNELS,
    LABEL_DATASETS,
    MAP_DATASETS,
    META_DATASETS,
    MapsFile,
    append_samples,
    create_datasets,
    parse_modality,
)
from photostereo.preprocess import PreprocessConfig, process_chunk
from psbase.errors import ConfigError, InputError, PsfaceError
from psface.cli import main
from tests.fixtures import write_canonical_sphere, write_photoface_sphere, write_yaleb_sphere
from tests.tmpfs import small_tmpfs

SIZE = 32
CONFIG = PreprocessConfig(size=SIZE, detect=False)
FLAGS = ["--size", str(SIZE), "--no-detect", "--workers", "1"]
ENV = {**os.environ, "TQDM_DISABLE": "1"}


@pytest.fixture(scope="module")
def spheres(tmp_path_factory) -> Path:
    """48 small canonical sessions p00/v1 ... p47/v1, written once for the module."""
    root = tmp_path_factory.mktemp("spheres")
    for i in range(48):
        write_canonical_sphere(root / f"p{i:02d}" / "v1", size=64)
    return root


def some(spheres: Path, folder: Path, names: list[str]) -> Path:
    """A ROOT holding copies of the sessions ``names`` (p07 ...) of the module's tree."""
    for name in names:
        shutil.copytree(spheres / name, folder / name)
    return folder


def first(n: int) -> list[str]:
    return [f"p{i:02d}" for i in range(n)]


def cli(capsys, *args: str) -> tuple[int, list[str]]:
    """Run ``psface preprocess`` here; return the exit code and stderr's lines."""
    code = main(["preprocess", *args])
    return code, capsys.readouterr().err.splitlines()


def psface(*args: str, **kwargs) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "psface", "preprocess", *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=ENV, timeout=120, check=False, **kwargs
    )


def sources(path: Path) -> list[str]:
    with MapsFile(path) as maps:
        return list(maps.sources())


# --- 1. nothing one session does stops the others ---------------------------------------


def test_any_exception_of_one_session_is_one_listed_line_and_the_rest_is_written(
    spheres, tmp_path, capsys, monkeypatch
):
    root = some(spheres, tmp_path / "root", first(12))
    real_process, real_load = preprocess._process, preprocess.load_session
    raising = {
        "p01": np.linalg.LinAlgError("SVD did not converge"),
        "p05": ValueError("operands could not be broadcast\ntogether with shapes"),
        "p09": MemoryError(),
    }

    def process(session, *args):
        subject = session.source.parent.name
        if subject in raising:
            raise raising[subject]
        return real_process(session, *args)

    def load(ref, **kwargs):
        if ref.path.parent.name == "p10":
            raise KeyError("a reader bug")
        return real_load(ref, **kwargs)

    monkeypatch.setattr(preprocess, "_process", process)
    monkeypatch.setattr(preprocess, "load_session", load)
    monkeypatch.setenv("PSFACE_LOG_DIR", str(tmp_path / "logs"))
    out = tmp_path / "maps.h5"
    code, err = cli(capsys, str(root), "-o", str(out), *FLAGS)
    assert code == 0
    failed = {line.split(": ")[1]: line for line in err if line.startswith("failed: ")}
    assert set(failed) == {"p01/v1", "p05/v1", "p09/v1", "p10/v1"}
    assert len(err) == 4  # one line each, no stack on the screen
    assert "LinAlgError: SVD did not converge (unexpected; traceback in " in failed["p01/v1"]
    assert "ValueError: operands could not be broadcast (unexpected" in failed["p05/v1"]
    assert "failed: p09/v1: MemoryError (unexpected" in failed["p09/v1"]
    assert "KeyError: 'a reader bug' (unexpected" in failed["p10/v1"]
    log = Path(failed["p01/v1"].split("traceback in ")[1].rstrip(")"))
    text = log.read_text()
    assert "Traceback" in text and "in process" in text and "LinAlgError" in text
    assert "in load" in text and "KeyError" in text
    assert sources(out) == [s for s in (f"{n}/v1" for n in first(12)) if s not in failed]


def test_the_reported_bad_inputs_fail_their_sessions_and_the_rest_is_written(spheres, tmp_path):
    """Issue 9's reproductions, unpatched, in a real process: a NaN light direction
    (was LinAlgError and no file), an overflowing LightSource.m value, odd bytes in
    metadataII.txt and a truncated JPEG, beside good sessions."""
    root = some(spheres, tmp_path / "root", first(3))
    nan = write_canonical_sphere(root / "nan" / "v1", size=64)
    spec = json.loads((nan / "lights.json").read_text())
    spec["lights"][1]["direction"][0] = float("nan")
    (nan / "lights.json").write_text(json.dumps(spec))  # Python writes NaN unquoted
    write_photoface_sphere(
        root / "overflow" / "v1",
        lights_text="zenith = [1e400 30 30 30];\nazimuth = [0 90 180 270];\n",
    )
    odd = write_photoface_sphere(root / "odd" / "v1")
    (odd / "metadataII.txt").write_bytes(b"Gender: f\xe9male\x00\nPose: \xb2\nEmotion: \xff\n")
    jpeg = write_canonical_sphere(root / "jpeg" / "v1", size=64)
    capture = cv2.imread(str(jpeg / "l2.png"), cv2.IMREAD_UNCHANGED)
    encoded = cv2.imencode(".jpg", capture)[1].tobytes()
    (jpeg / "l2.png").unlink()
    (jpeg / "l2.jpg").write_bytes(encoded[: len(encoded) // 2])
    spec = json.loads((jpeg / "lights.json").read_text())
    spec["lights"][2]["image"] = "l2.jpg"
    (jpeg / "lights.json").write_text(json.dumps(spec))
    out = tmp_path / "maps.h5"
    done = psface(str(root), "-o", str(out), *FLAGS)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    failed = sorted(line for line in done.stderr.splitlines() if line.startswith("failed: "))
    assert len(failed) == 3 and len(done.stderr.splitlines()) == 3
    assert failed[0].startswith("failed: jpeg/v1: ") and "l2.jpg: cannot be read" in failed[0]
    assert failed[1].startswith("failed: nan/v1: ") and "three finite numbers" in failed[1]
    assert failed[2].startswith("failed: overflow/v1: ") and "LightSource.m" in failed[2]
    assert sources(out) == ["odd/v1", *(f"{n}/v1" for n in first(3))]
    with MapsFile(out) as maps:
        attributes = json.loads(maps.handle["meta"]["attributes"].asstr()[0])
    assert attributes["gender"] == "f\ufffdmale\ufffd" and attributes["pose"] == "\ufffd"


def test_a_detection_batch_that_fails_fails_only_the_session_that_breaks_it(
    spheres, tmp_path, monkeypatch
):
    root = some(spheres, tmp_path / "root", first(8))

    def detect(sessions, outcomes):
        if any(s is not None and s.source.parent.name == "p03" for s in sessions):
            raise RuntimeError("MTCNN: stack expects each tensor to be equal size")
        return [None] * len(sessions)  # no detection: the central square

    monkeypatch.setattr(preprocess, "_detect", detect)
    out = tmp_path / "maps.h5"
    summary = run_preprocess(root, out, PreprocessConfig(size=SIZE), workers=1)
    assert [s for s, _ in summary.failed] == ["p03/v1"]
    assert summary.failed[0][1].startswith("RuntimeError: MTCNN: stack expects")
    assert sources(out) == [f"{n}/v1" for n in first(8) if n != "p03"]


def test_a_folder_name_that_is_not_utf8_fails_its_session_not_the_checkpoint(
    spheres, tmp_path, monkeypatch
):
    root = some(spheres, tmp_path / "root", first(4))
    odd = Path(os.fsdecode(bytes(root) + b"/p\xff"))  # Latin-1 "pÿ" on a UTF-8 system
    shutil.copytree(spheres / "p00", odd)
    real_load = preprocess.load_session

    def load(ref, **kwargs):  # (cv2.imread itself crashes on such a name; not tested here)
        return real_load(spheres / "p00" / "v1" if ref.path == odd / "v1" else ref, **kwargs)

    monkeypatch.setattr(preprocess, "load_session", load)
    out = tmp_path / "maps.h5"
    summary = run_preprocess(root, out, CONFIG, workers=1)
    assert [s for s, _ in summary.failed] == ["p\udcff/v1"]
    assert "source 'p\\udcff/v1' is not valid UTF-8" in summary.failed[0][1]
    assert sources(out) == [f"{n}/v1" for n in first(4)]


def die_on_crash(refs, root, config, max_bytes=None):
    """process_chunk in a worker that the kernel kills (as for memory) on session crash/."""
    if any(ref.path.parent.name == "crash" for ref in refs):
        os.kill(os.getpid(), signal.SIGKILL)
    return process_chunk(refs, root, config, max_bytes)


def test_a_worker_that_dies_costs_only_the_session_that_kills_it(spheres, tmp_path, monkeypatch):
    root = some(spheres, tmp_path / "root", first(16))
    shutil.copytree(spheres / "p00", root / "crash")  # sorts first: in the first chunk
    monkeypatch.setattr(batch, "process_chunk", die_on_crash)  # workers import it by name
    out = tmp_path / "maps.h5"
    summary = run_preprocess(root, out, CONFIG, workers=2)
    assert summary.failed == [("crash/v1", DIED)]
    assert sources(out) == [f"{n}/v1" for n in first(16)]


def fail_first_chunk(refs, root, config, max_bytes=None):
    """A Dask task that fails as a whole (as when its worker died too often)."""
    if any(ref.path.parent.name == "p00" for ref in refs):
        raise RuntimeError("worker lost three times")
    return process_chunk(refs, root, config, max_bytes)


def test_a_failed_dask_task_lists_its_sessions_and_the_others_are_written(
    spheres, tmp_path, monkeypatch
):
    distributed = pytest.importorskip("distributed")
    root = some(spheres, tmp_path / "root", first(16))
    monkeypatch.setattr(batch, "process_chunk", fail_first_chunk)
    out = tmp_path / "maps.h5"
    with distributed.LocalCluster(
        n_workers=1, processes=False, dashboard_address=None, silence_logs=logging.CRITICAL
    ) as cluster:
        summary = run_preprocess(root, out, CONFIG, dask_address=cluster.scheduler_address)
    reason = "its Dask task failed (RuntimeError: worker lost three times)"
    assert summary.failed == [(f"{n}/v1", reason) for n in first(8)]
    assert sources(out) == [f"p{i:02d}/v1" for i in range(8, 16)]


# --- 2. a full disk ------------------------------------------------------------------------


def assert_refused_for_space(run: subprocess.CompletedProcess, out: Path) -> None:
    assert run.returncode == 1, run.stderr  # not 139: HDF5 used to crash closing the file
    assert run.stderr.splitlines() == [
        f"psface preprocess: error: {out}: the disk is full (or over quota); free some "
        "space and run again. The previous file, if any, is unchanged"
    ]
    assert sorted(p.name for p in out.parent.iterdir()) == ["maps.h5", "maps.h5.lock"]


def test_a_full_disk_is_one_line_and_keeps_the_previous_file(spheres, tmp_path):
    root = some(spheres, tmp_path / "root", first(6))
    with small_tmpfs(512) as disk:
        out = disk / "maps.h5"
        assert psface(str(root), "-o", str(out), *FLAGS).returncode == 0
        before = out.read_bytes()
        some(spheres, root, [f"p{i:02d}" for i in range(6, 48)])
        assert_refused_for_space(psface(str(root), "-o", str(out), *FLAGS), out)
        assert out.read_bytes() == before
        assert psface(str(root), "-o", str(tmp_path / "elsewhere.h5"), *FLAGS).returncode == 0


def test_a_file_size_limit_fails_the_same_way_without_losing_a_checkpoint(spheres, tmp_path):
    """RLIMIT_FSIZE makes writes fail with EFBIG (Python ignores SIGXFSZ), for any user."""
    root = some(spheres, tmp_path / "root", first(6))
    out = tmp_path / "out" / "maps.h5"
    out.parent.mkdir()
    assert psface(str(root), "-o", str(out), *FLAGS).returncode == 0
    limit = out.stat().st_size + 200_000  # room for the copy, not for 42 more sessions

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    some(spheres, root, [f"p{i:02d}" for i in range(6, 48)])
    run = psface(str(root), "-o", str(out), *FLAGS, "--checkpoint", "0", preexec_fn=cap)
    assert_refused_for_space(run, out)
    saved = sources(out)  # the last checkpoint that fitted, complete
    assert first(6) <= [s.split("/")[0] for s in saved] and len(saved) == len(set(saved))


# --- 3. two writers ------------------------------------------------------------------------


def test_a_second_writer_is_refused_at_once_and_the_first_writes_each_session_once(
    spheres, tmp_path
):
    root = some(spheres, tmp_path / "root", first(48))
    out = tmp_path / "maps.h5"
    args = [str(root), "-o", str(out), *FLAGS, "--checkpoint", "0"]
    command = [sys.executable, "-m", "psface", "-v", "preprocess", *args]
    writer = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        for line in writer.stderr:
            if line.startswith("saved "):
                break
        writer.send_signal(signal.SIGSTOP)  # holds the lock, mid-run
        before = out.read_bytes()
        second = psface(*args)
        assert second.returncode == 1
        assert second.stderr.splitlines() == [
            f"psface preprocess: error: {out}: another psface preprocess is writing this "
            "maps file; wait for it to finish, or write to another file"
        ]
        assert out.read_bytes() == before
    finally:
        writer.send_signal(signal.SIGCONT)
        writer.communicate(timeout=120)
    assert writer.returncode == 0
    assert sources(out) == [f"{n}/v1" for n in first(48)]


# --- 4. another root -----------------------------------------------------------------------


def test_another_root_is_refused_unless_appended_and_never_collides(spheres, tmp_path, capsys):
    one = some(spheres, tmp_path / "one", first(3))
    two = some(spheres, tmp_path / "two", first(3))  # the same relative paths
    write_yaleb_sphere(two / "yaleB01")  # and another layout
    out = tmp_path / "maps.h5"
    assert cli(capsys, str(one), "-o", str(out), *FLAGS)[0] == 0
    before = out.read_bytes()
    code, err = cli(capsys, str(two), "-o", str(out), *FLAGS)
    assert code == 1 and err == [
        f"psface preprocess: error: {out}: holds sessions of {one}, not of {two}; pass "
        "--append to add this folder's sessions to it, or write to a new file"
    ]
    assert out.read_bytes() == before
    assert cli(capsys, str(two), "-o", str(out), *FLAGS, "--append") == (0, [])
    with MapsFile(out) as maps:
        expected = [f"{n}/v1" for n in first(3)]
        assert list(maps.sources()) == [*expected, *expected, "yaleB01"]
        assert list(maps.roots()) == [str(one)] * 3 + [str(two)] * 4
        assert maps.handle.attrs["rig"] == "canonical,yaleb"
    for folder in (one, two):  # both are recorded now: a plain rerun of either resumes
        summary = run_preprocess(folder, out, CONFIG, workers=1)
        assert summary.skipped == len(find_sessions(folder)) and not summary.done
    assert len(sources(out)) == 7


# --- 5. output paths -----------------------------------------------------------------------


def older_maps(path: Path) -> None:
    """A maps file of an older psface with this run's options: all of meta but ``root``."""
    with h5py.File(path, "w") as handle:
        create_datasets(handle, SIZE)
        handle.attrs.update({"size": SIZE, "config": CONFIG.to_json()})
        del handle["meta/root"]


def foreign_hdf5(path: Path) -> None:
    with h5py.File(path, "w") as handle:
        handle["x"] = np.arange(3)


OUTPUTS = {
    "folder": (lambda t: t / "folder", "is a folder; name the file to write"),
    "missing folder": (lambda t: t / "none" / "maps.h5", "folder {t}/none does not exist"),
    "a capture": (lambda t: t / "root/p00/v1/l0.png", "is inside the folder of sessions"),
    "inside ROOT": (lambda t: t / "root" / "maps.h5", "is inside the folder of sessions"),
    "a text file": (lambda t: t / "notes.h5", "not a readable HDF5 file (OSError: Unable"),
    "another HDF5 file": (lambda t: t / "x.h5", "not a psface maps file (no schema_version)"),
    "an older maps file": (lambda t: t / "old.h5", "does not record the folder its sessions"),
}


@pytest.mark.parametrize("case", OUTPUTS)
def test_an_output_that_cannot_be_this_runs_maps_file_is_one_line_and_untouched(
    case, spheres, tmp_path, capsys
):
    root = some(spheres, tmp_path / "root", first(2))
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.h5").write_text("my notes, not maps\n")
    foreign_hdf5(tmp_path / "x.h5")
    older_maps(tmp_path / "old.h5")
    files = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    where, message = OUTPUTS[case]
    out = where(tmp_path)
    code, err = cli(capsys, str(root), "-o", str(out), *FLAGS)
    assert code == 1 and len(err) == 1
    assert err[0].startswith(f"psface preprocess: error: {out}: ")
    assert message.format(t=tmp_path) in err[0]
    assert {p: p.read_bytes() for p in files} == files
    assert not out.with_name(f".{out.name}.tmp").exists()
    assert not (root / "maps.h5").exists()


def test_a_killed_runs_temporary_file_is_removed_and_the_file_is_owner_only(spheres, tmp_path):
    root = some(spheres, tmp_path / "root", first(3))
    out = tmp_path / "maps.h5"
    (tmp_path / ".maps.h5.tmp").write_bytes(b"half a checkpoint")
    run_preprocess(root, out, CONFIG, workers=1)
    assert not (tmp_path / ".maps.h5.tmp").exists()
    assert out.stat().st_mode & 0o777 == 0o600
    assert sources(out) == [f"{n}/v1" for n in first(3)]


def test_max_memory_reaches_the_reader(spheres, tmp_path, capsys):
    root = some(spheres, tmp_path / "root", first(2))
    code, err = cli(capsys, str(root), "-o", str(tmp_path / "m.h5"), *FLAGS, "--max-memory", "1e-6")
    assert code == 1
    assert len(err) == 3 and all("--max-memory" in line for line in err[:2])
    assert err[2].endswith("2 sessions failed")


# --- 7. reading maps files -----------------------------------------------------------------


def valid_maps(path: Path, rows: int = 4, size: int = 4) -> None:
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as handle:
        create_datasets(handle, size)
        append_samples(
            handle,
            [
                {
                    **{
                        name: rng.random((CHANNELS.get(name, 1), size, size))
                        for name in MAP_DATASETS
                    },
                    "subject": f"s{i % 2}",
                    "session": f"v{i}",
                    "source": f"s{i % 2}/v{i}",
                    "root": "/data",
                }
                for i in range(rows)
            ],
        )


def test_a_shorter_label_dataset_is_refused_naming_it(tmp_path):
    path = tmp_path / "maps.h5"
    valid_maps(path, rows=6)
    with h5py.File(path, "a") as handle:
        handle["subject"].resize(3, axis=0)
    with pytest.raises(InputError) as caught:
        MapsFile(path)
    assert str(caught.value) == (
        f"{path}: dataset subject has 3 rows but normal has 6; the file is damaged or was "
        "not written by psface preprocess"
    )


def test_labels_that_are_not_utf8_are_one_line_naming_the_dataset(tmp_path):
    path = tmp_path / "maps.h5"
    valid_maps(path)
    with h5py.File(path, "a") as handle:
        replace(handle, "session", (4,), "bytes")
    with MapsFile(path) as maps, pytest.raises(InputError) as caught:
        maps.labels()
    assert str(caught.value).startswith(f"{path}: cannot read dataset session (UnicodeDecode")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("1", "schema_version '1' is not a whole number"),
        (1.0, "schema_version np.float64(1.0) is not a whole number"),
        (np.array([1, 1]), "schema_version array([1, 1]) is not a whole number"),
        (0, "schema version 0 is not one psface writes"),
        (7, "schema version 7 is newer than this psface reads (1); upgrade psface"),
    ],
)
def test_a_schema_version_that_is_not_ours_is_one_line(version, message, tmp_path):
    path = tmp_path / "maps.h5"
    valid_maps(path)
    with h5py.File(path, "a") as handle:
        handle.attrs["schema_version"] = version
    with pytest.raises(InputError, match="^" + re.escape(f"{path}: {message}")):
        MapsFile(path)


def test_an_unknown_modality_is_a_configuration_error():
    with pytest.raises(ConfigError, match=r"^modality 'normal\+nose': unknown or repeated"):
        parse_modality("normal+nose")


# --- 8. fuzzing the reader -----------------------------------------------------------------

NAMES = [*MAP_DATASETS, *LABEL_DATASETS, *(f"meta/{m}" for m in META_DATASETS), "meta"]
DTYPES = ["f4", "f2", "f8", "u1", "i8", "?", "S3", "c8", "str", "bytes"]
ATTRIBUTES = [None, "1", b"1", 1.0, 0, 2, -3, True, np.array([1, 1]), np.uint64(1), "x" * 500]


def replace(handle: h5py.File, name: str, shape: tuple[int, ...], dtype: str) -> None:
    if name in handle:
        del handle[name]
    if dtype in ("str", "bytes"):
        values = ["é", "\xff"] if dtype == "str" else [b"a", b"\xff\xfe"]
        data = np.resize(np.array(values, dtype=object), shape)
        kind = h5py.string_dtype("utf-8" if dtype == "str" else "ascii")
        handle.create_dataset(name, data=data, dtype=kind)
    else:
        handle.create_dataset(name, data=np.ones(shape, dtype=dtype))


@st.composite
def mutation(draw) -> tuple:
    kinds = ["delete", "replace", "retype", "rows", "group", "link", "version", "extra"]
    kind = draw(st.sampled_from(kinds))
    name = draw(st.sampled_from(NAMES))
    if kind == "retype":
        return kind, name, draw(st.sampled_from(DTYPES))
    if kind == "replace":
        shape = tuple(draw(st.lists(st.integers(0, 5), max_size=4)))
        return kind, name, shape, draw(st.sampled_from(DTYPES))
    if kind == "rows":
        return kind, name, draw(st.integers(0, 7))
    if kind == "version":
        return kind, draw(st.sampled_from(ATTRIBUTES))
    return kind, name


def mutate(handle: h5py.File, change: tuple) -> None:
    kind, name, *more = change  # for "version", name is the value
    if kind == "version":
        _set_version(handle, name)
    elif kind == "delete" and name in handle:
        del handle[name]
    elif kind == "replace":
        replace(handle, name, *more)
    elif kind in ("retype", "rows") and isinstance(handle.get(name), h5py.Dataset):
        _reshape(handle, kind, name, *more)
    elif kind in ("group", "link"):
        _relink(handle, kind, name)
    elif kind == "extra":
        handle.create_dataset(f"extra_{name.replace('/', '_')}_{len(handle)}", data=[1, 2])


def _set_version(handle: h5py.File, value) -> None:
    if value is None:
        del handle.attrs["schema_version"]
    else:
        handle.attrs["schema_version"] = value


def _reshape(handle: h5py.File, kind: str, name: str, argument) -> None:
    """Give a dataset another dtype (``retype``) or another number of rows."""
    if kind == "retype":
        replace(handle, name, handle[name].shape, argument)
        return
    dataset = handle[name]
    if dataset.maxshape and dataset.maxshape[0] is None:
        dataset.resize(argument, axis=0)


def _relink(handle: h5py.File, kind: str, name: str) -> None:
    """Put an empty group, or a dangling soft or external link, where ``name`` was."""
    if name in handle:
        del handle[name]
    if kind == "group":
        handle.create_group(name)
    else:
        external = h5py.ExternalLink("missing.h5", "/x")
        handle[name] = h5py.SoftLink("/nowhere") if len(name) % 2 else external


def read_everything(path: Path) -> None:
    """What the stages do with a maps file; shapes checked where it opens."""
    with MapsFile(path) as maps:
        n, size = len(maps), maps.size
        subjects, sessions = maps.labels()
        assert len(subjects) == len(sessions) == len(maps.sources()) == n
        roots = maps.roots()
        assert roots is None or len(roots) == n
        for modality in ("normal+albedo", "depth", "image"):
            channels = sum(CHANNELS[m] for m in modality.split("+"))
            assert maps.read(modality).shape == (n, channels, size, size)
            assert maps.read(modality, np.arange(n)[::-1]).shape == (n, channels, size, size)
        assert maps.mask(slice(0, 2)).dtype == bool


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(changes=st.lists(mutation(), min_size=1, max_size=3))
def test_a_broken_maps_file_reads_or_is_one_psface_error(changes, tmp_path):
    path = tmp_path / "fuzz.h5"
    valid_maps(path)
    with h5py.File(path, "a") as handle:
        for change in changes:
            with contextlib.suppress(KeyError, ValueError, OSError, TypeError):
                mutate(handle, change)  # a change HDF5 refuses (through a link) is not made
    try:
        read_everything(path)
    except PsfaceError as error:
        assert "\n" not in str(error) and str(error).startswith(str(path))
