"""`psface demo -o DIR` never deletes what a demo did not make (issue 9: it used to
``rmtree`` DIR before checking anything, then fail on its arguments)."""

import pytest

from psface.cli import main
from psface.commands.demo import MARKER, OUTPUTS, prepare_demo_folder


def _user_folder(tmp_path):
    folder = tmp_path / "mine"
    (folder / "thesis").mkdir(parents=True)
    (folder / "thesis" / "chapter1.tex").write_text("precious")
    (folder / "maps.h5").write_text("not a demo's")
    return folder


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


@pytest.mark.parametrize("extra", [[], ["--overwrite"]])
def test_a_folder_of_user_files_is_refused_and_left_whole(tmp_path, capsys, extra):
    folder = _user_folder(tmp_path)
    assert main(["demo", "-o", str(folder), *extra]) == 1
    line = _one_line(capsys.readouterr().err)
    assert str(folder) in line and "no psface demo made" in line
    assert (folder / "thesis" / "chapter1.tex").read_text() == "precious"
    assert (folder / "maps.h5").read_text() == "not a demo's"
    assert not (folder / MARKER).exists()


def test_bad_arguments_touch_nothing(tmp_path, capsys):
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / MARKER).write_text("")
    (folder / "maps.h5").write_text("earlier")
    with pytest.raises(SystemExit) as stop:
        main(["demo", "-o", str(folder), "--overwrite", "--held-out", "1.5"])
    assert stop.value.code == 2
    line = _one_line(capsys.readouterr().err)
    assert "--held-out" in line
    assert (folder / "maps.h5").read_text() == "earlier"


def test_an_earlier_demo_needs_overwrite(tmp_path, capsys):
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / MARKER).write_text("")
    (folder / "maps.h5").write_text("earlier")
    assert main(["demo", "-o", str(folder)]) == 1
    assert "--overwrite" in _one_line(capsys.readouterr().err)
    assert (folder / "maps.h5").read_text() == "earlier"


def test_overwrite_clears_only_the_demos_own_outputs(tmp_path):
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / MARKER).write_text("")
    for name in OUTPUTS:
        (folder / name).mkdir()
        (folder / name / "old").write_text("x")
    (folder / "notes.txt").write_text("kept")
    assert prepare_demo_folder(folder, overwrite=True) == folder
    assert sorted(p.name for p in folder.iterdir()) == sorted([MARKER, "notes.txt"])
    assert (folder / "notes.txt").read_text() == "kept"


def test_a_new_folder_is_created_with_the_marker(tmp_path):
    folder = prepare_demo_folder(tmp_path / "a" / "demo", overwrite=False)
    assert (folder / MARKER).is_file()
    assert folder.stat().st_mode & 0o077 == 0
    assert (folder / MARKER).stat().st_mode & 0o077 == 0
