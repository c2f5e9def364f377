"""``psface ablate`` as users run it: a real process killed and resumed, one-line errors,
help that teaches, and a Dask cluster."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ablation.factors import parse_factor
from ablation.runner import run_ablation
from psface.cli import main
from tests.ablation.test_runner import FACTORS, Arithmetic, without_times

GRID = ["synth:2x2", "--factor", "lights=3,4,5", "--factor", "size=32,40", "--repeats", "2"]


def ablate(out: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "psface", "ablate", *GRID, "-o", str(out), *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def cell_files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "cells").glob("*.json"))}


@pytest.mark.slow
def test_a_killed_ablation_resumes_without_recomputing_finished_tasks(tmp_path):
    out = tmp_path / "killed"
    child = ablate(out)
    deadline = time.monotonic() + 240
    while len(cell_files(out)) < 3 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.communicate()
    assert child.returncode == -signal.SIGKILL
    before = cell_files(out)
    assert 3 <= len(before) < 12, "the kill came after the ablation had finished"
    again = ablate(out)
    stdout, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stderr
    assert f"{12 - len(before)} tasks computed, {len(before)} resumed, 0 failed" in stdout
    after = cell_files(out)
    assert len(after) == 12
    assert {name: after[name] for name in before} == before  # finished tasks untouched
    fresh = ablate(tmp_path / "fresh")
    fresh.communicate(timeout=600)
    assert fresh.returncode == 0
    results = [json.loads((d / "results.json").read_text()) for d in (out, tmp_path / "fresh")]
    assert without_times(results[0]["records"]) == without_times(results[1]["records"])
    assert not list(out.glob(".*.tmp")) and not list((out / "cells").glob(".*.tmp"))


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["synth:2x2", "--factor", "lights=3,two"], "--factor lights=two: "),
        (["synth:2", "--factor", "lights=3"], "write synth:PEOPLExSESSIONS"),
        (["synth:2x2", "--factor", "glare=1"], "unknown factor"),
        (["/nowhere/yaleb", "--factor", "lights=3"], "/nowhere/yaleb: no such folder"),
        (["synth:2x2", "--factor", "lights=3", "--model", "/nowhere/run"], "/nowhere/run"),
    ],
)
def test_bad_arguments_are_one_line_that_says_what_to_do(tmp_path, capsys, argv, says):
    code = main(["ablate", *argv, "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1, err
    assert says in err and err.startswith("psface ablate: error: "), err
    assert not (tmp_path / "out").exists()


def test_a_small_ablation_prints_its_counts_and_writes_report_and_plots(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["ablate", "synth:2x2", "--factor", "size=32,40", "-o", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "2 tasks computed, 0 resumed, 0 failed" in printed
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| 32 |" in report and "| 40 |" in report
    assert (out / "factor_size.png").stat().st_size > 10_000


def test_help_teaches_every_factor_with_examples():
    done = subprocess.run(
        [sys.executable, "-m", "psface", "ablate", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for factor in ("lights", "spread", "calib_deg", "intensity_err", "noise", "ambient"):
        assert f"\n  {factor} " in done.stdout
    assert "examples:" in done.stdout and "resumes" in done.stdout


def test_a_dask_cluster_gives_the_records_of_a_local_run(tmp_path):
    distributed = pytest.importorskip("distributed")
    local = run_ablation(Arithmetic(str(tmp_path / "a")), FACTORS, tmp_path / "one")
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster:
        remote = run_ablation(
            Arithmetic(str(tmp_path / "b")),
            FACTORS,
            tmp_path / "two",
            dask_address=cluster.scheduler_address,
        )
    assert without_times(remote.records) == without_times(local.records)
    assert parse_factor("lights=3,4,6", "synth") == FACTORS[0]
