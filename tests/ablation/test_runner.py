"""The ablation runner: grid order, resuming, refusing a foreign folder, failures, workers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from ablation.factors import Conditions, grid, parse_factor
from ablation.runner import run_ablation
from psbase.errors import ConfigError, InputError


@dataclass(frozen=True)
class Arithmetic:
    """A data source whose measures are known functions of the conditions: the runner's
    bookkeeping can be checked exactly. ``log`` (a file) counts evaluations; while the
    file ``log + ".fail"`` exists, the cells of six lights raise (a flaky renderer)."""

    log: str
    kind: ClassVar[str] = "synth"

    def evaluate(self, conditions: Conditions, repeat: int, models) -> dict[str, float]:
        with open(self.log, "a", encoding="utf-8") as file:
            file.write(f"{conditions.lights},{conditions.solver},{repeat}\n")
        if conditions.lights == 6 and Path(self.log + ".fail").exists():
            raise RuntimeError("the renderer fell over")
        error = 10.0 / conditions.lights + (1.0 if conditions.solver == "plain" else 0.0)
        return {"normal_error_deg": error + 0.1 * repeat, "rank1/photo": 0.5}


FACTORS = [("lights", [3, 4, 6]), ("solver", ["plain", "shadow"])]


def without_times(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def evaluations(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def test_every_cell_and_repeat_is_measured_in_grid_order(tmp_path):
    log = tmp_path / "log.txt"
    run = run_ablation(Arithmetic(str(log)), FACTORS, tmp_path / "out", repeats=2)
    assert run.computed == 12 and run.resumed == 0 and not run.failed
    cells = [(r["cell"]["lights"], r["cell"]["solver"], r["repeat"]) for r in run.records]
    assert cells == [(k, s, r) for k in (3, 4, 6) for s in ("plain", "shadow") for r in (0, 1)]
    first = run.records[0]["measures"]["normal_error_deg"]
    assert first == pytest.approx(10 / 3 + 1.0)
    assert {p.name for p in run.files} >= {"results.csv", "results.json", "report.md"}
    assert len(list((tmp_path / "out" / "cells").glob("*.json"))) == 12


def test_a_rerun_resumes_and_recomputes_nothing_finished(tmp_path):
    log = tmp_path / "log.txt"
    flaky = Path(str(log) + ".fail")
    flaky.touch()
    first = run_ablation(Arithmetic(str(log)), FACTORS, tmp_path / "out", repeats=2)
    assert first.computed == 8 and len(first.failed) == 4  # the lights=6 cells failed
    assert all("the renderer fell over" in reason for _, reason in first.failed)
    flaky.unlink()
    again = run_ablation(Arithmetic(str(log)), FACTORS, tmp_path / "out", repeats=2)
    assert again.resumed == 8 and again.computed == 4 and not again.failed
    assert evaluations(log)[12:] == [f"6,{s},{r}" for s in ("plain", "shadow") for r in (0, 1)]
    fresh = run_ablation(Arithmetic(str(tmp_path / "l2")), FACTORS, tmp_path / "o2", repeats=2)
    assert without_times(again.records) == without_times(fresh.records)


def test_a_folder_of_other_settings_or_other_files_is_refused(tmp_path):
    log = str(tmp_path / "log.txt")
    run_ablation(Arithmetic(log), FACTORS, tmp_path / "out")
    with pytest.raises(ConfigError, match="other settings"):
        run_ablation(Arithmetic(log), FACTORS, tmp_path / "out", repeats=3)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("mine", encoding="utf-8")
    with pytest.raises(InputError, match="did not make"):
        run_ablation(Arithmetic(log), FACTORS, foreign)
    assert (foreign / "thesis.tex").read_text(encoding="utf-8") == "mine"


def test_worker_processes_give_the_records_of_a_local_run(tmp_path):
    local = run_ablation(Arithmetic(str(tmp_path / "a")), FACTORS, tmp_path / "one")
    pooled = run_ablation(Arithmetic(str(tmp_path / "b")), FACTORS, tmp_path / "two", workers=2)
    assert without_times(pooled.records) == without_times(local.records)
    assert sorted(evaluations(tmp_path / "b")) == sorted(evaluations(tmp_path / "a"))


def test_files_are_owner_only_and_the_tidy_csv_has_a_row_per_measure(tmp_path):
    run = run_ablation(Arithmetic(str(tmp_path / "log")), FACTORS, tmp_path / "out")
    for path in [*run.files, *(tmp_path / "out" / "cells").glob("*.json")]:
        assert path.stat().st_mode & 0o077 == 0, path
    rows = (tmp_path / "out" / "results.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 1 + 6 * 2  # header, then 6 cells x 1 repeat x 2 measures
    held = json.loads((tmp_path / "out" / "ablation.json").read_text(encoding="utf-8"))
    assert held["factors"] == [["lights", [3, 4, 6]], ["solver", ["plain", "shadow"]]]


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ("lights", "synth", "NAME=V1,V2"),
        ("colour=red", "synth", "unknown factor"),
        ("lights=2,4", "synth", "between 3 and 64"),
        ("solver=magic", "synth", "one of plain, shadow, robust"),
        ("ambient=0,0.2", "real", "synthetic data only"),
        ("lights=4,4", "synth", "given twice"),
    ],
)
def test_bad_factors_say_what_to_write(text, kind, message):
    with pytest.raises(ConfigError, match=message):
        parse_factor(text, kind)


def test_factors_are_crossed_and_cells_override_only_their_factors():
    cells = grid([parse_factor("lights=3,8", "synth"), parse_factor("shadows=on,off", "synth")])
    assert cells == [
        {"lights": 3, "shadows": True},
        {"lights": 3, "shadows": False},
        {"lights": 8, "shadows": True},
        {"lights": 8, "shadows": False},
    ]
    conditions = Conditions().with_cell(cells[1])
    assert (conditions.lights, conditions.shadows, conditions.solver) == (3, False, "shadow")
