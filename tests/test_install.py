"""A real, non-editable install works from any folder.

The project (a copy of its packaging files and packages, so the build touches nothing
here) is ``pip install``-ed into a fresh virtual environment that reuses this
environment's pinned dependencies through a plain path entry (none is installed again,
and the editable install's pointer to the source tree is not read); pip builds the
wheel with the build tools of the configured package index, as ``make`` installs. Then, from
another folder, the commands a user runs first. Package data (rigs, statistics,
calibrations) must travel with the package, and no module may find files through the
source tree's layout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: What a source distribution holds: the packaging files and the packages.
SOURCES = ("setup.cfg", "pyproject.toml", "README.md")
PACKAGES = ("psbase", "photostereo", "synthetic_faces", "gallery", "recognition", "psface")

pytestmark = pytest.mark.slow


def run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run ``command``; its stdout, or a failure showing both streams."""
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """(bin folder, environment variables) of a fresh environment with psface installed."""
    home = tmp_path_factory.mktemp("install")
    source = home / "source"
    source.mkdir()
    for name in SOURCES:
        shutil.copy2(ROOT / name, source / name)
    for package in PACKAGES:
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / package, source / package, ignore=ignore)
    env_dir = home / "env"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip())
    (site / "reuse-pinned-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    install = [python, "-m", "pip", "install", "--no-deps", str(source)]
    run(install, home, env)
    shutil.rmtree(source)  # the installed copy must stand alone
    return env_dir / "bin", env


def test_the_installed_package_is_not_the_source_tree(installed, tmp_path):
    bin_dir, env = installed
    code = "import photostereo, synthetic_faces, psface; print(psface.__file__)"
    where = run([str(bin_dir / "python"), "-c", code], tmp_path, env)
    assert str(bin_dir.parent) in where and str(ROOT) not in where


def test_synth_reconstruct_and_demo_help_run_from_another_folder(installed, tmp_path):
    bin_dir, env = installed
    psface = str(bin_dir / "psface")
    run([psface, "synth", "people", "--subjects", "1", "--sessions", "1"], tmp_path, env)
    sessions = sorted(p.parent for p in (tmp_path / "people").rglob("lights.json"))
    assert sessions
    run([psface, "reconstruct", str(sessions[0]), "-o", "maps"], tmp_path, env)
    assert (tmp_path / "maps" / "normal.npy").is_file()
    assert "demo" in run([psface, "demo", "--help"], tmp_path, env)
    code = "from photostereo.io.yaleb import _intensity_table; print(len(_intensity_table()))"
    assert int(run([str(bin_dir / "python"), "-c", code], tmp_path, env)) > 20
