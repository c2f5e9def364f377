"""The ablation's plots: one figure per factor, one heat map per crossed pair, all readable
PNGs written owner-only."""

import json
import math
import stat

import pytest
from PIL import Image

from ablation.report import summarise, write_tables
from psbase.atomic import FILE_MODE
from psface.ablation_plots import write_ablation_plots


def make_records(repeats=2):
    """lights x solver x shadows, synthetic-style measures and recognition by modality."""
    records = []
    for lights in (3, 4, 8):
        for solver in ("plain", "shadow"):
            for shadows in (True, False):
                for repeat in range(repeats):
                    error = 12 / lights + (1 if solver == "plain" else 0) + 0.1 * repeat
                    measures = {
                        "normal_error_deg": error,
                        "depth_error": error / 50,
                        "unsolved": 0.0,
                        "rank1/albedo": 1 - error / 20,
                        "auc/albedo": 1 - error / 40,
                        "rank1/photo": 0.5,
                        "auc/photo": 0.7,
                        "rank1/model:demo": math.nan if lights == 3 else 0.8,
                        "albedo_error": math.nan,  # never measured: no panel
                    }
                    cell = {"lights": lights, "solver": solver, "shadows": shadows}
                    records.append({"cell": cell, "repeat": repeat, "measures": measures})
    return records


def check_png(path, *, min_side=300):
    assert stat.S_IMODE(path.stat().st_mode) == FILE_MODE
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
    assert min(width, height) >= min_side and max(width, height) <= 6000


def test_one_figure_per_factor_and_one_heat_map_per_pair(tmp_path):
    factors = ["lights", "solver", "shadows"]
    paths = write_ablation_plots(tmp_path, summarise(make_records(), factors), factors)
    assert [p.name for p in paths] == [
        "factor_lights.png",
        "factor_solver.png",
        "factor_shadows.png",
        "heatmap_lights_x_solver.png",
        "heatmap_lights_x_shadows.png",
        "heatmap_solver_x_shadows.png",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
    for path in paths:
        check_png(path)


def test_one_repeat_one_factor_no_recognition_and_no_heat_map(tmp_path):
    records = [
        {"cell": {"noise": n}, "repeat": 0, "measures": {"normal_error_deg": 3 + 100 * n}}
        for n in (0.0, 0.001, 0.002, 0.05)
    ]
    paths = write_ablation_plots(tmp_path, summarise(records, ["noise"]), ["noise"])
    assert [p.name for p in paths] == ["factor_noise.png"]
    check_png(paths[0], min_side=200)


@pytest.mark.parametrize("measure", ["rank1/photo", "relight_error"])
def test_heat_map_of_a_pair_without_normal_error_or_rank1_albedo(tmp_path, measure):
    """Real data may lack the headline (then the first plain measure leads) or rank-1
    from albedo (then the heat map has one panel); with neither, none is drawn."""
    records = [
        {"cell": {"spread": s, "lights": k}, "repeat": 0, "measures": {measure: s / 100 + k}}
        for s in (10.0, 30.0)
        for k in (4, 6)
    ]
    factors = ["spread", "lights"]
    paths = write_ablation_plots(tmp_path, summarise(records, factors), factors)
    names = [p.name for p in paths]
    assert names[:2] == ["factor_spread.png", "factor_lights.png"]
    if measure == "relight_error":
        assert names[2:] == ["heatmap_spread_x_lights.png"]
    else:
        assert names[2:] == []
    for path in paths:
        check_png(path, min_side=200)


def test_nothing_measured_writes_nothing(tmp_path):
    records = [
        {"cell": {"solver": s}, "repeat": 0, "measures": {"normal_error_deg": math.nan}}
        for s in ("plain", "robust")
    ]
    assert write_ablation_plots(tmp_path, summarise(records, ["solver"]), ["solver"]) == []
    assert list(tmp_path.iterdir()) == []


def test_the_summary_results_json_holds_plots_too(tmp_path):
    """Re-plotting from results.json: NaN there is null."""
    factors = ["lights", "solver"]
    write_tables(tmp_path, make_records(repeats=1), factors, {"data": "synth"})
    summary = json.loads((tmp_path / "results.json").read_text())["summary"]
    assert summary["factors"]["lights"]["mean"]["albedo_error"] == [None] * 3
    plots = tmp_path / "plots"
    plots.mkdir()
    paths = write_ablation_plots(plots, summary, factors)
    assert [p.name for p in paths] == [
        "factor_lights.png",
        "factor_solver.png",
        "heatmap_lights_x_solver.png",
    ]
    for path in paths:
        check_png(path)


def test_a_factor_crossed_with_a_solver_draws_one_line_per_solver():
    """The lights figure's photometric-stereo panels split by solver, each line the cell
    means over the other factors and repeats: 12 / lights (+1 for plain) + 0.05."""
    from psface.ablation_plots import _lines_by_category

    summary = summarise(make_records(), ["lights", "solver"])
    lines = _lines_by_category(summary, "lights")
    assert list(lines) == ["solver = plain", "solver = shadow"]
    for label, extra in (("solver = plain", 1.0), ("solver = shadow", 0.0)):
        expected = [12 / k + extra + 0.05 for k in (3, 4, 8)]
        assert lines[label]["normal_error_deg"] == pytest.approx(expected)
    assert _lines_by_category(summarise(make_records(), ["lights"]), "lights") is None
