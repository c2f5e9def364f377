"""Issue 9, readers and reconstruct: damaged or hostile inputs get one line, never a crash.

Each test makes the input a tester reported (non-finite lights, truncated captures,
symbolic links, captures too large for memory, labels that steer paths, sessions that
collide or throw), and checks what was refused, what was still written, and that the
user saw one line.
"""

import copy
import json
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import photostereo.reconstruct_batch as reconstruct_batch
from photostereo.io import (
    find_sessions,
    load_session,
    read_canonical,
    read_photoface,
    write_canonical,
)
from photostereo.io.budget import capture_size, check_memory, estimate_bytes
from photostereo.io.images import read_image
from photostereo.io.photoface import parse_attributes, parse_light_source
from photostereo.lights import check_light_geometry
from photostereo.session import CaptureSession, is_clean
from psbase.errors import LightGeometryError, PsfaceError, ResourceError
from psface.cli import main
from tests.fixtures import sphere_session, write_canonical_sphere, write_photoface_sphere
from tests.scenes import albedo_map, bump_field, render, rig

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def edit_lights(folder: Path, change) -> None:
    path = folder / "lights.json"
    spec = json.loads(path.read_text())
    change(spec)
    path.write_text(json.dumps(spec))  # json writes NaN and Infinity, as the tester did


def one_error_line(capfd) -> str:
    """The single line the user saw on stderr (file descriptor 2, decoders included)."""
    err = capfd.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "(unexpected;" not in err, err
    return lines[0]


# 1. Non-finite and absurd light values ------------------------------------------------


def test_nan_direction_is_named_before_the_svd_sees_it():
    directions = np.array([[0.0, 0.3, 1.0], [np.nan, 0.0, 1.0], [0.3, 0.0, 1.0]])
    with pytest.raises(LightGeometryError, match=r"rig: light 1: direction \[nan"):
        check_light_geometry(directions, where="rig")


def test_direction_length_does_not_count_as_geometry():
    unit = np.array([[0.0, 0.3, 1.0], [-0.3, 0.0, 1.0], [3.0, 0.0, 10.0]])
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    scaled = unit * np.array([[1.0], [1e-3], [1e300]])  # one light written absurdly long
    condition = check_light_geometry(scaled)
    assert condition == pytest.approx(check_light_geometry(unit)) and condition < 10


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("direction", [float("nan"), 0.0, 1.0], "direction must be three finite numbers"),
        ("direction", [float("inf"), 0.0, 1.0], "direction must be three finite numbers"),
        ("direction", [10**400, 0, 1], "direction must be three finite numbers"),
        ("direction", [True, 0, 1], "direction must be three finite numbers"),
        ("direction", [0, 0, 0], "not all zero"),
        ("intensity", float("nan"), "intensity must be a number from 1e-06 to 1e+06"),
        ("intensity", float("inf"), "intensity must be a number from 1e-06 to 1e+06"),
        ("intensity", 1e-30, "intensity must be a number from 1e-06 to 1e+06"),
        ("intensity", "bright", "intensity must be a number"),
    ],
)
def test_bad_light_values_are_one_line_naming_lights_json(tmp_path, capfd, field, value, problem):
    folder = write_canonical_sphere(tmp_path / "s01" / "v1")
    edit_lights(folder, lambda spec: spec["lights"][2].update({field: value}))
    assert main(["reconstruct", str(folder), "-o", str(tmp_path / "out")]) == 1
    line = one_error_line(capfd)
    assert line.startswith(f"psface reconstruct: error: {folder / 'lights.json'}: light 2 ")
    assert problem in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("l0.png\x00", "image name 'l0.png\\x00' holds control characters"),
        ("l\n0.png", "image name 'l\\n0.png' holds control characters"),
        ("a" * 300, "is not a usable file name"),
        ("loop.png", "is not a usable file name"),
    ],
    ids=["nul", "newline", "too-long", "link-loop"],
)
def test_unusable_image_names_are_one_line(tmp_path, capfd, name, problem):
    folder = write_canonical_sphere(tmp_path / "s01" / "v1")
    (folder / "loop.png").symlink_to(folder / "loop.png")
    edit_lights(folder, lambda spec: spec["lights"][0].update(image=name))
    assert main(["reconstruct", str(folder), "-o", str(tmp_path / "out")]) == 1
    line = one_error_line(capfd)
    assert f"{folder / 'lights.json'}: light 0: " in line and problem in line


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"lights": [' + "1" * 5000 + "]}", "a number has thousands of digits"),
        ("[" * 100_000, "nested too deeply"),
        (b"\xff\xfe{}", "not valid JSON"),
    ],
)
def test_json_that_python_cannot_hold_is_one_line(tmp_path, capfd, text, problem):
    folder = write_canonical_sphere(tmp_path / "s01" / "v1")
    path = folder / "lights.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    assert main(["reconstruct", str(folder), "-o", str(tmp_path / "out")]) == 1
    line = one_error_line(capfd)
    assert f"{path}: " in line and problem in line


@pytest.mark.parametrize(
    ("lights", "problem"),
    [
        ("zenith = [1e400 20 20 20];\nazimuth = [45 135 225 315];", "zenith angle 1 is inf"),
        ("zenith = [20 20 20 20];\nazimuth = [45 1e999 225 315];", "azimuth angle 2 is inf"),
        ("zenith = [20 NaN 20 20];\nazimuth = [45 135 225 315];", "zenith value 'NaN'"),
        ("Zenith(1) = 20; Zenith(2) = nan; Zenith(3) = 20; Zenith(4) = 20;\n"
         "azimuth = [45 135 225 315];", "zenith value 'nan'"),
        ("zenith = [20 20 20 1e300];\nazimuth = [45 135 225 315];", "not a finite angle"),
    ],
)  # fmt: skip
def test_photoface_non_finite_angles_are_refused_not_skipped(tmp_path, capfd, lights, problem):
    folder = write_photoface_sphere(tmp_path / "1001" / "s1", lights_text=lights)
    assert main(["reconstruct", str(folder), "-o", str(tmp_path / "out")]) == 1
    line = one_error_line(capfd)
    assert f"{folder / 'LightSource.m'}: " in line and problem in line


def test_odd_bytes_in_photoface_attributes_become_clean_text(tmp_path):
    folder = write_photoface_sphere(tmp_path / "1001" / "s1")
    (folder / "metadataII.txt").write_bytes(
        b"\xef\xbb\xbfGender: fe\xffmale\nPose: \xc2\xb2\nQuality:\x00\x1b[31mok\n"
        b"Emotion: happy\xe2\x80\xa8sad\nSpectacles: 12345678901234567890\n"
    )
    session = read_photoface(folder)
    attributes = session.attributes
    assert attributes["gender"] == "fe\ufffdmale"  # not UTF-8: replaced, the BOM dropped
    assert attributes["pose"] == "²"  # a digit to str.isdigit, not to int()
    assert attributes["quality"] == "\ufffd\ufffd[31mok"  # NUL and ESC replaced
    assert attributes["expression"] == "happy"  # U+2028 ends the line
    assert attributes["spectacles"] == "12345678901234567890"
    for key, value in attributes.items():
        assert is_clean(key) and (isinstance(value, int) or is_clean(value))
    json.dumps(attributes, ensure_ascii=False).encode("utf-8")  # writable anywhere
    assert session.n_lights == 4


# 2. Strict decoders -------------------------------------------------------------------


def capture_as(folder: Path, suffix: str, change) -> Path:
    """Re-save l1.png of a session in another format, damaged by ``change(bytes)``."""
    image = cv2.imread(str(folder / "l1.png"), cv2.IMREAD_UNCHANGED)
    (folder / "l1.png").unlink()
    target = folder / f"l1{suffix}"
    cv2.imwrite(str(target), image)
    target.write_bytes(change(target.read_bytes()))
    edit_lights(folder, lambda spec: spec["lights"][1].update(image=target.name))
    return target


def truncated(data: bytes) -> bytes:
    return data[: len(data) * 2 // 3]


def scrambled(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0x5A for b in data[middle : middle + 40]) + data[middle + 40 :]


@pytest.mark.parametrize(
    ("suffix", "change", "detail"),
    [
        (".jpg", truncated, "(the decoder gave up)"),
        (".jpg", scrambled, "Corrupt JPEG data"),
        (".png", truncated, "(the decoder gave up)"),
        (".png", scrambled, "libpng"),
        (".bmp", truncated, "Unexpected end of input stream"),
        (".pgm", truncated, "Unexpected end of input stream"),
        (".tif", truncated, "TIFF"),
    ],
    ids=["jpg-truncated", "jpg-scrambled", "png-truncated", "png-scrambled", "bmp", "pgm", "tif"],
)
def test_damaged_capture_is_refused_and_decoder_noise_stays_off_the_terminal(
    tmp_path, capfd, suffix, change, detail
):
    folder = write_canonical_sphere(tmp_path / "s01" / "v1", size=64)
    target = capture_as(folder, suffix, change)
    capfd.readouterr()
    assert main(["reconstruct", str(folder), "-o", str(tmp_path / "out")]) == 1
    line = one_error_line(capfd)  # libjpeg, libpng and OpenCV print nothing of their own
    assert line.startswith(f"psface reconstruct: error: {target}: cannot be read as an image (")
    assert detail in line


def test_an_intact_capture_of_each_format_reads_silently(tmp_path, capfd):
    pixels = (np.arange(64 * 64).reshape(64, 64) % 251).astype(np.uint8)
    for suffix in (".jpg", ".png", ".bmp", ".pgm", ".tif"):
        cv2.imwrite(str(tmp_path / f"ok{suffix}"), pixels)
        image, _ = read_image(tmp_path / f"ok{suffix}")
        assert image.shape == (64, 64)
        assert np.abs(image * 255 - pixels).mean() < 3  # jpeg is lossy
    assert capfd.readouterr().err == ""


def test_decoder_noise_is_captured_in_a_real_process(tmp_path):
    folder = write_canonical_sphere(tmp_path / "s01" / "v1")
    target = capture_as(folder, ".jpg", scrambled)
    done = subprocess.run(
        [sys.executable, "-m", "psface", "reconstruct", str(folder), "-o", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith(
        f"psface reconstruct: error: {target}: cannot be read as an image (Corrupt JPEG data"
    )
    assert line.endswith("): the file is truncated or corrupt")


# 3. Symbolically linked folders -------------------------------------------------------


def test_discovery_follows_linked_subject_and_session_folders(tmp_path):
    root = tmp_path / "root"
    write_canonical_sphere(root / "alice" / "v1", subject="alice")
    write_canonical_sphere(tmp_path / "store" / "bob" / "v1", subject="bob")
    write_canonical_sphere(tmp_path / "store" / "carol-v1", subject="carol")
    (root / "bob").symlink_to(tmp_path / "store" / "bob")
    (root / "carol").mkdir()
    (root / "carol" / "v1").symlink_to(tmp_path / "store" / "carol-v1")
    refs = find_sessions(root)
    assert [r.path for r in refs] == [root / "alice/v1", root / "bob/v1", root / "carol/v1"]
    assert [load_session(r).subject for r in refs] == ["alice", "bob", "carol"]


def test_a_link_to_an_ancestor_neither_hangs_nor_duplicates(tmp_path):
    root = tmp_path / "root"
    write_canonical_sphere(root / "alice" / "v1")
    write_canonical_sphere(root / "bob" / "v1")
    (root / "alice" / "back").symlink_to(root)  # a loop
    (root / "0-alias").symlink_to(root / "bob")  # sorts first, but is a second path
    start = time.perf_counter()
    refs = find_sessions(root)
    assert time.perf_counter() - start < 5
    assert [r.path for r in refs] == [root / "alice/v1", root / "bob/v1"]


def test_folder_labels_come_from_the_link_not_its_target(tmp_path):
    write_canonical_sphere(tmp_path / "store" / "x" / "y")
    edit_lights(tmp_path / "store/x/y", lambda spec: spec.update(subject=None, session=""))
    (tmp_path / "dana").mkdir()
    (tmp_path / "dana" / "monday").symlink_to(tmp_path / "store/x/y")
    session = read_canonical(tmp_path / "dana" / "monday")
    assert (session.subject, session.session) == ("dana", "monday")


# 4. Memory checked from the headers ---------------------------------------------------


def huge_capture(path: Path, suffix: str, size: int = 30_000) -> None:
    """A few hundred bytes whose header claims ``size`` x ``size`` pixels."""
    if suffix == ".pgm":
        data = f"P5\n{size} {size}\n255\n".encode() + bytes(100)
    else:
        small = np.full((4, 4), 128, np.uint8)
        _, buffer = cv2.imencode(suffix, small)
        data = bytearray(buffer.tobytes())
        if suffix == ".png":  # IHDR width and height, big-endian, and the chunk's CRC
            data[16:24] = size.to_bytes(4, "big") * 2
            data[29:33] = zlib.crc32(data[12:29]).to_bytes(4, "big")
        else:  # BMP info header width and height, little-endian
            data[18:26] = size.to_bytes(4, "little") * 2
        data = bytes(data)
    path.write_bytes(data)


@pytest.mark.parametrize("suffix", [".pgm", ".png", ".bmp"])
def test_captures_too_big_for_memory_are_refused_from_their_headers(tmp_path, capfd, suffix):
    folder = write_canonical_sphere(tmp_path / "s01" / "v1")
    for k in range(4):
        (folder / f"l{k}.png").unlink()
        huge_capture(folder / f"l{k}{suffix}", suffix)
    edit_lights(
        folder, lambda s: [li.update(image=f"l{k}{suffix}") for k, li in enumerate(s["lights"])]
    )
    assert capture_size(folder / f"l0{suffix}") == (30_000, 30_000)
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(ResourceError) as refused:
        load_session(folder, max_bytes=10 * 10**9)
    took = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert took < 2 and peak < 20 * 2**20  # headers only: no 900-megapixel buffer
    assert str(refused.value) == (
        f"{folder}: needs about {estimate_bytes([(30_000, 30_000)] * 4) / 1e9:.1f} GB of "
        "memory for 4 captures of up to 30000x30000 pixels, more than the limit of 10.0 GB "
        "(--max-memory); use smaller captures, or raise the limit with --max-memory GB"
    )
    assert main(["reconstruct", str(folder), "-o", str(tmp_path / "out")]) == 1
    line = one_error_line(capfd)
    assert "30000x30000" in line and "(half of this machine's memory)" in line


def test_max_memory_option_sets_the_limit(tmp_path, capfd):
    folder = write_canonical_sphere(tmp_path / "s01" / "v1", size=64)
    need = estimate_bytes([(64, 64)] * 4)
    below = ["--max-memory", f"{need * 0.9 / 1e9:.9f}"]
    assert main(["reconstruct", str(folder), "-o", str(tmp_path / "a"), *below]) == 1
    assert "more than the limit of 0.0 GB (--max-memory)" in one_error_line(capfd)
    above = ["--max-memory", f"{need * 1.1 / 1e9:.9f}"]
    assert main(["reconstruct", str(folder), "-o", str(tmp_path / "b"), *above]) == 0
    assert (tmp_path / "b" / "summary.json").is_file()
    with pytest.raises(SystemExit):
        main(["reconstruct", str(folder), "-o", str(tmp_path / "c"), "--max-memory", "0"])
    assert "argument --max-memory: 0 is not above 0" in one_error_line(capfd)


def test_memory_estimate_is_an_upper_bound_of_the_measured_peak(tmp_path):
    """Calibration guard: the real peak of reading and reconstructing a 1000 x 1000,
    four-light session (all face) with the defaults stays under the estimate."""
    for size in (32, 1000):
        normals, _ = bump_field(size)
        images = np.clip(render(normals, albedo_map((size, size)), rig(4), noise=0.003), 0, 1)
        write_canonical(tmp_path / f"s{size}", CaptureSession(images, rig(4), [1] * 4, "s", "v"))
    script = (  # a first run compiles and caches; the peak is then reset and measured
        "import os, sys\n"
        "from photostereo.io import load_session\n"
        "from photostereo.reconstruct import reconstruct\n"
        "reconstruct(load_session(sys.argv[1]))\n"
        "reconstruct(load_session(sys.argv[2]))\n"
        "open('/proc/self/clear_refs', 'w').write('5')\n"  # resets the peak (Linux >= 4.0)
        "rss = int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE')\n"
        "reconstruct(load_session(sys.argv[2]))\n"
        "peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print(int(peak.split()[1]) * 1024 - rss)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "s32"), str(tmp_path / "s1000")],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[1],
    )
    measured = int(done.stdout.split()[-1])
    captures = sorted((tmp_path / "s1000").glob("l*.png"))
    estimate = check_memory(captures, where="s", max_bytes=None)
    assert 0.3 * estimate < measured < estimate


# 5. reconstruct batches ---------------------------------------------------------------


def labelled(root: Path, name: str, subject: str, session: str) -> Path:
    folder = write_canonical_sphere(root / name / "v", subject="x")
    edit_lights(folder, lambda spec: spec.update(subject=subject, session=session))
    return folder


def test_labels_cannot_steer_outputs_outside_out(tmp_path, capsys):
    root, out = tmp_path / "root", tmp_path / "deep" / "out"
    labelled(root, "a", "../../escaped", "..")
    labelled(root, "b", str(tmp_path / "absolute"), "v1")
    assert main(["reconstruct", str(root), "-o", str(out)]) == 0
    written = sorted(str(p.relative_to(out)) for p in out.glob("*/*/summary.json"))
    encoded_absolute = str(tmp_path / "absolute").replace("/", "%2F")
    assert written == sorted(
        ["%2E.%2F..%2Fescaped/%2E./summary.json", f"{encoded_absolute}/v1/summary.json"]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "root"]
    assert "reconstructed 2 of 2" in capsys.readouterr().out


def test_sessions_with_the_same_labels_all_fail_and_none_is_written(tmp_path, capsys):
    root, out = tmp_path / "root", tmp_path / "out"
    labelled(root, "a", "p1", "day1")
    labelled(root, "b", "p1", "day1")
    labelled(root, "c", "p2", "day1")
    assert main(["reconstruct", str(root), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "reconstructed 1 of 3 sessions" in captured.out
    assert captured.err.splitlines() == [
        "2 failed:",
        f"  {root / 'a/v'}: would write to {out / 'p1/day1'}, as would {root / 'b/v'}; "
        "give the sessions different subject or session labels",
        f"  {root / 'b/v'}: would write to {out / 'p1/day1'}, as would {root / 'a/v'}; "
        "give the sessions different subject or session labels",
    ]
    assert not (out / "p1").exists()
    assert (out / "p2" / "day1" / "summary.json").is_file()


def test_any_exception_in_one_session_is_listed_and_the_batch_goes_on(
    tmp_path, capsys, monkeypatch
):
    root, out = tmp_path / "root", tmp_path / "out"
    for name in ("a", "b", "c", "d"):
        labelled(root, name, name, "v")
    real = reconstruct_batch.reconstruct

    def flaky(session, **kwargs):
        if session.subject == "b":
            raise RuntimeError("the solver tripped")
        if session.subject == "c":
            raise MemoryError
        return real(session, **kwargs)

    monkeypatch.setattr(reconstruct_batch, "reconstruct", flaky)
    monkeypatch.setenv("PSFACE_LOG_DIR", str(tmp_path / "logs"))
    assert main(["reconstruct", str(root), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "reconstructed 2 of 4 sessions" in captured.out
    lines = captured.err.splitlines()
    assert lines[0] == "2 failed:" and len(lines) == 3
    assert lines[1].startswith(f"  {root / 'b/v'}: RuntimeError: the solver tripped (unexpected;")
    assert lines[2] == (
        f"  {root / 'c/v'}: out of memory; reconstruct this session alone or on a larger machine"
    )
    (log,) = (tmp_path / "logs").iterdir()
    assert "Traceback" in log.read_text() and "the solver tripped" in log.read_text()
    assert sorted(p.parent.parent.name for p in out.glob("*/v/summary.json")) == ["a", "d"]


def test_batch_keeps_a_filled_session_folder_unless_overwrite(tmp_path, capsys):
    root, out = tmp_path / "root", tmp_path / "out"
    labelled(root, "a", "a", "v")
    labelled(root, "b", "b", "v")
    (out / "a" / "v").mkdir(parents=True)
    (out / "a" / "v" / "normal.npy").write_bytes(b"earlier")
    (out / "a" / "v" / "notes.txt").write_text("mine")
    assert main(["reconstruct", str(root), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "reconstructed 1 of 2" in captured.out
    assert f"{out / 'a/v'}: already holds files" in captured.err
    assert (out / "a" / "v" / "normal.npy").read_bytes() == b"earlier"
    assert main(["reconstruct", str(root), "-o", str(out), "--overwrite"]) == 0
    assert np.load(out / "a" / "v" / "normal.npy").shape == (48, 48, 3)
    assert (out / "a" / "v" / "notes.txt").read_text() == "mine"


def test_single_session_output_folder_rules(tmp_path, capfd):
    folder = write_canonical_sphere(tmp_path / "s01" / "v1")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["reconstruct", str(folder), "-o", str(out)]) == 1
    assert "already holds files" in one_error_line(capfd)
    assert main(["reconstruct", str(folder), "-o", str(out), "--overwrite"]) == 0
    assert (out / "keep.txt").read_text() == "mine" and (out / "summary.json").is_file()
    capfd.readouterr()
    assert main(["reconstruct", str(folder), "-o", str(tmp_path / "s01")]) == 1
    assert "overlaps the input" in one_error_line(capfd)
    (tmp_path / "file").write_text("x")
    root = tmp_path / "root"
    labelled(root, "a", "a", "v")
    labelled(root, "b", "b", "v")
    for target in (folder, root):
        assert main(["reconstruct", str(target), "-o", str(tmp_path / "file")]) == 1
        assert "is a file; name a folder to write into" in one_error_line(capfd)


def test_a_failed_single_session_leaves_no_empty_output_folder(tmp_path, capfd):
    folder = write_canonical_sphere(tmp_path / "s01" / "v1")
    (folder / "l2.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    assert main(["reconstruct", str(folder), "-o", str(tmp_path / "out")]) == 1
    assert "l2.png: cannot be read as an image" in one_error_line(capfd)
    assert not (tmp_path / "out").exists()


# 6. Fuzzing: every reader either succeeds or raises a PsfaceError ----------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
json_junk = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
odd_names = st.sampled_from(
    ["../l0.png", "/etc/passwd", "gt_normal.npy", "", ".", "l0.png\x00", "a" * 300, "\ud800"]
)
#: The lights.json of the fuzzers' session, which reads; each example edits a few places.
BASE_SPEC = {
    "subject": "s01",
    "session": "v1",
    "lights": [
        {"image": f"l{k}.png", "direction": [float(v) for v in d], "intensity": 1.0}
        for k, d in enumerate(sphere_session(size=8)[0].directions)
    ],
    "attributes": {},
}
PLACES = [("subject",), ("session",), ("attributes",), ("lights",)] + [
    ("lights", k, *rest)
    for k in range(4)
    for rest in [(), ("image",), ("direction",), ("intensity",), ("direction", 0), ("direction", 2)]
]


def edited(edits: list[tuple[tuple, object]]) -> dict:
    """BASE_SPEC with each (place, value) set; places an earlier edit removed are skipped."""
    spec = copy.deepcopy(BASE_SPEC)
    for place, value in edits:
        try:
            holder = spec
            for key in place[:-1]:
                holder = holder[key]
            holder[place[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    return spec


values = json_junk | odd_names | st.sampled_from(["l1.png", 0.5, -1, 1e300, 10**400])
specs = st.lists(st.tuples(st.sampled_from(PLACES), values), max_size=3).map(edited)


@pytest.fixture(scope="module")
def fuzz_session(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz") / "s01" / "v1"
    return write_canonical_sphere(folder, size=16)


@FUZZ
@given(spec=specs | json_junk)
def test_fuzzed_lights_json_reads_or_raises_psface_error(fuzz_session, spec):
    text = json.dumps(spec)  # escapes lone surrogates, writes NaN and Infinity
    (fuzz_session / "lights.json").write_text(text)
    try:
        read_canonical(fuzz_session)
    except PsfaceError:
        pass


@FUZZ
@given(spec=specs, raw=st.binary(max_size=40))
def test_fuzzed_lights_json_never_shows_a_traceback(tmp_path, capfd, fuzz_session, spec, raw):
    for data in (json.dumps(spec).encode(), raw):
        (fuzz_session / "lights.json").write_bytes(data)
        out = tmp_path / "out"
        code = main(["reconstruct", str(fuzz_session), "-o", str(out), "--overwrite"])
        err = capfd.readouterr().err
        assert code in (0, 1) and "Traceback" not in err and "(unexpected;" not in err, err
        assert len(err.strip().splitlines()) == (code != 0), err


good_angles = st.sampled_from(["20", "45", "135", "225", "315", "0.3", "1e-5", "+7."])
odd_angles = st.sampled_from(
    ["NaN", "nan", "Inf", "-1e400", "1e300", "x", "²", "٣٠", "'deg'", "", "\x00", "\udc80"]
) | st.floats().map(repr)
angles = st.one_of(good_angles, good_angles, good_angles, odd_angles)  # mostly usable
separators = st.sampled_from([" ", ",", ", ", " ...\n", ";", "\t"])


def items(count: int) -> st.SearchStrategy[str]:
    pairs = st.lists(st.tuples(angles, separators), min_size=count, max_size=count)
    return pairs.map(lambda pairs: "".join(a + s for a, s in pairs))


vectors = st.integers(0, 6).flatmap(lambda n: st.tuples(items(n), items(n) | items(n + 1)))
vectors = vectors.map(lambda v: f"zenith = [{v[0]}];\nazimuth = [{v[1]}];\n")
elements = st.lists(
    st.tuples(st.sampled_from(["Zenith", "azimuth"]), st.integers(0, 5) | st.just(10**30), angles),
    max_size=10,
).map(lambda lines: "".join(f"{n}({i}) = {a};\n" for n, i, a in lines))
matrices = st.lists(st.tuples(angles, angles), max_size=5).map(
    lambda rows: (
        "LightSource = [" + "; ".join(f"{z} {a}" for z, a in rows) + "];  % zenith, azimuth\n"
    )
)
pieces = st.lists(
    st.sampled_from(
        ["zenith", "azimuth", "Zenith(2)", "(99999999999)", "=", "[", "]", ";", "\n", "%"]
    )
    | angles,
    max_size=30,
).map("".join)
light_source_texts = vectors | elements | matrices | pieces | st.text()


@FUZZ
@given(text=light_source_texts)
def test_fuzzed_light_source_parses_or_raises_psface_error(tmp_path, text):
    path = tmp_path / "LightSource.m"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    try:
        zenith, azimuth = parse_light_source(path)
    except PsfaceError:
        return
    assert len(zenith) == len(azimuth) > 0
    assert np.isfinite(zenith).all() and np.isfinite(azimuth).all()


@pytest.fixture(scope="module")
def photoface_session(tmp_path_factory) -> Path:
    return write_photoface_sphere(tmp_path_factory.mktemp("pf") / "1001" / "s1")


@FUZZ
@given(text=light_source_texts, metadata=st.binary(max_size=80))
def test_fuzzed_photoface_session_never_shows_a_traceback(
    tmp_path, capfd, photoface_session, text, metadata
):
    (photoface_session / "LightSource.m").write_bytes(text.encode("utf-8", "surrogateescape"))
    (photoface_session / "metadataII.txt").write_bytes(metadata)
    code = main(["reconstruct", str(photoface_session), "-o", str(tmp_path / "o"), "--overwrite"])
    err = capfd.readouterr().err
    assert code in (0, 1) and "Traceback" not in err and "(unexpected;" not in err, err


@FUZZ
@given(data=st.binary(max_size=200) | st.text().map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_fuzzed_attributes_are_always_clean_text(tmp_path, data):
    path = tmp_path / "metadataII.txt"
    path.write_bytes(data)
    attributes = parse_attributes(path)
    for key, value in attributes.items():
        assert is_clean(key) and (isinstance(value, int) or is_clean(value))
    json.dumps(attributes, ensure_ascii=False).encode("utf-8")
