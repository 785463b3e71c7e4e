"""Issue 13, item 3: a project that is not the sample plugin gets no AudioLab setting. Its contents manifest,
maintainer and compatibility matrix come from its own config, or the generic contents manifest applies."""

from __future__ import annotations

import json
import shutil

import pytest
from releng._scripts.changelog import gen_changelog
from releng._scripts.packaging import build_package
from releng._scripts.versioning import check_compat
from testkit import write_nebula

CONFIG = '[project]\nname = "nebula-synth"\n\n[[versioning.files]]\npath = "CMakeLists.txt"\nformat = "cmake"\n'


@pytest.fixture
def nebula(make_repo):
    repo = make_repo("nebula")
    write_nebula(repo.path)
    (repo.path / "releng.toml").write_text(CONFIG)
    repo.git("add", "-A")
    repo.commit("feat: the nebula synth", allow_empty=False)
    assert gen_changelog.main(["--repo", str(repo.path), "--version", "0.3.0", "-q"]) == 0
    repo.git("add", "-A")
    repo.commit("docs: changelog for 0.3.0", allow_empty=False)
    repo.tag("v0.3.0")
    return repo


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed")
def test_the_generic_manifest_builds_a_project_without_presets(nebula, tmp_path, capsys):
    out = tmp_path / "dist"
    code = build_package.main(["--source", str(nebula.path), "--unsigned", "--format", "tar.gz", "--out", str(out),
                               "--build-dir", str(tmp_path / "build"), "-q"])
    assert code == 0, capsys.readouterr().err
    doc = json.loads((out / "artifacts.json").read_text())
    assert doc["name"] == "nebula-synth" and doc["version"] == "0.3.0"


def test_a_deb_without_a_maintainer_is_refused_naming_the_key_before_any_build(nebula, tmp_path, capsys):
    code = build_package.main(["--source", str(nebula.path), "--unsigned", "--format", "deb", "--platform", "linux",
                               "--build-dir", str(tmp_path / "build")])
    err = capsys.readouterr().err
    assert code == 2 and "[packaging] maintainer is not set" in err and "audiolab" not in err.lower()
    assert not (tmp_path / "build").exists()


def test_no_matrix_of_another_project(nebula, monkeypatch, capsys):
    monkeypatch.chdir(nebula.path)
    assert check_compat.main(["validate"]) == 2
    err = capsys.readouterr().err
    assert "no compatibility matrix" in err and "audiolab" not in err.lower()
