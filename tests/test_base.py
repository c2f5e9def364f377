"""psbase: the atomic writer, output guards, label encoding, lock and failure log that
every stage relies on to never lose a user's data."""

import errno
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from psbase.atomic import write_atomically
from psbase.errors import InputError, ResourceError, one_line
from psbase.hdf5 import WriteGuard
from psbase.labels import safe_component
from psbase.lock import LockedError, exclusive_lock
from psbase.outputs import check_output_file, output_folder, prepare_output_folder
from psface.cli import main
from tests.tmpfs import small_tmpfs


def test_atomic_writes_are_owner_only_and_leave_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    write_atomically(target, lambda tmp: tmp.write_bytes(b"new"))
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def broken(tmp):
        tmp.write_bytes(b"half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        write_atomically(target, broken)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_a_full_disk_is_one_line_and_keeps_the_previous_file():
    with small_tmpfs(64) as folder:
        target = folder / "out.bin"
        target.write_bytes(b"old")
        with pytest.raises(ResourceError) as caught:
            write_atomically(target, lambda tmp: tmp.write_bytes(os.urandom(1 << 20)))
        assert "disk is full" in str(caught.value) and "\n" not in str(caught.value)
        assert target.read_bytes() == b"old"
        assert [p.name for p in folder.iterdir()] == ["out.bin"]


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("s0001", "s0001"),
        ("../../X", "%2E.%2F..%2FX"),
        ("/etc/passwd", "%2Fetc%2Fpasswd"),
        ("..", "%2E."),
        (".hidden", "%2Ehidden"),
        ("a%2Fb", "a%252Fb"),
        ("two words é", "two words é"),
    ],
)
def test_labels_become_one_path_component(label, expected):
    encoded = safe_component(label)
    assert encoded == expected
    assert "/" not in encoded and encoded not in (".", "..")


def test_label_encoding_is_one_to_one():
    labels = ["a/b", "a%2Fb", "a_b", "a\\b", "a%5Cb", ".a", "%2Ea"]
    assert len({safe_component(label) for label in labels}) == len(labels)


def test_empty_and_overlong_labels_are_refused():
    with pytest.raises(InputError):
        safe_component("")
    with pytest.raises(InputError):
        safe_component("x" * 300)


def test_output_file_guards(tmp_path):
    existing = tmp_path / "maps.h5"
    existing.write_bytes(b"data")
    link = tmp_path / "link.h5"
    link.symlink_to(existing)
    with pytest.raises(InputError, match="already exists"):
        check_output_file(existing)
    assert check_output_file(existing, overwrite=True) == existing
    with pytest.raises(InputError, match="input of this command"):
        check_output_file(link, overwrite=True, inputs=[existing])
    with pytest.raises(InputError, match="is a folder"):
        check_output_file(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        check_output_file(tmp_path / "missing" / "x.h5")
    assert existing.read_bytes() == b"data"


def test_output_folder_guards(tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    (full / "mine.txt").write_text("keep")
    with pytest.raises(InputError, match="already holds files"):
        prepare_output_folder(full)
    assert prepare_output_folder(full, overwrite=True) == full
    assert (full / "mine.txt").read_text() == "keep"
    with pytest.raises(InputError, match="is a file"):
        prepare_output_folder(full / "mine.txt")
    with pytest.raises(InputError, match="overlaps the input"):
        prepare_output_folder(tmp_path / "in" / "out", inputs=[tmp_path / "in"])
    made = prepare_output_folder(tmp_path / "new" / "deep")
    assert made.is_dir() and made.stat().st_mode & 0o777 == 0o700
    assert made.parent.stat().st_mode & 0o777 == 0o700


def test_a_second_writer_gets_one_line_after_the_timeout(tmp_path):
    target = tmp_path / "g.h5"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from psbase.lock import exclusive_lock
                with exclusive_lock({str(target)!r}):
                    print("held", flush=True)
                    time.sleep(30)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        heard = []
        with (
            pytest.raises(LockedError) as caught,
            exclusive_lock(target, timeout=0.3, on_wait=heard.append),
        ):
            pass
        assert "still locked" in str(caught.value) and len(heard) == 1
    finally:
        holder.kill()
        holder.wait()
    with exclusive_lock(target, timeout=1.0):  # the kernel dropped the dead holder's lock
        pass
    assert (tmp_path / "g.h5.lock").stat().st_mode & 0o777 == 0o600


def test_one_line_names_foreign_errors_and_keeps_the_first_line():
    assert one_line(ValueError("bad\nsecond line")) == "ValueError: bad"
    assert one_line(InputError("x.png", "corrupt")) == "x.png: corrupt"
    assert len(one_line(RuntimeError("y" * 1000))) == 300


def test_an_unexpected_error_is_one_line_with_the_traceback_logged(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PSFACE_LOG_DIR", str(tmp_path / "logs"))

    def explode(args):
        raise ZeroDivisionError("a bug")

    from psface.commands import synth

    monkeypatch.setattr(synth, "run", explode)
    assert main(["synth", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "ZeroDivisionError: a bug" in err
    (log,) = (tmp_path / "logs").iterdir()
    assert "Traceback" in log.read_text() and str(log) in err
    assert log.stat().st_mode & 0o777 == 0o600
    assert main(["--debug", "synth", str(tmp_path / "s")]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_the_hdf5_write_guard_reads_back_what_the_full_disk_refused():
    """HDF5 reads back what it wrote (variable-length strings, its own metadata) while
    it builds a file; after the disk fills, the guard must still return those bytes, or
    the library crashes (it did, closing a gallery on a full disk)."""
    rng = np.random.default_rng(0)
    with small_tmpfs(64) as folder:
        path = folder / "x.h5"
        path.write_bytes(b"")
        guard = WriteGuard(path)
        expected = bytearray(300_000)
        for offset in (0, 50_000, 120_000, 10_000, 250_000, 61_000):
            data = rng.integers(0, 256, 40_000, dtype=np.uint8).tobytes()
            guard.seek(offset)
            assert guard.write(data) == len(data)
            expected[offset : offset + len(data)] = data
        assert guard.error is not None and guard.error.errno == errno.ENOSPC
        guard.seek(0, os.SEEK_END)
        assert guard.tell() == 290_000
        guard.seek(0)
        back = bytearray(290_000)
        assert guard.readinto(back) == 290_000
        assert back == expected[:290_000]
        guard.close()
        with pytest.raises(OSError):
            guard.raise_error()


def test_a_failed_run_leaves_no_folder_it_created(tmp_path):
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(RuntimeError), output_folder(kept / "a" / "b") as folder:
        assert folder.is_dir()
        raise RuntimeError("the stage failed")
    assert list(kept.iterdir()) == []  # a/ and a/b/ made for the run are gone, kept/ stays
    with pytest.raises(RuntimeError), output_folder(kept / "c") as folder:
        (folder / "half.npy").write_bytes(b"x")
        raise RuntimeError("after writing")
    assert (kept / "c" / "half.npy").is_file()  # what was written is never deleted


def test_evaluate_on_a_bad_input_leaves_no_report_folder(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("not maps")
    (tmp_path / "run").mkdir()
    report = tmp_path / "report"
    assert main(["evaluate", str(notes), "--model", str(tmp_path / "run"), "-o", str(report)]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not report.exists()


def test_natural_key_reads_digit_runs_as_numbers():
    from psbase.labels import natural_key

    names = ["v10", "v2", "V1", "im9", "im10", "2008-02-23_12-21-31", "2008-02-23_9-00-00"]
    assert sorted(names, key=natural_key) == [
        "2008-02-23_9-00-00", "2008-02-23_12-21-31", "im9", "im10", "V1", "v2", "v10",
    ]  # fmt: skip
