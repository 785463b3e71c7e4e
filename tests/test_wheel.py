"""A non-editable install, outside the checkout: an editable install would hide a folder the wheel forgot."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True)
    return next(out.glob("releng-*.whl"))


def test_wheel_holds_only_releng_with_the_scripts_and_schemas(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"releng"}
    for folder in ("versioning", "changelog"):
        assert f"releng/_scripts/{folder}/" in {n.rsplit("/", 1)[0] + "/" for n in names}, folder
    assert "releng/schemas/version.schema.json" in names
    assert "releng/_scripts/packaging/package_contents.toml" in names  # the generic contents manifest
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


@pytest.mark.slow
def test_console_scripts_work_from_a_fresh_venv(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", str(wheel), "packaging"],
                         capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    bin_ = venv / "bin"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    for command in ("semver-tool", "bump-version", "check-compat", "lint-commit", "gen-changelog"):
        done = subprocess.run([str(bin_ / command), "--help"], capture_output=True, text=True, cwd=outside)
        assert done.returncode == 0 and done.stdout.startswith(f"usage: {command}"), (command, done.stderr)
    assert subprocess.run([str(bin_ / "semver-tool"), "valid", "1.2.3"], cwd=outside).returncode == 0
    check = subprocess.run([str(bin_ / "check-compat"), "validate"], cwd=outside, capture_output=True, text=True)
    assert check.returncode == 2 and "no compatibility matrix" in check.stderr  # never the sample's (issue 13)
    assert (bin_ / "releng-release").exists() and (bin_ / "init-project").exists()
    probe = ("import importlib.util as u, packaging.version, sysconfig; "
             "print(all(u.find_spec(n) is None for n in ('versioning', 'changelog', 'shared', 'distribution')), "
             "packaging.__file__.startswith(sysconfig.get_paths()['purelib']))")
    done = subprocess.run([str(bin_ / "python"), "-c", probe], cwd=outside, capture_output=True, text=True)
    assert done.stdout.split() == ["True", "True"], done.stderr
