"""Issue 13, item 1: a config typo, or no config at all, is exit 2 naming the nearest valid key in every script
that reads the config, and changes nothing; on a plugin repository that is not examples/plugin."""

from __future__ import annotations

import pytest
from releng._scripts.changelog import gen_changelog, lint_commit
from releng._scripts.validation import release_metrics, validate_release
from releng._scripts.versioning import bump_version
from testkit import NEBULA_CONFIG, write_nebula

GOOD = NEBULA_CONFIG + '''
[[versioning.files]]
path = "mac/Info.plist"
format = "plist"

[[versioning.files]]
path = "win/nebula.rc"
format = "windows-rc"
'''


@pytest.fixture
def nebula(make_repo):
    repo = make_repo("nebula")
    write_nebula(repo.path)
    repo.git("add", "-A")
    repo.commit("feat: the nebula synth", allow_empty=False)
    repo.tag("v0.3.0")
    for i in range(3):
        repo.commit(f"fix: voice {i} stays in tune")
    return repo


def _refused(repo, capsys, run) -> str:
    before, tags = repo.snapshot(), repo.git("tag")
    assert run() == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert repo.snapshot() == before and repo.git("tag") == tags
    return err


def _bump(repo):
    return lambda: bump_version.main(["--repo", str(repo.path), "auto", "--commit", "--tag"])


def test_no_config_is_no_empty_release(nebula, capsys):
    err = _refused(nebula, capsys, _bump(nebula))
    assert "no releng config" in err and "init-project" in err
    assert nebula.git("log", "-1", "--format=%s").strip() == "fix: voice 2 stays in tune"


@pytest.mark.parametrize(("typo", "message"), [
    (("[[versioning.files]]", "[[versioning.file]]"), "unknown key 'file' in [versioning] (did you mean 'files'?)"),
    (('tag_prefix = "v"', 'tag_prefx = "v"'), "(did you mean 'tag_prefix'?)"),
    (("macro_prefix", "macro_prefx"), "(did you mean 'macro_prefix'?)"),
    (("[project]", "[projet]"), "unknown key 'projet' in the releng config (did you mean 'project'?)"),
])
def test_a_typo_is_exit_2_naming_the_nearest_key(nebula, capsys, typo, message):
    (nebula.path / "releng.toml").write_text(GOOD.replace(*typo, 1))
    nebula.git("add", "-A")
    nebula.commit("chore: releng config", allow_empty=False)
    assert message in _refused(nebula, capsys, _bump(nebula))


def test_an_empty_file_list_is_refused(nebula, capsys):
    (nebula.path / "releng.toml").write_text('[project]\nname = "nebula-synth"\n')
    nebula.git("add", "-A")
    nebula.commit("chore: releng config", allow_empty=False)
    assert "[[versioning.files]] lists no version file" in _refused(nebula, capsys, _bump(nebula))


def test_the_good_config_releases_with_the_build_number_above_the_files(nebula, capsys):
    (nebula.path / "releng.toml").write_text(GOOD)
    nebula.git("add", "-A")
    nebula.commit("chore: releng config", allow_empty=False)
    assert _bump(nebula)() == 0
    assert capsys.readouterr().out == "0.3.1\n"
    assert "FILEVERSION 0,3,1,9" in (nebula.path / "win/nebula.rc").read_text()  # 8 in the files: 9, not 2
    assert nebula.git("tag", "--points-at", "HEAD").strip() == "v0.3.1"


@pytest.mark.parametrize("script", ["gen-changelog", "lint-commit", "validate-release", "release-metrics"])
@pytest.mark.parametrize(("typo", "message"), [
    ("[versioning]\ntag_prefx = \"v\"\n", "(did you mean 'tag_prefix'?)"),
    ("[changelog_config.lint]\nmax_header_lenght = 72\n", "(did you mean 'max_header_length'?)"),
    ("[packaging]\nmaintaner = \"N <n@example.org>\"\n", "(did you mean 'maintainer'?)"),
])
def test_every_script_that_reads_the_config_refuses_a_typo(nebula, capsys, script, typo, message):
    (nebula.path / "releng.toml").write_text(typo)
    nebula.git("add", "-A")
    nebula.commit("chore: releng config", allow_empty=False)
    repo = str(nebula.path)
    msg = nebula.path / "msg"
    msg.write_text("fix: x\n")
    runs = {
        "gen-changelog": lambda: gen_changelog.main(["--repo", repo, "--dry-run"]),
        "lint-commit": lambda: lint_commit.main(["--repo", repo, str(msg)]),
        "validate-release": lambda: validate_release.main(["--repo", repo, "--dry-run"]),
        "release-metrics": lambda: release_metrics.main(["--repo", repo]),
    }
    if "changelog_config" in typo and script in ("validate-release", "release-metrics"):
        pytest.skip("reads no changelog settings (changelog_config's own keys are the changelog's to check)")
    assert message in _refused(nebula, capsys, runs[script])
