"""`psface demo` end to end at a small scale: every stage runs and the report holds the
keys INTERFACES.md promises."""

import json

from psface.cli import main


def test_demo_runs_every_stage_and_writes_the_report(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--people", "10", "--sessions", "3"]) == 0
    assert (out / "maps.h5").is_file()
    assert (out / "run" / "model.safetensors").is_file()
    report = json.loads((out / "report" / "report.json").read_text())
    verification, identification = report["verification"], report["identification"]
    assert 0.5 <= verification["auc"] <= 1.0 and 0.0 <= verification["eer"] <= 0.5
    assert {"1e-2", "1e-3"} <= set(verification["tar_at_far"])
    assert {"rank1", "rank5", "map"} <= set(identification)
    for plot in ("roc.png", "cmc.png", "scores.png"):
        assert (out / "report" / plot).stat().st_size > 1000
    printed = capsys.readouterr().out
    assert "| model | modality | AUC |" in printed and str(out / "report") in printed
