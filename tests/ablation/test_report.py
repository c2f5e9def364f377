"""The ablation's tables against figures worked out by hand on a small made-up grid."""

import csv
import json
import math
import stat

import numpy as np
import pytest

from ablation.report import (
    lower_is_better,
    markdown,
    measure_order,
    summarise,
    write_tables,
)
from psbase.atomic import FILE_MODE

NAN = math.nan
#: normal_error_deg per (lights, solver) cell and repeat; one value not measured.
ERRORS = {
    (6, "plain"): (4.0, 6.0),
    (6, "shadow"): (2.0, 2.0),
    (3, "plain"): (10.0, 12.0),
    (3, "shadow"): (8.0, NAN),
}
RANK1_ALBEDO = {(6, "plain"): 0.9, (6, "shadow"): 0.8, (3, "plain"): 0.7, (3, "shadow"): 0.6}
MEASURES = ["normal_error_deg", "unsolved", "rank1/albedo", "rank1/photo", "auc/photo"]


def make_records():
    """Two factors of two values (lights given as 6 then 3), two repeats, grid order."""
    records = []
    for lights in (6, 3):
        for solver in ("plain", "shadow"):
            for repeat in (0, 1):
                measures = {
                    "rank1/photo": 0.5 if lights == 6 else 0.4,
                    "auc/photo": NAN,
                    "normal_error_deg": ERRORS[lights, solver][repeat],
                    "unsolved": 0.0,
                    "rank1/albedo": RANK1_ALBEDO[lights, solver],
                }
                records.append(
                    {
                        "cell": {"lights": lights, "solver": solver},
                        "repeat": repeat,
                        "measures": measures,
                        "seconds": 1.5,
                    }
                )
    return records


META = {"data": "synth:4x3", "repeats": 2, "date": "2025-01-02"}


def test_lower_is_better_for_errors_unsolved_and_spread_only():
    for name in ("normal_error_deg", "depth_error", "relight_error", "unsolved", "albedo_spread"):
        assert lower_is_better(name)
    for name in ("rank1/albedo", "auc/photo", "auc/model:demo", "tar@far=1e-2/model:demo"):
        assert not lower_is_better(name)


def test_recognition_columns_sit_beside_the_photographs():
    given = ["rank1/photo", "auc/photo", "rank1/albedo", "normal_error_deg", "unsolved"]
    given += ["rank1/model:x", "auc/albedo", "rank1/normal", "relight_error"]
    assert measure_order(given) == [
        "normal_error_deg",
        "unsolved",
        "relight_error",
        "rank1/albedo",
        "rank1/normal",
        "rank1/model:x",
        "rank1/photo",
        "auc/albedo",
        "auc/photo",
    ]


def test_summary_means_and_stds_match_the_hand_computed_ones():
    s = summarise(make_records(), ["lights", "solver"])
    assert s["measures"] == MEASURES
    assert s["repeats"] == 2
    lights, solver = s["factors"]["lights"], s["factors"]["solver"]
    assert lights["values"] == [6, 3]  # the order given, not sorted
    assert solver["values"] == ["plain", "shadow"]
    # lights=6: 4, 6, 2, 2 -> 3.5; per-repeat means 3 and 4 -> sample std sqrt(0.5)
    # lights=3: 10, 12, 8 (one NaN) -> 10; per-repeat means 9 and 12 -> sqrt(4.5)
    assert lights["mean"]["normal_error_deg"] == pytest.approx([3.5, 10.0])
    assert lights["std"]["normal_error_deg"] == pytest.approx([math.sqrt(0.5), math.sqrt(4.5)])
    # plain: 4, 6, 10, 12 -> 8 (repeat means 7, 9); shadow: 2, 2, 8 -> 4 (repeat means 5, 2)
    assert solver["mean"]["normal_error_deg"] == pytest.approx([8.0, 4.0])
    assert solver["std"]["normal_error_deg"] == pytest.approx([math.sqrt(2), math.sqrt(4.5)])
    assert lights["mean"]["rank1/albedo"] == pytest.approx([0.85, 0.65])
    assert lights["std"]["rank1/albedo"] == pytest.approx([0.0, 0.0])
    assert all(math.isnan(v) for v in lights["mean"]["auc/photo"] + lights["std"]["auc/photo"])
    # over every record: 4+6+2+2+10+12+8 over 7
    assert s["overall"]["mean"]["normal_error_deg"] == pytest.approx(44 / 7)


def test_pair_matrices_hold_each_combinations_mean():
    s = summarise(make_records(), ["lights", "solver"])
    (pair,) = s["pairs"]
    assert (pair["rows"], pair["columns"]) == ("lights", "solver")
    assert pair["row_values"] == [6, 3] and pair["column_values"] == ["plain", "shadow"]
    assert pair["mean"]["normal_error_deg"] == [[5.0, 2.0], [11.0, 8.0]]
    assert np.ravel(pair["mean"]["rank1/albedo"]) == pytest.approx([0.9, 0.8, 0.7, 0.6])
    three = summarise(
        [{"cell": {"a": 1, "b": 2, "c": 3}, "repeat": 0, "measures": {"x": 1.0}}], ["a", "b", "c"]
    )
    assert [(p["rows"], p["columns"]) for p in three["pairs"]] == [
        ("a", "b"),
        ("a", "c"),
        ("b", "c"),
    ]


def test_one_repeat_has_zero_std_and_a_missing_measure_counts_as_nan():
    records = [
        {"cell": {"solver": "plain"}, "repeat": 0, "measures": {"normal_error_deg": 3.0}},
        {"cell": {"solver": "plain"}, "repeat": 1, "measures": {"normal_error_deg": NAN}},
        {"cell": {"solver": "robust"}, "repeat": 0, "measures": {"unsolved": 0.25}},
    ]
    s = summarise(records, ["solver"])["factors"]["solver"]
    assert s["mean"]["normal_error_deg"][0] == 3.0 and s["std"]["normal_error_deg"][0] == 0.0
    assert math.isnan(s["mean"]["normal_error_deg"][1]) and math.isnan(
        s["std"]["normal_error_deg"][1]
    )
    assert math.isnan(s["mean"]["unsolved"][0]) and s["mean"]["unsolved"][1] == 0.25


def test_write_tables_writes_three_owner_only_files(tmp_path):
    paths = write_tables(tmp_path, make_records(), ["lights", "solver"], META)
    assert [p.name for p in paths] == ["results.csv", "results.json", "report.md"]
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) == FILE_MODE
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)


def test_csv_is_tidy_one_row_per_cell_repeat_and_measure(tmp_path):
    write_tables(tmp_path, make_records(), ["lights", "solver"], META)
    with (tmp_path / "results.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["lights", "solver", "repeat", "measure", "value"]
    assert len(rows) == 4 * 2 * len(MEASURES)  # cells x repeats x measures
    assert rows[0] == {
        "lights": "6",
        "solver": "plain",
        "repeat": "0",
        "measure": "normal_error_deg",
        "value": "4.0",
    }
    nan_rows = [r for r in rows if r["value"] == ""]
    assert len(nan_rows) == 8 + 1  # auc/photo everywhere, and one normal error
    missing = [r for r in nan_rows if r["measure"] == "normal_error_deg"]
    assert missing == [
        {
            "lights": "3",
            "solver": "shadow",
            "repeat": "1",
            "measure": "normal_error_deg",
            "value": "",
        }
    ]


def test_json_has_meta_records_and_summary_with_nan_as_null(tmp_path):
    write_tables(tmp_path, make_records(), ["lights", "solver"], META)

    def refuse(name):
        raise AssertionError(f"{name} in results.json")

    data = json.loads((tmp_path / "results.json").read_text(), parse_constant=refuse)
    assert data["meta"] == META and data["factors"] == ["lights", "solver"]
    assert len(data["records"]) == 8
    assert data["records"][-1]["measures"]["normal_error_deg"] is None
    assert data["records"][0]["seconds"] == 1.5
    summary = data["summary"]
    assert summary["factors"]["lights"]["mean"]["normal_error_deg"] == pytest.approx([3.5, 10.0])
    assert summary["factors"]["lights"]["mean"]["auc/photo"] == [None, None]
    assert summary["pairs"][0]["mean"]["normal_error_deg"] == [[5.0, 2.0], [11.0, 8.0]]


def test_markdown_tables_mark_the_best_and_say_which_setting_won(tmp_path):
    write_tables(tmp_path, make_records(), ["lights", "solver"], META)
    text = (tmp_path / "report.md").read_text()
    assert text.startswith("# ")
    for line in ("- data: synth:4x3", "- repeats: 2", "- date: 2025-01-02"):
        assert line in text
    head = "| lights | normal_error_deg | unsolved | rank1/albedo | rank1/photo | auc/photo |"
    assert head in text
    # best in bold; unsolved is the same everywhere, so nothing to mark; auc/photo unmeasured
    assert (
        "| 6 | **3.50 ± 0.71** | 0.000 ± 0.000 | **0.850 ± 0.000** | **0.500 ± 0.000** | n/a |"
        in text
    )
    assert "| 3 | 10.00 ± 2.12 | 0.000 ± 0.000 | 0.650 ± 0.000 | 0.400 ± 0.000 | n/a |" in text
    assert "| plain | 8.00 ± 1.41 |" in text and "| shadow | **4.00 ± 2.12** |" in text
    assert "Lowest normal error (degrees): lights = 6 (3.50)." in text
    assert "Best rank-1: albedo at lights = 6 (0.850), against 0.500 for the photograph" in text
    assert "Lowest normal error (degrees): solver = shadow (4.00)." in text
    # the crossed pair as a matrix: rows lights, columns solver
    assert "## lights × solver: normal error (degrees)" in text
    assert "| lights \\ solver | plain | shadow |" in text
    assert "| 6 | 5.00 | **2.00** |" in text and "| 3 | 11.00 | 8.00 |" in text
    assert "Best: lights = 6, solver = shadow (2.00)." in text
    assert "## lights × solver: rank-1 from albedo (fraction)" in text
    assert "| 6 | **0.900** | 0.800 |" in text


def test_markdown_with_one_repeat_and_switches_shows_no_spread():
    records = [
        {
            "cell": {"shadows": s},
            "repeat": 0,
            "measures": {"normal_error_deg": e, "rank1/photo": 0.5},
        }
        for s, e in ((True, 7.25), (False, 5.0))
    ]
    text = markdown(summarise(records, ["shadows"]), ["shadows"], {"data": "x", "repeats": 1})
    assert "±" not in text
    assert "| on | 7.25 | 0.500 |" in text and "| off | **5.00** | 0.500 |" in text
    assert "Lowest normal error (degrees): shadows = off (5.00)." in text
    assert "Best rank-1 (photograph only)" in text
    assert "×" not in text  # one factor: no pair


def test_no_factors_gives_one_row_of_defaults(tmp_path):
    records = [{"cell": {}, "repeat": r, "measures": {"normal_error_deg": 2.0 + r}} for r in (0, 1)]
    paths = write_tables(tmp_path, records, [], {"data": "synth"})
    text = paths[2].read_text()
    assert "| defaults | 2.50 ± 0.71 |" in text
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert rows == ["repeat,measure,value", "0,normal_error_deg,2.0", "1,normal_error_deg,3.0"]
