"""releng.packaging.staging: contents-manifest globs, the checks, changelog excerpts, version sources."""

from __future__ import annotations

import json
import subprocess

import pytest
from releng.artifacts import Failed
from releng.errors import BadInput
from releng.packaging import staging


@pytest.mark.parametrize(("glob", "path", "ok"), [
    ("bin/*", "bin/tool", True), ("bin/*", "bin/sub/tool", False), ("**", "a/b/c", True),
    ("lib/**/*.so", "lib/x.so", True), ("lib/**/*.so", "lib/a/b/x.so", True), ("lib/**/*.so", "libx.so", False),
    ("share/*/presets/*.json", "share/g/presets/a.json", True), ("file?.txt", "file1.txt", True),
    ("file?.txt", "file/.txt", False), ("[ab].txt", "a.txt", True), ("[!ab].txt", "a.txt", False),
    ("a+b(c).txt", "a+b(c).txt", True), ("lib/vst3/*.vst3/**", "lib/vst3/G.vst3/Contents/x/G.so", True),
])
def test_globs(glob, path, ok):
    assert staging.matches(glob, path) is ok


def test_contents_manifest_per_platform_with_fields():
    data = {"all": {"required": ["bin/{name}{exe}", "share/doc/*"], "optional": ["share/**"]},
            "windows": {"optional": ["bin/*.dll"]}}
    m = staging.load_manifest(data, "windows", {"name": "gain", "exe": ".exe"}, "contents.toml")
    assert m.required == ("bin/gain.exe", "share/doc/*") and m.optional == ("share/**", "bin/*.dll")
    files = ["bin/gain.exe", "bin/x.dll", "share/doc/README", "share/extra/a", "lib/stray.a"]
    assert staging.check_contents(files, m) == ([], ["lib/stray.a"])
    assert staging.check_contents(["share/doc/README"], m) == (["bin/gain.exe"], [])
    message = staging.contents_error(["bin/gain.exe"], ["lib/stray.a"], m, "windows")
    assert "lacks bin/gain.exe and holds unexpected lib/stray.a" in message and "contents.toml" in message


@pytest.mark.parametrize("data", [{"all": []}, {"all": {"required": "bin/*"}}, {"all": {"needed": []}},
                                  {"all": {"required": ["{unknown}"]}}])
def test_malformed_manifests_are_bad_input(data):
    with pytest.raises(BadInput):
        staging.load_manifest(data, "linux", {"name": "g", "exe": ""}, "contents.toml")


CHANGELOG = """# Changelog

## [Unreleased]

- upcoming

## [1.3.0-rc.1] - 2024-05-01

- candidate

## [1.2.0] - 2024-04-01

### Fixed

- a bug
"""


@pytest.mark.parametrize(("version", "heading"), [
    ("1.2.0", "## [1.2.0] - 2024-04-01"), ("1.3.0-rc.1", "## [1.3.0-rc.1]"), ("1.3.0-rc.2", "## [Unreleased]"),
    ("1.4.0", None),
])
def test_changelog_excerpts(version, heading):
    excerpt = staging.changelog_excerpt(CHANGELOG, version, "CHANGELOG.md")
    if heading is None:
        assert excerpt is None
    else:
        assert excerpt is not None and excerpt.startswith(heading) and excerpt.endswith("\n")
        assert excerpt.count("\n## ") == 0  # one section only


def test_the_staged_version_is_the_first_semver_word(tmp_path):
    exe = tmp_path / "bin" / "tool"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\necho 'tool v1.2.3-rc.1 (built today)'\n")
    exe.chmod(0o755)
    assert staging.staged_version(tmp_path, ["bin/tool", "--version"]) == "1.2.3-rc.1"
    exe.write_text("#!/bin/sh\necho 'no version here'\n")
    with pytest.raises(Failed, match="printed no version"):
        staging.staged_version(tmp_path, ["bin/tool"])
    exe.write_text("#!/bin/sh\nexit 4\n")
    with pytest.raises(Failed, match="exited 4"):
        staging.staged_version(tmp_path, ["bin/tool"])
    exe.chmod(0o644)
    with pytest.raises(Failed, match="not an executable"):
        staging.staged_version(tmp_path, ["bin/tool"])


def test_release_version_sources(tmp_path):
    (tmp_path / "CMakeLists.txt").write_text("cmake_minimum_required(VERSION 3.20)\n"
                                             "project(Gain\n  VERSION 2.4 LANGUAGES CXX)\n")
    assert staging.project_version(tmp_path) == "2.4"
    assert staging.release_version(tmp_path, None, None) == "2.4.0"
    doc = tmp_path / "build" / "release" / "version.json"
    doc.parent.mkdir(parents=True)
    doc.write_text(json.dumps({"schema": "releng/version", "schema_version": 1, "version": "3.0.0-rc.1"}))
    assert staging.release_version(tmp_path, None, None) == "3.0.0-rc.1"  # project() has no patch: not compared
    (tmp_path / "CMakeLists.txt").write_text("project(Gain VERSION 2.4.0)\n")
    with pytest.raises(Failed, match="project\\(\\) says 2.4.0"):
        staging.release_version(tmp_path, None, None)
    with pytest.raises(BadInput, match="no such version document"):
        staging.release_version(tmp_path, str(tmp_path / "missing.json"), None)


def test_source_date_epoch(tmp_path, monkeypatch, git_repo):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "42")
    assert staging.source_date_epoch(None) == 42
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    with pytest.raises(BadInput, match="set SOURCE_DATE_EPOCH"):
        staging.source_date_epoch(None)
    git_repo.commit("feat: one", date=1_234_567_890)
    assert staging.source_date_epoch(git_repo.path) == 1_234_567_890
    assert subprocess.run(["git", "-C", str(git_repo.path), "log", "-1", "--format=%ct"], capture_output=True,
                          text=True).stdout.strip() == "1234567890"
