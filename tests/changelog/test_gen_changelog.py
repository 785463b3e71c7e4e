"""gen-changelog on real repositories: golden cases, in-place updates, prereleases, bad input, both entry forms."""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import keepachangelog
import pytest
from releng import documents
from releng import keepachangelog as releng_keepachangelog
from releng._scripts.changelog import gen_changelog

CASES = Path(__file__).parent / "cases"
NAMES = sorted(p.name for p in CASES.iterdir() if (p / "commits.sh").is_file())
TODAY = "1718409600"  # SOURCE_DATE_EPOCH: 2024-06-15


def gen(repo: Path, *args: str) -> int:
    return gen_changelog.main(["--repo", str(repo), *args])


def changelog(repo) -> str:
    return (repo.path / "CHANGELOG.md").read_text()


def changes(repo) -> dict:
    return json.loads((repo.path / "build" / "release" / "changes.json").read_text())


def parsed(text: str) -> dict:
    """The independent reader: the PyPI keepachangelog library."""
    return keepachangelog.to_dict(text.splitlines(keepends=True), show_unreleased=True)


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", TODAY)


@pytest.mark.parametrize("name", NAMES)
def test_golden_case(name, tmp_path, capsys, validate_document):
    case = CASES / name
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run(["git", "config", "tag.gpgsign", "false"], cwd=repo, check=True)
    subprocess.run(["bash", str(case / "commits.sh")], cwd=repo, check=True)
    if (case / "releng.toml").is_file():
        shutil.copy(case / "releng.toml", repo / "releng.toml")
    args = shlex.split((case / "args").read_text()) if (case / "args").is_file() else []
    out = tmp_path / "changes.json"
    assert gen(repo, "--full", "--out", str(out), *args) == 0
    text = (repo / "CHANGELOG.md").read_text()
    if os.environ.get("RELENG_UPDATE_GOLDEN"):
        (case / "expected.md").write_text(text)
    assert text == (case / "expected.md").read_text()
    doc = json.loads(out.read_text())
    validate_document(doc)
    sections = parsed(text)
    assert [v["version"] for v in doc["versions"]] == [
        "Unreleased" if k in ("unreleased", "next") else sections[k]["metadata"]["version"] for k in sections]
    ours = releng_keepachangelog.parse(text, unreleased="Next" if "next" in sections else "Unreleased")
    for version in doc["versions"]:
        key = "unreleased" if version["date"] is None else version["version"]
        section = sections.get(key) or sections[next(k for k in sections if k in ("unreleased", "next"))]
        counted = sum(len(v) for k, v in section.items() if k != "metadata")
        found = ours.find(None if version["date"] is None else version["version"])
        assert found is not None, key
        nested = [line for line in found.text.splitlines() if line.startswith("  ") and line.strip()]
        assert counted == len(version["entries"]) + len(nested), key  # the library reads a nested line as an item
        assert sum(line.startswith("- ") for line in found.text.splitlines()) == len(version["entries"]), key
    # the default mode on its own output changes nothing
    assert gen(repo, *args) == 0
    assert (repo / "CHANGELOG.md").read_text() == text
    capsys.readouterr()


def test_golden_cases_are_complete():
    for name in NAMES:
        assert (CASES / name / "expected.md").is_file(), name


def history(repo) -> None:
    repo.commit("feat: gain knob")
    repo.tag("v0.1.0")
    repo.commit("fix: clicks")
    repo.commit("feat(ui): meter")
    repo.tag("v0.2.0")
    repo.commit("feat: sidechain")


def test_update_keeps_older_sections_byte_for_byte(git_repo):
    history(git_repo)
    assert gen(git_repo.path) == 0
    first = changelog(git_repo)
    assert list(parsed(first)) == ["unreleased", "0.2.0", "0.1.0"]
    assert gen(git_repo.path) == 0
    assert changelog(git_repo) == first  # twice: nothing changes
    edited = first.replace("- **ui:** meter", "- **ui:** a level meter, hand-written\n  with a note")
    edited = edited.replace("## [0.1.0]", "## [0.1.0] - 2023-11-14 [YANKED]\n\nA note.\n\n<!-- was: -->\n"
                            "<!-- ## [0.1.0]").replace("\n### Added\n\n- gain", " -->\n\n### Added\n\n- gain", 1)
    git_repo.write("CHANGELOG.md", edited)
    git_repo.commit("fix: after the edit")
    assert gen(git_repo.path) == 0
    after = changelog(git_repo)
    assert after.split("## [0.2.0]")[1] == edited.split("## [0.2.0]")[1]
    assert "- after the edit" in after.split("## [0.2.0]")[0]
    git_repo.tag("v0.3.0")
    git_repo.commit("feat: next")
    assert gen(git_repo.path) == 0
    final = changelog(git_repo)
    assert list(parsed(final)) == ["unreleased", "0.3.0", "0.2.0", "0.1.0"]
    assert final.split("## [0.2.0]")[1] == edited.split("## [0.2.0]")[1]
    assert "- next" in final.split("## [0.3.0]")[0] and "- sidechain" in final.split("## [0.2.0]")[0]


def test_full_then_update_is_a_fixed_point(git_repo):
    history(git_repo)
    assert gen(git_repo.path, "--full") == 0
    full = changelog(git_repo)
    (git_repo.path / "CHANGELOG.md").unlink()
    assert gen(git_repo.path) == 0  # no file yet: the default mode writes everything too
    assert changelog(git_repo) == full
    assert gen(git_repo.path) == 0
    assert changelog(git_repo) == full


def test_sections_older_than_the_file_are_not_brought_back(git_repo):
    history(git_repo)
    git_repo.write("CHANGELOG.md", "# Changes\n\n## [Unreleased]\n\n## [0.2.0] - 2023-11-14\n\n- by hand\n")
    git_repo.tag("v0.3.0")
    assert gen(git_repo.path) == 0
    text = changelog(git_repo)
    assert list(parsed(text)) == ["unreleased", "0.3.0", "0.2.0"]  # 0.1.0 was left out on purpose
    assert text.startswith("# Changes\n\n## [Unreleased]\n\n## [0.3.0] - ")
    assert text.endswith("## [0.2.0] - 2023-11-14\n\n- by hand\n")


def test_release_of_a_prerelease_replaces_its_section(git_repo):
    git_repo.commit("feat: one")
    git_repo.tag("v1.0.0")
    git_repo.commit("feat!: two")
    git_repo.tag("v2.0.0-rc.1")
    assert gen(git_repo.path) == 0
    assert list(parsed(changelog(git_repo))) == ["unreleased", "2.0.0-rc.1", "1.0.0"]
    git_repo.commit("fix: three")
    git_repo.tag("v2.0.0")
    assert gen(git_repo.path) == 0
    text = changelog(git_repo)
    assert list(parsed(text)) == ["unreleased", "2.0.0", "1.0.0"]
    assert "- **BREAKING:** two" in text and "- three" in text


@pytest.mark.parametrize("how", ["--version", "--version-file", "implicit", "stdin"])
def test_version_from_bump_version_document(git_repo, how, validate_document, monkeypatch):
    history(git_repo)
    doc = {"previous": "0.2.0", "version": "0.3.0", "bump": "minor", "tag": None, "tag_name": "v0.3.0",
           "commit": None, "build_number": 3, "numeric": {"file_version": "0.3.0.3",
           "bundle_short_version": "0.3.0", "bundle_version": "3", "au_version": 768},
           "files": [], "commits": [], "created_at": "2024-06-15T00:00:00Z", "dry_run": True}
    path = git_repo.path / "build" / "release" / "version.json"
    documents.write(path, "version", doc)
    validate_document(json.loads(path.read_text()))
    args = {"--version": ["--version", str(path)], "--version-file": ["--version-file", str(path)],
            "implicit": [], "stdin": ["--version", "-"]}[how]
    stdin = (lambda: monkeypatch.setattr("sys.stdin", io.StringIO(path.read_text()))) \
        if how == "stdin" else (lambda: None)
    stdin()
    assert gen(git_repo.path, *args) == 0
    text = changelog(git_repo)
    assert list(parsed(text)) == ["unreleased", "0.3.0", "0.2.0", "0.1.0"]
    assert "## [0.3.0] - 2024-06-15\n\n### Added\n\n- sidechain" in text
    assert changes(git_repo)["versions"][1]["tag"] == "v0.3.0"
    git_repo.git("tag", "-a", "v0.3.0", "-m", "0.3.0", env={"GIT_COMMITTER_DATE": f"{TODAY} +0000"})
    # tagged the same day: the same run again changes nothing (the section's date is the tag's from now on)
    stdin()
    assert gen(git_repo.path, *args) == 0
    assert changelog(git_repo) == text
    assert gen(git_repo.path, "--version", "unreleased") == 0
    assert changelog(git_repo) == text


def test_stale_default_version_document_is_ignored(git_repo, capsys):
    history(git_repo)
    documents.write(git_repo.path / "build/release/version.json", "version", {"version": "0.1.5"})
    assert gen(git_repo.path) == 0
    assert "ignoring build/release/version.json" in capsys.readouterr().err
    assert list(parsed(changelog(git_repo))) == ["unreleased", "0.2.0", "0.1.0"]


UNREADABLE_CHANGELOGS = [  # (CHANGELOG.md, message): the error names CHANGELOG.md:<line>
    ("# Changelog\n\n## Version 1.0 (2024)\n", "cannot read section heading"),
    ("## [Unreleased]\n\n## [1.0] - 2024-01-01\n", "is not a SemVer version"),
    ("## [Unreleased] - 2024-01-01\n", "the unreleased section has a date"),
    ("## [1.0.0] - 2024-01-01\n\n## [1.0.0] - 2024-01-02\n", "two sections for 1.0.0"),
]
MALFORMED_VERSION_DOCUMENTS = [  # (--version-file v.json, message): the error names the file's path
    ("{not json", "malformed JSON"),
    ('{"schema": "releng/artifacts", "schema_version": 1}', "expected a releng/version document"),
    ('{"schema": "releng/version", "schema_version": 1, "version": "1.2"}', "not a SemVer"),
    ('{"schema": "releng/version", "schema_version": 1}', "not a SemVer 2.0.0 version: ''"),
]


@pytest.mark.parametrize(("name", "content", "message"), [
    *(("CHANGELOG.md", text, message) for text, message in UNREADABLE_CHANGELOGS),
    *(("v.json", content, message) for content, message in MALFORMED_VERSION_DOCUMENTS),
])
def test_unreadable_input_is_bad_input_and_untouched(git_repo, capsys, name, content, message):
    """A changelog it cannot read, or a --version-file that is no version document: exit 2, an error naming the
    file, and nothing written."""
    history(git_repo)
    git_repo.write(name, content)
    before = git_repo.snapshot()
    args = [] if name == "CHANGELOG.md" else ["--version-file", str(git_repo.path / name)]
    assert gen(git_repo.path, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert ("CHANGELOG.md:" if name == "CHANGELOG.md" else f"/{name})") in err
    assert git_repo.snapshot() == before


def test_refusals(git_repo, make_repo, capsys):
    assert gen(make_repo("empty").path) == 2
    assert "no commits yet" in capsys.readouterr().err
    history(git_repo)
    assert gen(git_repo.path, "--version", "0.1.1") == 2
    assert "older than the latest tag v0.2.0" in capsys.readouterr().err
    assert gen(git_repo.path, "--version", "nope") == 2
    assert "not a SemVer version" in capsys.readouterr().err
    assert not (git_repo.path / "CHANGELOG.md").exists()


def test_bad_config_and_usage(git_repo, capsys):
    history(git_repo)
    git_repo.write("releng.toml", '[changelog_config.changelog]\nrepo_url = "https://x.example/r"\n'
                   'commit_url = "{repo_url}/c/{hash}"\n')
    assert gen(git_repo.path) == 2
    assert "changelog.commit_url: not a URL template" in capsys.readouterr().err
    git_repo.write("releng.toml", '[versioning]\ntag_prefix = 1\n')
    assert gen(git_repo.path) == 2
    assert "tag_prefix must be a string" in capsys.readouterr().err
    (git_repo.path / "releng.toml").unlink()
    with pytest.raises(SystemExit) as e:
        gen(git_repo.path, "--version", "1.0.0", "--version-file", "v.json")
    assert e.value.code == 2
    assert not (git_repo.path / "CHANGELOG.md").exists()


def test_json_dry_run_and_stdout(git_repo, capsys, validate_document):
    history(git_repo)
    assert gen(git_repo.path, "--dry-run", "--json") == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    validate_document(doc)
    assert [v["version"] for v in doc["versions"]] == ["Unreleased", "0.2.0", "0.1.0"]
    assert "+## [0.2.0] - " in err and git_repo.status() == ""
    assert not (git_repo.path / "CHANGELOG.md").exists() and not (git_repo.path / "build").exists()
    assert gen(git_repo.path, "--json", "--out", str(git_repo.path / "c.json")) == 0
    assert capsys.readouterr().out == (git_repo.path / "c.json").read_text()
    assert not (git_repo.path / "build").exists()  # --out replaces the default path
    assert gen(git_repo.path, "--json") == 0  # only what this run regenerated
    assert [v["version"] for v in json.loads(capsys.readouterr().out)["versions"]] == ["Unreleased"]
    assert changes(git_repo)["versions"][0]["entries"][0]["text"] == "sidechain"
    assert gen(git_repo.path, "--changelog", "-", "-q", "--out", str(git_repo.path / "c.json")) == 0
    assert capsys.readouterr().out == changelog(git_repo)


def test_crlf_changelog_keeps_its_bytes(git_repo):
    history(git_repo)
    old = "# Log\r\n\r\n## [Unreleased]\r\n\r\n## [0.2.0] - 2023-11-14\r\n\r\n- by hand\r\n"
    (git_repo.path / "CHANGELOG.md").write_bytes(old.encode())
    assert gen(git_repo.path) == 0
    new = (git_repo.path / "CHANGELOG.md").read_bytes().decode()
    assert new.startswith("# Log\r\n\r\n## [Unreleased]\n\n### Added\n\n- sidechain (")
    assert new.endswith("## [0.2.0] - 2023-11-14\r\n\r\n- by hand\r\n")


def test_assignment_is_by_containment_across_merges(git_repo):
    """A commit belongs to the lowest tag containing it, wherever the tags sit."""
    git_repo.fork("side", "v1.1.0")
    git_repo.git("merge", "-q", "--no-ff", "--no-edit", "side")
    git_repo.commit("fix: after the merge")
    git_repo.tag("v1.2.0", annotated=False)
    assert gen(git_repo.path, "--full") == 0
    doc = changes(git_repo)
    texts = {v["version"]: [e["text"] for e in v["entries"]] for v in doc["versions"]}
    assert texts == {"Unreleased": [], "1.2.0": ["after the merge", "on main"],
                     "1.1.0": ["on the side"], "1.0.0": ["base"]}


def test_both_entry_forms(git_repo, script, command):
    history(git_repo)
    for run in (script("changelog", "gen_changelog", "--repo", str(git_repo.path), "--json"),
                command("gen-changelog", "--json", cwd=git_repo.path)):
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["schema"] == "releng/changes"
    for run in (script("changelog", "gen_changelog", "--help"), command("gen-changelog", "--help")):
        assert run.returncode == 0 and run.stdout.startswith("usage: gen-changelog")


@pytest.mark.parametrize("args", [(), ("--json",), ("--out", "c.json"), ("--json", "--out", "-")])
def test_a_big_document_encoded_by_a_forked_child_is_the_same(git_repo, capsys, monkeypatch, args, validate_document):
    history(git_repo)
    args = tuple(str(git_repo.path / a) if a.endswith(".json") else a for a in args)
    written = git_repo.path / (args[-1] if "c.json" in "".join(args) else "build/release/changes.json")
    results = []
    for threshold in (10**9, 0):  # in this process, then from a forked child
        monkeypatch.setattr(gen_changelog, "FORK_ENTRIES", threshold)
        assert gen(git_repo.path, "--full", *args) == 0
        out = capsys.readouterr().out
        results.append((out, written.read_text() if written.is_file() else None))
        if written.is_file():
            written.unlink()
    assert results[0] == results[1]
    validate_document(json.loads(results[1][0] or results[1][1]))


@pytest.mark.parametrize("fork", [True, False])
def test_a_document_encoded_aside_is_the_same_bytes(fork):
    body = {"repo_url": None, "tag_prefix": "v", "versions": [{"version": "1.0.0", "text": "é\u2028"}] * 3}
    pending = documents.dumps_in_child("changes", body, fork)
    copied = io.BytesIO()
    pending.write_to(copied)
    pending.write_to(copied)  # twice (--out FILE and --json): the whole text each time
    assert copied.getvalue() == 2 * documents.dumps("changes", body).encode()
    pending.close()


def test_dumps_soon_falls_back_when_the_child_fails(monkeypatch):
    broken = {"repo_url": None, "tag_prefix": "v", "versions": [object()]}  # the child cannot encode it
    pending = documents.dumps_in_child("changes", broken)
    with pytest.raises(TypeError):
        pending.write_to(io.BytesIO())  # then the parent tries, and says why it cannot
    pending.close()


# --- changelogs written by other tools, adopted in update mode -----------------------------------------------------
ADOPTED = Path(__file__).parent / "adopted"
TOOLS = sorted(p.name for p in ADOPTED.iterdir() if (p / "before.md").is_file())


@pytest.fixture(scope="module")
def adopted_history(tmp_path_factory) -> Path:
    """One repository for every tool's file: v0.1.0 to v0.2.0 are in the files, v0.2.1, v0.3.0 and a fix are not."""
    repo = tmp_path_factory.mktemp("adopted") / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run(["git", "config", "tag.gpgsign", "false"], cwd=repo, check=True)
    subprocess.run(["bash", str(ADOPTED / "commits.sh")], cwd=repo, check=True)
    shutil.copy(ADOPTED / "releng.toml", repo / "releng.toml")
    return repo


@pytest.mark.parametrize("tool", TOOLS)
def test_existing_changelog_of_another_tool_is_adopted(tool, adopted_history, tmp_path, capsys):
    """New sections in the file's own heading style (level, brackets, inline or reference links, `v`, date form);
    every older byte kept; a second run changes nothing."""
    repo = tmp_path / "repo"
    shutil.copytree(adopted_history, repo)
    before = (ADOPTED / tool / "before.md").read_text()
    (repo / "CHANGELOG.md").write_text(before)
    assert gen(repo) == 0, capsys.readouterr().err
    text = (repo / "CHANGELOG.md").read_text()
    if os.environ.get("RELENG_UPDATE_GOLDEN"):
        (ADOPTED / tool / "expected.md").write_text(text)
    assert text == (ADOPTED / tool / "expected.md").read_text()
    old = releng_keepachangelog.parse(before)
    ours = releng_keepachangelog.parse(text)
    assert [s.key for s in ours.sections] == ["unreleased", "0.3.0", "0.2.1", "0.2.0", "0.1.1", "0.1.0"]
    for section in old.sections:
        assert ours.find(section.key).text == section.text  # byte for byte
    assert ours.style == old.style
    assert gen(repo) == 0
    assert (repo / "CHANGELOG.md").read_text() == text


def test_shallow_clone_is_refused(adopted_history, tmp_path, capsys):
    """A shallow clone (CI's default checkout) would silently drop entries: exit 2, one line naming the fix."""
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{adopted_history}", str(clone)], check=True)
    (clone / "CHANGELOG.md").write_text("# Mine\n")
    capsys.readouterr()
    assert gen(clone) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: shallow clone")
    assert "git fetch --unshallow" in err and "fetch-depth: 0" in err
    assert (clone / "CHANGELOG.md").read_text() == "# Mine\n"
    assert not (clone / "build").exists()


def test_yanked_versions_from_the_config_and_the_rollback_log(adopted_history, tmp_path, capsys):
    """Keep a Changelog 1.1.0's `[YANKED]`: added to the heading of a section the file has (its body untouched) and
    written in a new one; from `changelog.yanked` and from a rollback log's `from` versions."""
    repo = tmp_path / "repo"
    shutil.copytree(adopted_history, repo)
    before = (ADOPTED / "keep-a-changelog" / "before.md").read_text()
    (repo / "CHANGELOG.md").write_text(before)
    with (repo / "releng.toml").open("a") as f:
        f.write('yanked = ["v0.1.1"]\n')
    log = tmp_path / "rollback_log.jsonl"
    log.write_text('{"id": "a", "from": "0.2.1", "to": "0.2.0", "status": "done"}\n\n')
    assert gen(repo, "--yanked-from", str(log)) == 0, capsys.readouterr().err
    text = (repo / "CHANGELOG.md").read_text()
    ours = releng_keepachangelog.parse(text)
    assert [s.key for s in ours.sections if s.yanked] == ["0.2.1", "0.1.1"]
    assert "## [0.2.1] - 2024-01-05 [YANKED]\n" in text and "## [0.1.1] - 2024-01-03 [YANKED]\n" in text
    old = releng_keepachangelog.parse(before).find("0.1.1")
    assert ours.find("0.1.1").text.partition("\n")[2] == old.text.partition("\n")[2]
    assert parsed(text)["0.1.1"]["metadata"]["release_date"] == "2024-01-03 [yanked]"  # how the library reads it
    assert gen(repo, "--yanked-from", str(log)) == 0
    assert (repo / "CHANGELOG.md").read_text() == text


@pytest.mark.parametrize(("toml", "log", "message"), [
    ('yanked = ["one"]\n', None, "changelog.yanked: 'one' is not a SemVer version"),
    ('yanked = "0.1.1"\n', None, "changelog.yanked must be a list of versions"),
    ("", "{not json\n", "not a rollback log line"),
    ("", '{"to": "0.2.0"}\n', "names no version in 'from'"),
])
def test_bad_yanked_input_is_bad_input_and_untouched(adopted_history, tmp_path, capsys, toml, log, message):
    repo = tmp_path / "repo"
    shutil.copytree(adopted_history, repo)
    (repo / "CHANGELOG.md").write_text("# Mine\n")
    with (repo / "releng.toml").open("a") as f:
        f.write(toml)
    args = []
    if log is not None:
        (tmp_path / "log.jsonl").write_text(log)
        args = ["--yanked-from", str(tmp_path / "log.jsonl")]
    capsys.readouterr()
    assert gen(repo, *args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert (repo / "CHANGELOG.md").read_text() == "# Mine\n"
