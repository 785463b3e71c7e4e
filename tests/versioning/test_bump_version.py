"""bump-version on real repositories: the sample plugin's version files, tags, commits and every refusal."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from releng import documents
from releng._scripts.versioning import bump_version
from testkit import null_device


def bump(repo, *args: str) -> int:
    return bump_version.main(["--repo", str(repo.path), *args])


def version_doc(repo) -> dict:
    return json.loads((repo.path / "build" / "release" / "version.json").read_text())


def header(repo) -> str:
    return (repo.path / "include/audiolab/version.h").read_text()


@pytest.mark.parametrize(
    ("subjects", "expected", "kind"),
    [
        (["fix: clip at 0 dBFS"], "0.1.1", "patch"),
        (["feat(ui): add a ceiling knob", "fix: clip"], "0.2.0", "minor"),
        (["perf(dsp): vectorise the limiter"], "0.1.1", "patch"),
        (["feat!: presets v2"], "0.2.0", "minor"),  # major 0: breaking gives minor (SemVer item 4)
        (["fix: x\n\nBREAKING CHANGE: presets moved"], "0.2.0", "minor"),
    ],
)
def test_auto_infers_the_bump_and_rewrites_every_version_file(plugin_repo, subjects, expected, kind,
                                                              capsys, validate_document):
    for s in subjects:
        plugin_repo.commit(s)
    assert bump(plugin_repo, "auto") == 0
    assert capsys.readouterr().out == f"{expected}\n"
    doc = version_doc(plugin_repo)
    validate_document(doc)
    assert (doc["previous"], doc["version"], doc["bump"], doc["build_number"]) == ("0.1.0", expected, kind, 2)
    assert [c["subject"] for c in doc["commits"]] == [s.split("\n")[0] for s in reversed(subjects)]
    assert f'VERSION_STRING "{expected}"' in header(plugin_repo)
    assert f"VERSION {expected} " in (plugin_repo.path / "CMakeLists.txt").read_text()
    assert json.loads((plugin_repo.path / "plugin.json").read_text())["version"] == expected
    rc = (plugin_repo.path / "resources/version.rc").read_text()
    major, minor, patch = expected.split(".")
    assert f"FILEVERSION {major},{minor},{patch},2" in rc and f'"ProductVersion", "{expected}"' in rc
    plist = (plugin_repo.path / "resources/Info.plist").read_text()
    assert f"<integer>{(int(major) << 16) | (int(minor) << 8) | int(patch)}</integer>" in plist


def test_breaking_change_after_1_0_is_major_and_configurable_before(plugin_repo, capsys):
    plugin_repo.commit("feat!: new preset format")
    config = plugin_repo.path / "releng.toml"
    config.write_text(config.read_text().replace('initial_version = "0.1.0"',
                                                 'initial_version = "0.1.0"\nzero_major_breaking = "major"'))
    plugin_repo.git("commit", "-qam", "chore: breaking changes bump major")
    assert bump(plugin_repo, "auto", "--commit", "--tag") == 0
    assert capsys.readouterr().out == "1.0.0\n"
    plugin_repo.commit("feat!: drop 32-bit hosts")
    assert bump(plugin_repo, "auto") == 0
    assert capsys.readouterr().out.endswith("2.0.0\n")


def test_nothing_releasable_exits_1_and_changes_nothing(plugin_repo, capsys):
    plugin_repo.commit("docs: explain the limiter")
    plugin_repo.commit("Merge branch 'docs'")
    plugin_repo.commit("chore: tidy")
    before = plugin_repo.snapshot()
    assert bump(plugin_repo, "auto") == 1
    assert "nothing releasable since v0.1.0" in capsys.readouterr().err
    assert plugin_repo.snapshot() == before


def test_commit_and_annotated_tag_list_the_changes(plugin_repo, capsys):
    fix = plugin_repo.commit("fix(dsp): no denormals")
    assert bump(plugin_repo, "auto", "--commit", "--tag") == 0
    head = plugin_repo.head()
    assert plugin_repo.git("log", "-1", "--format=%s").strip() == "chore(release): 0.1.1"
    assert plugin_repo.git("cat-file", "-t", "v0.1.1").strip() == "tag"
    assert plugin_repo.git("rev-parse", "v0.1.1^{commit}").strip() == head
    message = plugin_repo.git("tag", "-l", "--format=%(contents)", "v0.1.1")
    assert message.startswith("Release 0.1.1\n") and f"- fix(dsp): no denormals ({fix[:8]})" in message
    doc = version_doc(plugin_repo)
    assert (doc["commit"], doc["tag"]) == (head, "v0.1.1")
    assert plugin_repo.status() == ""


def test_dry_run_prints_the_diff_and_changes_nothing(plugin_repo, capsys):
    plugin_repo.commit("feat: sidechain input")
    before = plugin_repo.snapshot()
    assert bump(plugin_repo, "auto", "--dry-run", "--commit", "--tag") == 0
    err = capsys.readouterr().err
    assert '-#define AUDIOLAB_GAIN_VERSION_STRING "0.1.0"' in err
    assert '+#define AUDIOLAB_GAIN_VERSION_STRING "0.2.0"' in err
    assert "would bump 0.1.0 -> 0.2.0" in err
    assert plugin_repo.snapshot() == before
    assert "v0.2.0" not in plugin_repo.git("tag")


def test_json_output_equals_out_file(plugin_repo, tmp_path, capsys):
    plugin_repo.commit("fix: a")
    out = tmp_path / "v.json"
    assert bump(plugin_repo, "patch", "--json", "--out", str(out), "--dry-run") == 0
    assert capsys.readouterr().out == out.read_text()
    assert documents.loads(out.read_text(), "version")["dry_run"] is True


def test_prerelease_to_final_path_keeps_numeric_fields_sorted(plugin_repo, capsys):
    """1.3.0-beta.1 -> 1.3.0-rc.1 -> 1.3.0 -> 1.3.1: the anchors' most reported bug class."""
    steps = [("major", "beta", "1.0.0-beta.1"), ("prerelease", "rc", "1.0.0-rc.1"),
             ("prerelease", None, "1.0.0-rc.2"), ("release", None, "1.0.0"), ("patch", None, "1.0.1")]
    quads = []
    for kind, pre_id, expected in steps:
        plugin_repo.commit(f"fix: step towards {expected}")
        args = [kind, "--commit", "--tag"] + (["--pre-id", pre_id] if pre_id else [])
        assert bump(plugin_repo, *args) == 0, capsys.readouterr().err
        doc = version_doc(plugin_repo)
        assert doc["version"] == expected
        quads.append(tuple(int(x) for x in doc["numeric"]["file_version"].split(".")))
    assert quads == sorted(quads) and len(set(quads)) == len(quads)
    assert [q[3] for q in quads] == [2, 3, 4, 5, 6]
    assert set(plugin_repo.git("tag").split()) == {"v0.1.0"} | {"v" + s[2] for s in steps}


def test_auto_turns_a_prerelease_line_into_its_release(plugin_repo, capsys, validate_document):
    """The issue's histories: the last tag a beta, only chores since it; `auto` answers the final release, inferred
    from the commits since the last final one (0.1.0 here: a feat, so 0.2.0); --pre-id gives the next beta."""
    plugin_repo.commit("feat: sidechain input")
    assert bump(plugin_repo, "minor", "--pre-id", "beta", "--commit", "--tag") == 0  # 0.2.0-beta.1
    plugin_repo.commit("fix: sidechain gain")
    assert bump(plugin_repo, "auto", "--pre-id", "beta", "--commit", "--tag") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0.2.0-beta.2"
    plugin_repo.commit("chore: tidy")
    before = plugin_repo.snapshot()
    assert bump(plugin_repo, "auto", "--pre-id", "beta") == 1  # the same label, nothing new: nothing releasable
    assert "nothing releasable since v0.2.0-beta.2" in capsys.readouterr().err
    assert plugin_repo.snapshot() == before
    assert bump(plugin_repo, "auto", "--dry-run", "--pre-id", "rc") == 0
    assert capsys.readouterr().out == "0.2.0-rc.1\n"
    assert bump(plugin_repo, "auto", "--commit", "--tag") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0.2.0"
    doc = version_doc(plugin_repo)
    validate_document(doc)
    assert (doc["previous"], doc["version"], doc["bump"]) == ("0.2.0-beta.2", "0.2.0", "release")
    assert [c["subject"] for c in doc["commits"]] == ["fix: sidechain gain", "feat: sidechain input"]
    assert "v0.2.0" in plugin_repo.git("tag").split()


def test_build_number_grows_across_branches(plugin_repo, capsys):
    plugin_repo.commit("feat: a")
    assert bump(plugin_repo, "auto", "--commit", "--tag") == 0  # 0.2.0, build 2
    plugin_repo.commit("feat: b")
    assert bump(plugin_repo, "auto", "--commit", "--tag") == 0  # 0.3.0, build 3
    plugin_repo.git("checkout", "-q", "-b", "hotfix/0.2.1", "v0.2.0")
    plugin_repo.commit("fix: urgent")
    assert bump(plugin_repo, "auto", "--commit", "--tag") == 0
    doc = version_doc(plugin_repo)
    assert (doc["version"], doc["build_number"]) == ("0.2.1", 4)  # not 3: 0.3.0 already has 3


def test_first_release_without_tags_is_the_initial_version(make_repo, capsys):
    repo = make_repo("fresh")
    (repo.path / "VERSION").write_text("0.0.0\n")
    (repo.path / "releng.toml").write_text('[[versioning.files]]\npath = "VERSION"\nformat = "regex"\n'
                                          'pattern = "^(?P<version>.+)$"\n')
    repo.git("add", "-A")
    repo.commit("feat: first", allow_empty=False)
    assert bump(repo, "auto") == 0
    assert capsys.readouterr().out == "0.1.0\n"
    assert version_doc(repo)["bump"] == "initial"


def test_non_semver_tags_are_ignored_with_a_warning(plugin_repo, capsys):
    plugin_repo.tag("release-2023", annotated=False)
    plugin_repo.tag("v1.2", annotated=False)
    plugin_repo.commit("fix: x")
    assert bump(plugin_repo, "auto") == 0
    captured = capsys.readouterr()
    assert captured.out == "0.1.1\n"
    assert "warning: ignoring tag 'release-2023'" in captured.err and "'v1.2'" in captured.err


def _refused(repo, capsys, *args: str) -> str:
    before = repo.snapshot()
    assert bump(repo, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert repo.snapshot() == before
    return err


def test_refuses_files_out_of_sync(plugin_repo, capsys):
    h = plugin_repo.path / "include/audiolab/version.h"
    h.write_text(h.read_text().replace('STRING "0.1.0"', 'STRING "0.1.1"'))
    plugin_repo.git("commit", "-qam", "fix: hand edit")
    err = _refused(plugin_repo, capsys, "patch")
    assert ("AUDIOLAB_GAIN_VERSION_STRING says 0.1.1, where AUDIOLAB_GAIN_VERSION_MAJOR/_MINOR/_PATCH and the other "
            "version files say 0.1.0 (include/audiolab/version.h)") in err
    assert err.count("include/audiolab/version.h") == 1  # issue 13: a file is named once


def test_a_drifted_field_is_blamed_not_the_one_that_agrees(plugin_repo, capsys):
    """Issue 13: CFBundleShortVersionString edited alone was blamed on the AudioUnit integer."""
    plist = plugin_repo.path / "resources/Info.plist"
    plist.write_text(plist.read_text().replace("<string>0.1.0</string>", "<string>0.1.2</string>", 1))
    plugin_repo.git("commit", "-qam", "fix: hand edit")
    err = _refused(plugin_repo, capsys, "patch")
    assert "CFBundleShortVersionString says 0.1.2, where AudioComponents version 256 and the other version files " \
           "say 0.1.0 (resources/Info.plist)" in err


def test_a_file_alone_that_disagrees_with_itself_names_both_fields_once(make_repo, capsys):
    repo = make_repo("solo")
    repo.write("v.h", "#define SOLO_MAJOR 1\n#define SOLO_MINOR 2\n#define SOLO_PATCH 3\n"
                      "#define SOLO_STRING \"1.2.4\"\n")
    repo.write("releng.toml", '[[versioning.files]]\npath = "v.h"\nformat = "c-header"\nmacro_prefix = "SOLO"\n')
    repo.git("add", "-A")
    repo.commit("feat: solo", allow_empty=False)
    err = _refused(repo, capsys, "patch")
    assert "the file disagrees with itself: SOLO_STRING says 1.2.4, SOLO_MAJOR/_MINOR/_PATCH says 1.2.3 (v.h)" in err


def test_refuses_dirty_tree_unless_allowed(plugin_repo, capsys):
    (plugin_repo.path / "README.md").write_text("changed\n")
    assert "uncommitted changes (README.md)" in _refused(plugin_repo, capsys, "patch")
    assert bump(plugin_repo, "patch", "--allow-dirty") == 0


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("[versioning\n", "malformed TOML"),
        ('[[versioning.files]]\npath = "x.txt"\nformat = "ini"\n', "unknown version file format 'ini'"),
        ('[[versioning.files]]\npath = "missing.h"\nformat = "c-header"\nmacro_prefix = "X"\n',
         "version file not found (missing.h)"),
        ('[versioning]\ninitial_version = "1.2"\n', "not a SemVer 2.0.0 version: '1.2'"),
        ('[versioning]\nzero_major_breaking = "sometimes"\n', "zero_major_breaking"),
    ],
)
def test_refuses_bad_config(plugin_repo, capsys, config, message):
    (plugin_repo.path / "releng.toml").write_text(config)
    plugin_repo.git("commit", "-qam", "chore: config")
    assert message in _refused(plugin_repo, capsys, "patch")


def test_refuses_missing_explicit_config(plugin_repo, capsys):
    assert "config file not found" in _refused(plugin_repo, capsys, "patch", "--config", "nope.toml")


def test_refuses_existing_tag_and_going_backwards(plugin_repo, capsys):
    plugin_repo.commit("fix: a")
    plugin_repo.tag("v0.1.1")
    assert "HEAD is already past tag v0.1.1" in _refused(plugin_repo, capsys, "patch")


def test_refuses_detached_head_for_commit_and_tag(plugin_repo, capsys):
    plugin_repo.commit("fix: a")
    plugin_repo.git("checkout", "-q", "--detach")
    assert "detached HEAD" in _refused(plugin_repo, capsys, "auto", "--commit")
    assert bump(plugin_repo, "auto", "--dry-run") == 0  # reading works on a detached HEAD (CI checkouts)


def test_refuses_shallow_clone(plugin_repo, tmp_path, capsys):
    plugin_repo.commit("fix: a")
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{plugin_repo.path}", str(clone)], check=True)
    before = sorted(p.name for p in clone.iterdir())
    assert bump_version.main(["--repo", str(clone), "auto"]) == 2
    assert "shallow clone" in capsys.readouterr().err
    assert sorted(p.name for p in clone.iterdir()) == before


def test_refuses_unknown_kind_and_bad_pre_id(plugin_repo, capsys):
    with pytest.raises(SystemExit) as e:
        bump(plugin_repo, "huge")
    assert e.value.code == 2
    assert "invalid choice: 'huge'" in capsys.readouterr().err
    assert "prerelease label" in _refused(plugin_repo, capsys, "minor", "--pre-id", "01")


def test_not_a_repository(tmp_path, capsys):
    assert bump_version.main(["--repo", str(tmp_path), "patch"]) == 2
    assert "not a git repository" in capsys.readouterr().err


def test_by_path_and_console_script(plugin_repo, script, command):
    plugin_repo.commit("fix: a")
    by_path = script("versioning", "bump_version", "auto", "--dry-run", "-q", cwd=plugin_repo.path)
    console = command("bump-version", "auto", "--dry-run", "-q", cwd=plugin_repo.path)
    assert by_path.returncode == console.returncode == 0
    assert by_path.stdout == console.stdout == "0.1.1\n"


def test_same_result_as_a_copy_elsewhere(plugin_repo, tmp_path, capsys):
    """Nothing depends on where the repository lives."""
    plugin_repo.commit("feat: a")
    copy = tmp_path / "elsewhere" / "plugin"
    shutil.copytree(plugin_repo.path, copy)
    assert bump_version.main(["--repo", str(copy), "auto", "--dry-run", "-q"]) == 0
    assert bump(plugin_repo, "auto", "--dry-run", "-q") == 0
    out = capsys.readouterr().out.split()
    assert out == ["0.2.0", "0.2.0"]
    assert Path(copy / "build").exists() is False


def test_include_commits_a_prepared_changelog_with_the_release(plugin_repo, capsys):
    plugin_repo.commit("feat: a")
    assert bump(plugin_repo, "auto", "--dry-run", "-q") == 0
    capsys.readouterr()
    (plugin_repo.path / "CHANGELOG.md").write_text("# Changelog\n\n## [0.2.0] - 2026-11-27\n")
    plugin_repo.git("add", "CHANGELOG.md")
    (plugin_repo.path / "README.md").write_text("also dirty\n")
    assert "uncommitted changes (README.md)" in _refused(plugin_repo, capsys, "auto", "--include", "CHANGELOG.md")
    plugin_repo.git("checkout", "README.md")
    assert bump(plugin_repo, "auto", "--commit", "--tag", "--include", "CHANGELOG.md") == 0
    assert plugin_repo.status() == ""
    assert "CHANGELOG.md" in plugin_repo.git("show", "--name-only", "--format=", "v0.2.0")


def test_another_tag_prefix_and_an_abbreviated_repo_option(plugin_repo, tmp_path, monkeypatch, capsys):
    """git starts before the command line is parsed, guessing `v` and --repo: a wrong guess must not show."""
    config = plugin_repo.path / "releng.toml"
    config.write_text(config.read_text().replace('tag_prefix = "v"', 'tag_prefix = "release-"'))
    plugin_repo.git("commit", "-qam", "chore: release tags are release-X.Y.Z")
    plugin_repo.tag("release-0.1.0")
    plugin_repo.commit("fix: a")
    plugin_repo.tag("v9.0.0")  # not a release tag under this prefix: ignored with a warning
    other = tmp_path / "elsewhere"  # the cwd: another repository, whose history must not be read
    other.mkdir()
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    monkeypatch.chdir(other)
    assert bump_version.main(["--rep", str(plugin_repo.path), "auto", "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "0.1.1\n" and "ignoring tag 'v0.1.0'" in captured.err


# --- issue 12: configured paths stay inside the repository; special output files are written in place -------------

OUTSIDE = '\n[[versioning.files]]\npath = "{path}"\nformat = "regex"\npattern = "(?P<version>[0-9.]+)"\n'


@pytest.mark.parametrize("how", ["dot-dot", "symlink", "absolute"])
def test_a_version_file_outside_the_repository_is_refused_and_left_alone(plugin_repo, capsys, how):
    """bump-version rewrote `../outside-ver.txt` named in releng.toml; a symlink out is the same hole."""
    outside = plugin_repo.path.parent / "outside-ver.txt"
    outside.write_text("0.1.0\n")
    path = {"dot-dot": "../outside-ver.txt", "symlink": "ver.txt", "absolute": str(outside)}[how]
    if how == "symlink":
        (plugin_repo.path / "ver.txt").symlink_to(outside)
    config = plugin_repo.path / "releng.toml"
    config.write_text(config.read_text() + OUTSIDE.format(path=path))
    plugin_repo.git("add", "-A")
    plugin_repo.git("commit", "-qm", "chore: one more version file")
    plugin_repo.commit("fix: clip")
    err = _refused(plugin_repo, capsys, "auto")
    assert f"[[versioning.files]] path '{path}' is outside the repository" in err
    assert outside.read_text() == "0.1.0\n" and "0.1.0" in header(plugin_repo)


def test_out_to_a_fifo_is_written_in_place_never_replaced(plugin_repo, tmp_path, capsys):
    """`--out /dev/null` as root replaced /dev/null with a file; a FIFO (or a device) is written in place."""
    import os
    import stat
    import threading

    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    plugin_repo.commit("fix: clip")
    assert bump(plugin_repo, "auto", "--out", str(fifo), "-q") == 0
    reader.join(30)
    assert not reader.is_alive() and stat.S_ISFIFO(fifo.stat().st_mode)
    assert json.loads(got[0])["version"] == "0.1.1"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == []  # no temp file left


def test_out_to_a_character_device_is_written_in_place(plugin_repo, tmp_path, capsys):
    import os
    import stat

    null = null_device(tmp_path / "null")
    plugin_repo.commit("fix: clip")
    assert bump(plugin_repo, "auto", "--out", str(null), "-q") == 0
    assert stat.S_ISCHR(null.stat().st_mode) and null.stat().st_rdev == os.makedev(1, 3)


def test_out_dash_is_stdout(plugin_repo, capsys):
    plugin_repo.commit("fix: clip")
    assert bump(plugin_repo, "auto", "--out", "-") == 0
    assert json.loads(capsys.readouterr().out)["version"] == "0.1.1"
    assert not (plugin_repo.path / "-").exists()
