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
        (["--rig", "ring:2"], "ring:K"),
        (["--preview", "sheet.jpg"], ".png"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, capsys, options, words):
    code = main(["synth", str(tmp_path / "x"), "--quiet", *options])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.count("\n") == 0 and words in err and "Traceback" not in err


@pytest.mark.parametrize(
    "options, option",
    [
        (["--subjects", "0"], "--subjects"),
        (["--sessions", "0"], "--sessions"),
        (["--workers", "0"], "--workers"),
        (["--size", "16"], "--size"),
        (["--seed", "-1"], "--seed"),
        (["--specular", "nan"], "--specular"),
        (["--ambient", "-0.1"], "--ambient"),
        (["--response", "log"], "--response"),
        (["--response", "gamma:-2"], "--response"),
    ],
)
def test_out_of_range_options_are_refused_while_parsing(tmp_path, capsys, options, option):
    with pytest.raises(SystemExit) as stop:
        main(["synth", str(tmp_path / "x"), "--quiet", *options])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2
    assert err.count("\n") == 0 and f"argument {option}" in err
    assert not (tmp_path / "x").exists()


SMALL = ["--subjects", "1", "--sessions", "1", "--size", "32", "--workers", "1", "--quiet"]


def test_an_out_folder_with_files_is_refused_and_never_cleared(tmp_path, capsys):
    out = tmp_path / "data"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["synth", str(out), *SMALL]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "already holds files" in err and "--overwrite" in err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert main(["synth", str(out), *SMALL, "--overwrite"]) == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert len(list(out.glob("*/*/lights.json"))) == 1


def test_existing_sessions_and_sheets_are_not_replaced_silently(tmp_path, capsys):
    out, sheet = tmp_path / "data", tmp_path / "sheet.png"
    sheet.write_bytes(b"my picture")
    assert main(["synth", str(out), *SMALL]) == 0
    lights = next(out.glob("*/*/lights.json"))
    before = lights.read_bytes()
    lights.write_text(before.decode().replace('"attributes"', '"attributes_edited"'))
    edited = lights.read_bytes()
    capsys.readouterr()
    assert main(["synth", str(out), *SMALL, "--seed", "1"]) == 1
    assert "already holds files" in capsys.readouterr().err
    assert lights.read_bytes() == edited
    other = tmp_path / "other"
    assert main(["synth", str(other), *SMALL, "--preview", str(sheet)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "sheet.png" in err and "already exists" in err
    assert sheet.read_bytes() == b"my picture"


def test_the_response_and_realism_options_reach_the_files(tmp_path):
    import json

    import cv2
    import numpy as np

    def read_raw(path):
        return cv2.imread(str(path), cv2.IMREAD_UNCHANGED).astype(np.float64)

    out, ideal = tmp_path / "srgb", tmp_path / "ideal"
    assert main(["synth", str(out), *SMALL, "--response", "gamma:2.2", "--ambient", "0.3"]) == 0
    assert main(["synth", str(ideal), *SMALL, "--ideal"]) == 0
    spec = json.loads(next(out.glob("*/*/lights.json")).read_text())
    assert spec["response"] == "gamma:2.2"
    assert json.loads(next(ideal.glob("*/*/lights.json")).read_text())["response"] == "linear"
    mask = read_raw(next(ideal.glob("*/*/gt_mask.png"))) > 0
    lifted = read_raw(next(out.glob("*/*/l0.png")))[mask].mean()
    exact = read_raw(next(ideal.glob("*/*/l0.png")))[mask].mean()
    assert lifted > exact  # gamma encoding and room light both brighten the face
    assert np.isfinite(lifted)
