"""Every bad input gets one line naming the file and the problem, and a non-zero exit."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from psface.cli import main
from tests.fixtures import write_canonical_sphere, write_photoface_sphere


def edit_lights(folder, change):
    path = folder / "lights.json"
    spec = json.loads(path.read_text())
    change(spec)
    path.write_text(json.dumps(spec))


def two_lights(folder):
    edit_lights(folder, lambda s: s.update(lights=s["lights"][:2]))
    for name in ("l2.png", "l3.png"):
        (folder / name).unlink()


def coplanar(folder):
    def flatten(spec):
        in_one_plane = [[1, 0, 0.2], [0, 1, 0.1], [1, 1, 0.3], [2, 1, 0.5]]
        for light, d in zip(spec["lights"], in_one_plane, strict=True):
            light["direction"] = d

    edit_lights(folder, flatten)


def other_size(folder):
    cv2.imwrite(str(folder / "l2.png"), np.full((30, 40), 128, np.uint8))


def missing_image(folder):
    (folder / "l1.png").unlink()


def light_without_image(folder):
    edit_lights(folder, lambda s: s["lights"][1].pop("image"))


def image_without_light(folder):
    cv2.imwrite(str(folder / "extra.png"), np.full((48, 48), 128, np.uint8))


def unreadable(folder):
    (folder / "l3.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")


def nan_capture(folder):
    image = np.full((48, 48), 0.5, np.float32)
    image[10, 10] = np.nan
    cv2.imwrite(str(folder / "l0.tif"), image)
    (folder / "l0.png").unlink()
    edit_lights(folder, lambda s: s["lights"][0].update(image="l0.tif"))


def all_black(folder):
    cv2.imwrite(str(folder / "l2.png"), np.zeros((48, 48), np.uint8))


def broken_json(folder):
    (folder / "lights.json").write_text('{"lights": [')


def escaping_path(folder):
    edit_lights(folder, lambda s: s["lights"][0].update(image="../../../etc/passwd"))


def nan_direction(folder):
    edit_lights(folder, lambda s: s["lights"][1]["direction"].__setitem__(0, float("nan")))


def truncated_jpeg(folder):
    cv2.imwrite(str(folder / "l3.jpg"), cv2.imread(str(folder / "l3.png")))
    data = (folder / "l3.jpg").read_bytes()
    (folder / "l3.jpg").write_bytes(data[: len(data) // 2])
    (folder / "l3.png").unlink()
    edit_lights(folder, lambda s: s["lights"][3].update(image="l3.jpg"))


CASES = [
    (two_lights, "lights.json", "needs at least 3"),
    (coplanar, "lights.json", "coplanar"),
    (other_size, "l2.png", "differs from l0.png"),
    (missing_image, "l1.png", "file is missing"),
    (light_without_image, "lights.json", "light 1 has no image"),
    (image_without_light, "extra.png", "image has no light"),
    (unreadable, "l3.png", "cannot be read as an image"),
    (nan_capture, "l0.tif", "NaN"),
    (all_black, "l2.png", "all black"),
    (broken_json, "lights.json", "not valid JSON"),
    (escaping_path, "lights.json", "outside the session folder"),
    (nan_direction, "lights.json", "direction must be three finite numbers"),
    (truncated_jpeg, "l3.jpg", "(the decoder gave up): the file is truncated"),
]


@pytest.mark.parametrize(("damage", "named", "problem"), CASES, ids=[c[0].__name__ for c in CASES])
def test_bad_session_gets_one_line_naming_file_and_problem(tmp_path, capfd, damage, named, problem):
    folder = write_canonical_sphere(tmp_path / "s01" / "v1")
    damage(folder)
    capfd.readouterr()
    code = main(["reconstruct", str(folder), "-o", str(tmp_path / "out")])
    err = capfd.readouterr().err.strip()  # file descriptor 2: decoders' own output too
    assert code != 0
    assert len(err.splitlines()) == 1, err
    assert named in err and problem in err, err
    assert str(folder) in err
    assert not (tmp_path / "out" / "summary.json").exists()


def test_photoface_session_with_a_missing_capture_is_refused(tmp_path, capsys):
    folder = write_photoface_sphere(tmp_path / "1001" / "s1")
    (folder / "im4.bmp").unlink()
    assert main(["reconstruct", str(folder), "-o", str(tmp_path / "out")]) != 0
    err = capsys.readouterr().err
    assert "3 .bmp captures but 4 lights" in err and str(folder) in err


def test_missing_folder_is_one_line_from_a_real_process(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "psface",
            "reconstruct",
            str(tmp_path / "nope"),
            "-o",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"psface reconstruct: error: {tmp_path / 'nope'}: no such session folder"
    ]
    assert "Traceback" not in done.stderr


def test_batch_finishes_good_sessions_and_lists_the_broken_one(tmp_path, capsys):
    root = tmp_path / "root"
    for subject in ("a", "b", "c"):
        write_canonical_sphere(root / subject / "v1", subject=subject)
    all_black(root / "b" / "v1")
    out = tmp_path / "out"
    assert main(["reconstruct", str(root), "-o", str(out)]) == 0
    assert (out / "a" / "v1" / "summary.json").is_file()
    assert (out / "c" / "v1" / "summary.json").is_file()
    assert not (out / "b").exists()
    captured = capsys.readouterr()
    assert "reconstructed 2 of 3 sessions" in captured.out
    assert "l2.png is all black" in captured.err and str(root / "b" / "v1") in captured.err
    assert main(["reconstruct", str(root), "-o", str(out), "--strict", "--overwrite"]) == 1
    assert "reconstructed 2 of 3 sessions" in capsys.readouterr().out
