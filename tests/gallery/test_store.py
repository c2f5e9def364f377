"""The gallery file: round trip, refusals, removal, and safety under kill -9 and concurrency."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from gallery.store import (
    ModelMismatchError,
    enroll,
    gallery_lock,
    read_gallery,
    remove,
)
from gallery.templates import aggregate, l2_normalise
from psbase.errors import InputError
from psbase.lock import LockedError

ROOT = Path(__file__).resolve().parents[2]
FP = "a" * 64
MODEL = {"fingerprint": FP, "modality": "normal", "model": "runs/a"}


def batch(n_subjects: int, sessions: int, dim: int = 32, *, prefix: str = "s", seed: int = 0):
    """Random unit templates for subjects ``{prefix}000..`` with ``sessions`` each."""
    rng = np.random.default_rng(seed)
    n = n_subjects * sessions
    templates = l2_normalise(rng.normal(size=(n, dim)))
    quality = rng.uniform(0.1, 1.0, n).astype(np.float32)
    subject = np.repeat([f"{prefix}{i:03d}" for i in range(n_subjects)], sessions)
    session = np.tile([f"v{j}" for j in range(sessions)], n_subjects)
    return templates, quality, subject, session


def state(path: Path) -> dict[str, np.ndarray]:
    """Everything in a gallery but the enrolment times."""
    g = read_gallery(path)
    return {
        "templates": g.templates,
        "quality": g.quality,
        "subject": g.subject,
        "session": g.session,
        "identities": g.identities,
        "identity_templates": g.identity_templates,
    }


def same_state(a: dict, b: dict) -> bool:
    return all(a[k].shape == b[k].shape and np.array_equal(a[k], b[k]) for k in a)


def test_round_trip_and_aggregates(tmp_path):
    path = tmp_path / "g.h5"
    t, q, s, v = batch(5, 3)
    result = enroll(path, t, q, s, v, **MODEL)
    assert (result.added, result.templates, result.identities) == (15, 15, 5)
    g = read_gallery(path)
    assert (g.fingerprint, g.modality, g.model) == (FP, "normal", "runs/a")
    order = np.lexsort((v, s))
    np.testing.assert_allclose(g.templates, t[order], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(g.quality, q[order])
    np.testing.assert_array_equal(g.subject, s[order])
    np.testing.assert_array_equal(g.session, v[order])
    assert g.templates.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(g.identity_templates, axis=1), 1, rtol=1e-6)
    ids, agg, _ = aggregate(t, q, s)
    np.testing.assert_array_equal(g.identities, ids)
    np.testing.assert_allclose(g.identity_templates, agg, atol=1e-6)
    np.testing.assert_array_equal(g.identity_counts, [3] * 5)
    assert all(len(stamp) >= 19 for stamp in g.enrolled_at)


def test_aggregate_is_quality_weighted_mean():
    t = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], np.float32)
    ids, agg, counts = aggregate(t, np.array([1.0, 3.0, 0.0]), np.array(["b", "b", "a"]))
    np.testing.assert_array_equal(ids, ["a", "b"])
    np.testing.assert_allclose(agg, [[1, 0], [1 / np.sqrt(10), 3 / np.sqrt(10)]], rtol=1e-6)
    np.testing.assert_array_equal(counts, [1, 2])


def test_reenrolling_a_session_replaces_it(tmp_path):
    path = tmp_path / "g.h5"
    t, q, s, v = batch(3, 2)
    enroll(path, t, q, s, v, **MODEL)
    t2, q2, _, _ = batch(1, 1, seed=9)
    result = enroll(path, t2, q2, ["s001"], ["v1"], **MODEL)
    assert (result.added, result.replaced, result.templates) == (0, 1, 6)
    g = read_gallery(path)
    row = np.flatnonzero((g.subject == "s001") & (g.session == "v1"))
    np.testing.assert_allclose(g.templates[row], t2, rtol=1e-6, atol=1e-7)


def test_last_enrolled_is_each_persons_latest_session(tmp_path, monkeypatch):
    path = tmp_path / "g.h5"
    t, q, s, v = batch(3, 2)
    monkeypatch.setattr("gallery.store._now", lambda: "2026-01-02T00:00:00+00:00")
    enroll(path, t, q, s, v, **MODEL)
    monkeypatch.setattr("gallery.store._now", lambda: "2026-03-04T00:00:00+00:00")
    result = enroll(path, t[:1], q[:1], ["s002"], ["v0"], **MODEL)  # replaces s002/v0
    assert (result.added, result.replaced, result.new_identities) == (0, 1, 0)
    result = enroll(path, t[:1], q[:1], ["s009"], ["v0"], **MODEL)
    assert (result.added, result.replaced, result.new_identities) == (1, 0, 1)
    g = read_gallery(path)
    np.testing.assert_array_equal(g.identities, ["s000", "s001", "s002", "s009"])
    np.testing.assert_array_equal(
        g.last_enrolled, ["2026-01-02T00:00:00+00:00"] * 2 + ["2026-03-04T00:00:00+00:00"] * 2
    )


def test_model_mismatch_is_refused_naming_both(tmp_path):
    path = tmp_path / "g.h5"
    t, q, s, v = batch(2, 2)
    enroll(path, t, q, s, v, **MODEL)
    before = state(path)
    other = {"fingerprint": "b" * 64, "modality": "normal", "model": "runs/b"}
    with pytest.raises(ModelMismatchError, match=r"runs/a.*aaaaaaaaaaaa.*runs/b.*bbbbbbbbbbbb"):
        enroll(path, t, q, ["x", "x", "y", "y"], v, **other)
    with pytest.raises(ModelMismatchError, match=r"modality normal.*modality albedo"):
        enroll(path, t, q, ["x", "x", "y", "y"], v, **{**MODEL, "modality": "albedo"})
    with pytest.raises(ModelMismatchError):
        read_gallery(path).check_model("b" * 64, "normal", "runs/b")
    assert same_state(state(path), before)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "g.h5"
    enroll(path, *batch(1, 1), **MODEL)
    with h5py.File(path, "a") as handle:
        handle.attrs["schema_version"] = 99
    with pytest.raises(InputError, match="schema version 99 is newer"):
        read_gallery(path)


def test_missing_and_foreign_files_are_refused(tmp_path):
    with pytest.raises(InputError, match="no such gallery"):
        read_gallery(tmp_path / "none.h5")
    with h5py.File(tmp_path / "other.h5", "w") as handle:
        handle["x"] = 1
    with pytest.raises(InputError, match="not a psface gallery"):
        read_gallery(tmp_path / "other.h5")


def test_remove_really_removes_templates(tmp_path):
    path = tmp_path / "g.h5"
    t, q, s, v = batch(4, 2)
    enroll(path, t, q, s, v, **MODEL)
    stored = read_gallery(path)
    gone = stored.templates[stored.subject == "s002"]
    assert gone[0].tobytes() in path.read_bytes()
    assert remove(path, ["s002"]) == 2
    g = read_gallery(path)
    assert "s002" not in g.subject and "s002" not in g.identities
    assert len(g) == 6 and g.identities.size == 3
    raw = path.read_bytes()
    assert all(row.tobytes() not in raw for row in gone)
    with pytest.raises(InputError, match="no enrolled identity nobody"):
        remove(path, ["nobody"])


def test_lock_wait_then_timeout(tmp_path):
    path = tmp_path / "g.h5"
    messages: list[str] = []
    with gallery_lock(path):
        start = time.monotonic()
        with pytest.raises(LockedError, match="still locked by another process"):
            enroll(path, *batch(1, 1), **MODEL, timeout=0.3, on_wait=messages.append)
        assert time.monotonic() - start >= 0.3
    assert len(messages) == 1 and "waiting" in messages[0]
    enroll(path, *batch(1, 1), **MODEL)  # free again


def test_gallery_and_lock_are_owner_only(tmp_path):
    path = tmp_path / "g.h5"
    enroll(path, *batch(2, 1), **MODEL)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "g.h5.lock").stat().st_mode) == 0o600


def test_stale_temporaries_are_swept_under_the_lock_and_nothing_else(tmp_path):
    path = tmp_path / "g.h5"
    enroll(path, *batch(2, 1), **MODEL)
    stale = tmp_path / ".g.h5.k3x_9a0b.tmp"  # what a killed writer leaves
    stale.write_bytes(b"templates of a killed write")
    mine = [tmp_path / ".g.h5.notes.tmp", tmp_path / ".other.h5.k3x_9a0b.tmp"]
    for p in mine:
        p.write_text("not psface's")
    remove(path, ["s000"])
    assert not stale.exists()
    assert all(p.read_text() == "not psface's" for p in mine)


def test_a_folder_or_a_foreign_file_is_not_a_gallery(tmp_path):
    with pytest.raises(InputError, match="is a folder, not a gallery file"):
        enroll(tmp_path, *batch(1, 1), **MODEL)
    foreign = tmp_path / "notes.h5"
    foreign.write_bytes(b"plain text")
    with pytest.raises(InputError, match="not a psface gallery"):
        remove(foreign, ["s000"])
    assert foreign.read_bytes() == b"plain text"
    assert not (tmp_path / "notes.h5.lock").exists()


@pytest.mark.parametrize(
    "value, words",
    [
        (np.array([1, 2]), "attribute schema_version is not a single int; it holds an array"),
        ("1", "attribute schema_version is not a single int"),
        (np.int64(0), "schema version 0 is not one psface writes"),
    ],
)
def test_odd_header_attributes_are_one_line(tmp_path, value, words):
    path = tmp_path / "g.h5"
    enroll(path, *batch(1, 1), **MODEL)
    with h5py.File(path, "a") as handle:
        handle.attrs["schema_version"] = value
    with pytest.raises(InputError, match=re.escape(words)):
        read_gallery(path)


# ---------------------------------------------------------------------------------------
# Real processes: kill -9 mid-enrolment, and two enrolments at once
# ---------------------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from gallery.store import enroll
    path, data, pause = sys.argv[1], sys.argv[2], float(sys.argv[3])
    arrays = np.load(data, allow_pickle=False)
    hook = (lambda: time.sleep(pause)) if pause > 0 else None
    enroll(path, arrays["t"], arrays["q"], arrays["s"], arrays["v"],
           fingerprint="a" * 64, modality="normal", model="runs/a", _after_write=hook)
    print("done", flush=True)
    """
)


def child(path: Path, data: Path, pause: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-c", CHILD, str(path), str(data), str(pause)]
    return subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)


def save_batch(path: Path, t, q, s, v) -> Path:
    np.savez(path, t=t, q=q, s=s, v=v)
    return path


def wait_for_temp(gallery: Path, proc: subprocess.Popen, timeout: float = 20.0) -> bool:
    """Poll until the writer's temporary file exists; False if the writer ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if any(gallery.parent.glob(f".{gallery.name}.*.tmp")):
            return True
        time.sleep(0.001)
    return False


@pytest.mark.slow
def test_kill_during_enrolment_leaves_before_or_after(tmp_path):
    path = tmp_path / "g.h5"
    enroll(path, *batch(50, 2, dim=256), **MODEL)
    before = state(path)
    saved = tmp_path / "before.h5"
    saved.write_bytes(path.read_bytes())
    big = batch(6000, 2, dim=256, prefix="k", seed=1)  # 12000 x 256: a few tenths of a second
    data = save_batch(tmp_path / "big.npz", *big)
    reference = tmp_path / "reference.h5"
    reference.write_bytes(path.read_bytes())
    enroll(reference, *big, **MODEL)
    after = state(reference)

    outcomes = []
    rng = np.random.default_rng(0)
    # Kill points: as soon as the temporary file appears (mid-write), after it is complete
    # but before the rename, and at random moments of the whole run.
    plans = ["mid-write", "before-rename"] + [f"random:{x:.2f}" for x in rng.uniform(0.3, 2, 4)]
    for plan in plans:
        proc = child(path, data, pause=2.0 if plan == "before-rename" else 0.0)
        if plan.startswith("random"):
            time.sleep(float(plan.split(":")[1]))
        elif plan == "mid-write":
            assert wait_for_temp(path, proc)
        else:
            assert wait_for_temp(path, proc)
            time.sleep(0.8)  # the pause after the write: file complete, not yet renamed
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = state(path)
        is_before, is_after = same_state(now, before), same_state(now, after)
        assert is_before or is_after, f"torn gallery after kill at {plan}"
        outcomes.append("before" if is_before else "after")
        if is_after:  # start each kill from the before state again
            path.write_bytes(saved.read_bytes())
    assert outcomes[:2] == ["before", "before"]
    # The killed writers left no lock behind, and the next writer clears their temp files.
    enroll(path, *batch(1, 1, dim=256, prefix="z"), **MODEL, timeout=5)
    assert not list(tmp_path.glob(".g.h5.*.tmp"))


CONCURRENT = textwrap.dedent(
    """
    import sys
    import numpy as np
    from gallery.store import enroll
    path, prefix = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(abs(hash(prefix)) % 1000)
    for b in range(6):
        t = rng.normal(size=(20, 64)).astype(np.float32)
        s = [f"{prefix}{b}-{i}" for i in range(10) for _ in range(2)]
        v = ["v0", "v1"] * 10
        enroll(path, t, np.ones(20), s, v, fingerprint="a" * 64, modality="normal",
               on_wait=lambda m: print(m, flush=True))
    """
)


@pytest.mark.slow
def test_two_concurrent_enrolments_keep_both(tmp_path):
    path = tmp_path / "g.h5"
    enroll(path, *batch(3, 2, dim=64), **MODEL)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT, str(path), prefix],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for prefix in ("A", "B")
    ]
    # Meanwhile a reader keeps opening the gallery: every state it sees is whole.
    reads = 0
    while any(p.poll() is None for p in procs):
        g = read_gallery(path)
        assert len(g) % 20 == 6 and g.identities.size * 2 == len(g)
        reads += 1
    outputs = [p.communicate()[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    g = read_gallery(path)
    expected = {f"{p}{b}-{i}" for p in "AB" for b in range(6) for i in range(10)}
    assert expected <= set(g.identities)
    assert len(g) == 6 + 2 * 6 * 20 and reads > 0
