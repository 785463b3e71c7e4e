"""gen-changelog's update mode reads only the history after the changelog's newest release (issue 14).

The oracle is the same run made to read the whole history: for every history here, both write the same
CHANGELOG.md and the same changes document, and warn alike but for one thing: a tag older than the file's newest
release, on another branch, is no longer named (nothing it could change is written). Each case also says whether
the short read was taken, so a test cannot pass by always falling back to the full one.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from releng._scripts.changelog import gen_changelog

REPO_URL = '[changelog_config.changelog]\nrepo_url = "https://github.com/audiolab/gain"\n'


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1718409600")


def outputs(repo, capsys, *args: str) -> tuple[str, dict, str]:
    capsys.readouterr()
    assert gen_changelog.main(["--repo", str(repo.path), "-q", *args]) == 0
    doc = json.loads((repo.path / "build" / "release" / "changes.json").read_text())
    return (repo.path / "CHANGELOG.md").read_text(), doc, capsys.readouterr().err


def both(repo, capsys, monkeypatch, *args: str,
         full_err: list[str] | None = None) -> tuple[tuple[str, dict, str], bool]:
    """The update run's outputs (asserted equal to a full read's, whose warnings go to `full_err` if given) and
    whether it read only the new history."""
    start = (repo.path / "CHANGELOG.md").read_text()
    taken: list[bool] = []
    since = gen_changelog._since

    def spy(*a, **k):
        h = since(*a, **k)
        taken.append(h is not None)
        return h

    monkeypatch.setattr(gen_changelog, "_since", spy)
    short = outputs(repo, capsys, *args)
    (repo.path / "CHANGELOG.md").write_text(start)
    monkeypatch.setattr(gen_changelog, "_newest", lambda *a: None)  # the oracle: the whole history
    full = outputs(repo, capsys, *args)
    monkeypatch.undo()
    if full_err is None:
        assert short == full
    else:
        assert short[:2] == full[:2]
        full_err.append(full[2])
    return short, taken == [True]


def released(repo, capsys) -> None:
    """A changelog written up to now (the file later runs start from)."""
    repo.write("releng.toml", REPO_URL)
    outputs(repo, capsys)


def test_a_new_release_and_unreleased_read_from_the_newest_release(git_repo, capsys, monkeypatch):
    git_repo.commit("feat: gain knob")
    git_repo.tag("v0.1.0")
    git_repo.commit("fix: clicks")
    git_repo.tag("v0.2.0")
    released(git_repo, capsys)
    git_repo.commit("feat: sidechain")
    git_repo.tag("v0.3.0")
    git_repo.commit("fix: after")
    (text, doc, err), short = both(git_repo, capsys, monkeypatch)
    assert short and err == ""
    assert [(v["version"], v["previous_tag"]) for v in doc["versions"]] == [("Unreleased", "v0.3.0"),
                                                                          ("0.3.0", "v0.2.0")]
    assert "[0.3.0]: https://github.com/audiolab/gain/compare/v0.2.0...v0.3.0" in text
    assert "- sidechain" in text.split("## [0.2.0]")[0] and "- clicks" in text.split("## [0.2.0]")[1]


def test_nothing_new_keeps_the_file(git_repo, capsys, monkeypatch):
    git_repo.commit("feat: gain knob")
    git_repo.tag("v0.1.0")
    released(git_repo, capsys)
    before = (git_repo.path / "CHANGELOG.md").read_text()
    (text, doc, _), short = both(git_repo, capsys, monkeypatch)
    assert short and text == before
    assert doc["versions"] == [{"version": "Unreleased", "date": None, "tag": None, "previous_tag": "v0.1.0",
                                "url": "https://github.com/audiolab/gain/compare/v0.1.0...HEAD", "entries": []}]


@pytest.mark.parametrize("form", ["git", "conventional", "scoped"])
def test_a_revert_of_a_commit_released_before_says_what_it_takes_back(git_repo, capsys, monkeypatch, form):
    sha = git_repo.commit("feat: sidechain input")
    git_repo.commit("fix: clicks")
    git_repo.tag("v1.0.0")
    git_repo.commit("feat: meter")
    git_repo.tag("v1.1.0")
    released(git_repo, capsys)
    subject = {"git": 'Revert "feat: sidechain input"', "conventional": "revert: sidechain input",
               "scoped": "revert(dsp): sidechain input"}[form]
    git_repo.commit(f"{subject}\n\nThis reverts commit {sha[:10] if form == 'scoped' else sha}.")
    (text, doc, _), short = both(git_repo, capsys, monkeypatch)
    assert short
    assert [e["category"] for e in doc["versions"][0]["entries"]] == ["Removed"]
    assert "sidechain input" in text.split("## [1.1.0]")[0]


@pytest.mark.parametrize("subject", ['Revert "Revert "feat: sidechain input""',
                                     'Reapply "feat: sidechain input"'])  # git 2.43+
def test_a_revert_of_a_revert_released_before_lists_the_original_again(git_repo, capsys, monkeypatch, subject):
    sha = git_repo.commit("feat: sidechain input")
    git_repo.tag("v1.0.0")
    first = git_repo.commit(f'Revert "feat: sidechain input"\n\nThis reverts commit {sha}.')
    git_repo.tag("v1.1.0")
    released(git_repo, capsys)
    git_repo.commit(f"{subject}\n\nThis reverts commit {first}.")
    git_repo.commit("revert: nothing known\n\nThis reverts commit 0123456789abcdef.")  # git leaves it out
    (_, doc, _), short = both(git_repo, capsys, monkeypatch)
    assert short
    assert [(e["category"], e["text"]) for e in doc["versions"][0]["entries"]][-1] == ("Added", "sidechain input")


def test_a_merged_maintenance_release_is_neither_a_section_nor_a_warning(git_repo, capsys, monkeypatch):
    git_repo.fork("v1.0.x", "v1.0.1", side="fix: backported")
    git_repo.tag("v1.1.0")
    released(git_repo, capsys)
    git_repo.git("merge", "-q", "--no-ff", "--no-edit", "v1.0.x")
    git_repo.commit("feat: after the merge")
    git_repo.tag("v1.2.0")
    (text, doc, err), short = both(git_repo, capsys, monkeypatch)
    assert short and err == ""
    assert [(v["version"], v["previous_tag"]) for v in doc["versions"]] == [("Unreleased", "v1.2.0"),
                                                                          ("1.2.0", "v1.1.0")]
    assert [e["text"] for e in doc["versions"][1]["entries"]] == ["after the merge"]
    assert "backported" not in text


def test_only_tags_newer_than_the_file_are_warned_about(git_repo, capsys, monkeypatch):
    git_repo.commit("feat: one")
    git_repo.tag("v1.0.0")
    released(git_repo, capsys)
    git_repo.git("checkout", "-q", "-b", "old")
    git_repo.commit("fix: old line")
    git_repo.tag("v0.9.1")  # older than the file's newest: it could change nothing written
    git_repo.git("checkout", "-q", "main")
    git_repo.commit("feat: two")
    full_err: list[str] = []
    (_, _, err), short = both(git_repo, capsys, monkeypatch, full_err=full_err)
    assert short and err == ""
    assert full_err == ["warning: ignoring tag 'v0.9.1': not in the history of HEAD\n"]


Case = Callable[..., None]


def prerelease_newest(repo, capsys) -> None:
    repo.commit("feat: one")
    repo.tag("v1.0.0-rc.1")
    released(repo, capsys)
    repo.commit("fix: two")
    repo.tag("v1.0.0")  # folds rc.1: its commits are in the history before the file's newest


def final_below_prereleases(repo, capsys) -> None:
    repo.commit("feat: zero")
    repo.tag("v0.9.0")
    prerelease_newest(repo, capsys)  # read from v0.9.0: 1.0.0 folds 1.0.0-rc.1's commits


def untagged_newest(repo, capsys) -> None:
    repo.commit("feat: one")
    repo.tag("v1.0.0")
    repo.commit("feat: two")
    repo.write("releng.toml", REPO_URL)
    outputs(repo, capsys, "--version", "1.1.0")  # written before the tag is made, which never was
    repo.commit("fix: three")


def newest_on_another_branch(repo, capsys) -> None:
    repo.commit("feat: one")
    repo.tag("v1.0.0")
    repo.git("checkout", "-q", "-b", "next")
    repo.commit("feat: two")
    repo.tag("v2.0.0")
    released(repo, capsys)
    repo.git("checkout", "-q", "main")
    repo.commit("fix: three")


def newer_tag_inside_the_release(repo, capsys) -> None:
    repo.commit("feat: one")
    repo.tag("v1.0.0")
    repo.commit("feat: two")
    repo.tag("v1.1.0")
    released(repo, capsys)
    repo.tag("v1.2.0", ref="v1.0.0")  # a newer version on an older commit: only the full history places it
    repo.commit("fix: three")


def test_prereleases_on_top_are_read_from_the_final_release_below(git_repo, capsys, monkeypatch):
    final_below_prereleases(git_repo, capsys)
    (_, doc, _), short = both(git_repo, capsys, monkeypatch)
    assert short
    assert {v["version"]: [e["text"] for e in v["entries"]] for v in doc["versions"]} == {
        "Unreleased": [], "1.0.0": ["two", "one"]}


@pytest.mark.parametrize(("case", "written"), [
    (prerelease_newest, {"Unreleased": [], "1.0.0": ["two", "one"]}),  # no final release in the file
    (untagged_newest, {"Unreleased": ["three", "two"]}),
    (newest_on_another_branch, {"Unreleased": ["three"]}),
    (newer_tag_inside_the_release, {"Unreleased": ["three"], "1.2.0": []}),
])
def test_histories_the_short_read_cannot_answer_are_read_whole(git_repo, capsys, monkeypatch, case, written):
    case(git_repo, capsys)
    (_, doc, _), short = both(git_repo, capsys, monkeypatch)
    assert not short
    assert {v["version"]: [e["text"] for e in v["entries"]] for v in doc["versions"]} == written


def test_an_older_version_asked_for_reads_the_whole_history(git_repo, capsys, monkeypatch):
    git_repo.commit("feat: one")
    git_repo.tag("v1.0.0")
    git_repo.commit("feat: two")
    git_repo.tag("v1.1.0")
    released(git_repo, capsys)
    (_, doc, _), short = both(git_repo, capsys, monkeypatch, "--version", "1.0.0")
    assert not short and doc["versions"][-1]["version"] == "1.0.0"
