"""init-project on a synthetic plugin repository that is not examples/plugin (issue 13, item 1): it lists the
version files bump-version can rewrite, the name, tag style and maintainer; check-setup passes on what it wrote."""

from __future__ import annotations

import json
import tomllib

import pytest
from releng._scripts.validation import check_setup
from releng._scripts.versioning import bump_version, init_project
from testkit import write_key, write_nebula


@pytest.fixture
def nebula(make_repo):
    repo = make_repo("nebula")
    write_nebula(repo.path)
    (repo.path / "plugin.json").write_text('{"name": "nebula-synth", "version": "0.3.0"}\n')
    repo.git("config", "user.name", "Nova Dev")
    repo.git("config", "user.email", "nova@nebula.example")
    repo.git("add", "-A")
    repo.commit("feat: the nebula synth", allow_empty=False)
    repo.tag("nebula-0.3.0")
    for i in range(3):
        repo.commit(f"fix: voice {i} stays in tune")
    return repo


def init(repo, *args: str) -> int:
    return init_project.main(["--repo", str(repo.path), *args])


def test_writes_a_config_that_check_setup_passes(nebula, tmp_path, capsys, monkeypatch):
    assert init(nebula) == 0
    err = capsys.readouterr().err
    cfg = tomllib.loads((nebula.path / "releng.toml").read_text())
    assert cfg["project"]["name"] == "nebula-synth"
    assert cfg["versioning"]["tag_prefix"] == "nebula-"
    assert {(f["path"], f["format"]) for f in cfg["versioning"]["files"]} == {
        ("CMakeLists.txt", "cmake"), ("src/nebula_version.hpp", "c-header"), ("mac/Info.plist", "plist"),
        ("win/nebula.rc", "windows-rc"), ("plugin.json", "json")}
    header = next(f for f in cfg["versioning"]["files"] if f["format"] == "c-header")
    assert header["macro_prefix"] == "NEBULA_VERSION"
    assert cfg["packaging"]["maintainer"] == "Nova Dev <nova@nebula.example>"
    contents = tomllib.loads((nebula.path / "releng/contents.toml").read_text())
    assert contents["all"]["required"] == ["bin/**", "share/doc/{name}/LICENSE", "share/doc/{name}/CHANGELOG.md"]
    assert json.loads((nebula.path / "releng/compatibility_matrix.json").read_text())["product"] == "nebula-synth"
    assert "- id: lint-commit" in err and "check-setup" in err
    nebula.git("add", "-A")
    nebula.commit("chore: releng config", allow_empty=False)
    write_key(tmp_path / "release.pem")
    assert check_setup.main(["--repo", str(nebula.path), "--signing-key", str(tmp_path / "release.pem"),
                             "--servers", str(nebula.path / "releng/update_server_config.json")]) == 0, \
        capsys.readouterr().err
    capsys.readouterr()
    assert bump_version.main(["--repo", str(nebula.path), "auto", "--commit", "--tag"]) == 0
    assert capsys.readouterr().out == "0.3.1\n"
    assert nebula.git("tag", "--points-at", "HEAD").strip() == "nebula-0.3.1"
    assert "FILEVERSION 0,3,1,9" in (nebula.path / "win/nebula.rc").read_text()


def test_refuses_to_overwrite_without_force(nebula, capsys):
    (nebula.path / "releng.toml").write_text("# mine\n")
    assert init(nebula) == 2
    err = capsys.readouterr().err
    assert "releng.toml already exists: pass --force" in err
    assert (nebula.path / "releng.toml").read_text() == "# mine\n"
    assert not (nebula.path / "releng").exists()
    assert init(nebula, "--force") == 0
    assert "[project]" in (nebula.path / "releng.toml").read_text()


def test_dry_run_prints_and_writes_nothing(nebula, capsys):
    before = nebula.snapshot()
    assert init(nebula, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "# --- releng.toml\n" in out and 'name = "nebula-synth"' in out and "# --- releng/contents.toml" in out
    assert nebula.snapshot() == before


def test_a_repository_with_nothing_to_find_says_so(make_repo, capsys):
    repo = make_repo("empty")
    repo.commit("chore: start")
    assert init(repo, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "# name = " in out and "No version-bearing file found" in out
