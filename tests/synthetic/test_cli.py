"""``psface synth``: writes sessions and a contact sheet; bad options give one line and exit 1."""

from __future__ import annotations

import pytest

from psface.cli import main


def test_synth_writes_sessions_and_a_preview(tmp_path, capsys):
    out, sheet = tmp_path / "data", tmp_path / "sheet.png"
    code = main(
        [
            "synth",
            str(out),
            "--subjects",
            "2",
            "--sessions",
            "2",
            "--size",
            "64",
            "--workers",
            "1",
            "--quiet",
            "--preview",
            str(sheet),
        ]
    )
    assert code == 0
    assert len(list(out.glob("*/*/lights.json"))) == 4
    assert sheet.stat().st_size > 1000
    assert "wrote 4 sessions of 2 people" in capsys.readouterr().out


@pytest.mark.parametrize(
    "options, words",
    [
        (["--subjects", "0"], "subjects"),
        (["--rig", "ring:2"], "ring:K"),
        (["--workers", "0"], "workers"),
        (["--preview", "sheet.jpg"], ".png"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, capsys, options, words):
    code = main(["synth", str(tmp_path / "x"), "--quiet", *options])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.count("\n") == 0 and words in err and "Traceback" not in err
