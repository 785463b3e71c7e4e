"""validate-release on a real release of examples/plugin: bumped, changelogged, tagged, built and signed once per
session, then copied per test and broken in one way or several.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from releng import git as releng_git
from releng import semver
from releng._scripts.changelog import gen_changelog
from releng._scripts.packaging import build_package
from releng._scripts.validation import validate_release
from releng._scripts.versioning import bump_version
from releng.validation import artifact_gates, checklist, gates
from testkit import copy_plugin, flip_base64, write_key

ROOT = Path(__file__).resolve().parents[2]
CHANGELOG = "# Changelog\n\n## [Unreleased]\n\n## [0.1.0] - 2023-11-14\n\n### Added\n\n- A gain stage.\n"
CHECK_PRESETS = """import json, pathlib, sys
for p in sorted(pathlib.Path("presets").glob("*.json")):
    json.loads(p.read_text())
    print("ok", p.name)
sys.exit(0)
"""
ALL_GATES = [g[0] for g in checklist.GATES]


@dataclass(frozen=True)
class Built:
    source: Path
    key: Path
    public_b64: str


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """0.1.0 tagged, a fix commit, then the documented chain: bump-version, gen-changelog, tag, build-package."""
    base = tmp_path_factory.mktemp("validate")
    src = copy_plugin(base / "plugin", CHANGELOG)
    (src / "check_presets.py").write_text(CHECK_PRESETS)
    (src / "compat").mkdir()
    matrix = ROOT / "examples" / "plugin" / "versioning" / "compatibility_matrix.json"
    shutil.copy(matrix, src / "compat" / "matrix.json")
    with (src / "releng.toml").open("a") as f:
        f.write(f'\n[validation]\ntest_command = ["{sys.executable}", "check_presets.py"]\n'
                'compatibility_matrix = "compat/matrix.json"\n')
    git(src, "init", "-q", "-b", "main")
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "chore: import the gain plugin")
    git(src, "tag", "-a", "v0.1.0", "-m", "Release 0.1.0")
    git(src, "commit", "-q", "--allow-empty", "-m", "fix: clamp the gain at +24 dB")
    version_doc = str(src / "build" / "release" / "version.json")
    assert bump_version.main(["auto", "--dry-run", "--out", version_doc, "--repo", str(src), "-qq"]) == 0
    assert gen_changelog.main(["--version-file", version_doc, "--repo", str(src), "-q"]) == 0
    assert bump_version.main(["auto", "--commit", "--tag", "--include", "CHANGELOG.md", "--repo", str(src),
                              "-qq"]) == 0
    public = write_key(base / "release.pem")
    assert build_package.main(["--source", str(src), "--signing-key", str(base / "release.pem"), "-q"]) == 0
    return Built(src, base / "release.pem", public)


@pytest.fixture
def repo(built: Built, tmp_path: Path) -> Path:
    """A private copy of the built release (repository, dist/, build/release/), without the CMake build tree."""
    dest = tmp_path / "plugin"
    shutil.copytree(built.source, dest, symlinks=True,
                    ignore=lambda d, names: ["package"] if Path(d) == built.source / "build" else [])
    return dest


@pytest.fixture
def validate(built, tmp_path, capsys, validate_document):
    """`validate(repo, *args)` runs validate-release in-process: (exit code, document or None, stdout, stderr)."""

    def run(repo: Path, *args: str, key: str | None = None) -> tuple[int, dict | None, str, str]:
        out = tmp_path / "validation.json"
        out.unlink(missing_ok=True)
        trusted = ["--public-key", built.public_b64 if key is None else key] if key != "" else []
        code = validate_release.main(["--repo", str(repo), *trusted, "--out", str(out), *args])
        std = capsys.readouterr()
        doc = json.loads(out.read_text()) if out.exists() else None
        if doc is not None:
            validate_document(doc)
            assert [g["id"] for g in doc["gates"]] == ALL_GATES  # every gate reported, in order
        return code, doc, std.out, std.err

    return run


def results(doc: dict) -> dict[str, str]:
    return {g["id"]: g["result"] for g in doc["gates"]}


def evidence(doc: dict, gate: str) -> str:
    return "\n".join(next(g for g in doc["gates"] if g["id"] == gate)["evidence"])


def failed(doc: dict) -> set[str]:
    return {g for g, r in results(doc).items() if r == "fail"}


def commit(repo: Path, message: str) -> None:
    git(repo, "commit", "-q", "--allow-empty", "-m", message)


def flip(path: Path, offset: int = 200) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


def config_with(repo: Path, tmp_path: Path, extra: str) -> str:
    """The repository's releng.toml plus `extra` lines in [validation], as a file outside the repository."""
    path = tmp_path / "releng.toml"
    path.write_text((repo / "releng.toml").read_text() + extra + "\n")
    return str(path)


# ---- a good release ---------------------------------------------------------------------------------------------

def test_a_good_release_passes_every_gate(repo, validate):
    code, doc, out, _ = validate(repo)
    assert code == 0, out
    assert results(doc) == {**dict.fromkeys(ALL_GATES, "pass"), "rebuild": "skip", "code-freeze": "skip"}
    assert doc["passed"] is True and doc["version"] == "0.1.1" and doc["tag"] == "v0.1.1"
    assert doc["summary"]["blocking_failed"] == []
    assert [h["id"] for h in doc["human"]] == ["sign-off", "beta-report", "user-message"]
    assert "0.1.1 follows v0.1.0" in evidence(doc, "no-skipped-version")
    assert "printed 0.1.1" in evidence(doc, "smoke-run")
    assert "`" in evidence(doc, "tests") and "exited 0" in evidence(doc, "tests")
    assert "READY" in out and "NOT READY" not in out and "[ ] sign-off" in out


def test_default_output_and_json_are_the_same_bytes(repo, built, capsys, validate_document):
    code = validate_release.main(["--repo", str(repo), "--public-key", built.public_b64, "--json"])
    std = capsys.readouterr()
    assert code == 0
    written = (repo / "build" / "release" / "validation.json").read_text()
    assert std.out == written
    validate_document(json.loads(written))
    assert "READY" in std.err  # the table goes to stderr when stdout carries the document


def test_rebuild_is_byte_identical(repo, validate):
    code, doc, _, _ = validate(repo, "--rebuild")
    assert code == 0
    assert results(doc)["rebuild"] == "pass"
    assert "byte-identical when rebuilt" in evidence(doc, "rebuild") and ".tar.gz" in evidence(doc, "rebuild")


def test_a_rebuild_that_differs_fails():
    original = {"artifacts": [{"path": "a.tar.gz", "sha256": "1" * 64}, {"path": "a.exe", "sha256": "2" * 64}]}
    ok, notes = artifact_gates.compare_rebuild(original, {"artifacts": [{"path": "a.tar.gz", "sha256": "3" * 64}]})
    assert ok is False and "a.tar.gz differs when rebuilt" in notes[0] and "not rebuilt on this host: a.exe" in notes
    assert artifact_gates.compare_rebuild(original, {"artifacts": []})[0] is False


def test_both_entry_forms(repo, built, validate_document):
    for argv in ([sys.executable, str(ROOT / "validation" / "validate_release.py")],
                 [str(Path(sys.executable).parent / "validate-release")]):
        done = subprocess.run([*argv, "--public-key", built.public_b64, "--json"], cwd=repo, capture_output=True,
                              text=True)
        assert done.returncode == 0, done.stderr
        validate_document(json.loads(done.stdout))


def test_dry_run_lists_the_gates_and_runs_none(repo, validate):
    code, doc, out, _ = validate(repo, "--dry-run", "--profile", "hotfix")
    assert code == 0 and doc is None
    assert "compatibility" in out and "not in profile" in out
    assert not (repo / "build" / "release" / "validation.json").exists()


# ---- failing gates ------------------------------------------------------------------------------------------------

def test_several_failing_gates_are_all_reported(repo, validate):
    (repo / "plugin.json").write_text((repo / "plugin.json").read_text().replace("0.1.1", "0.3.0"))
    flip(next((repo / "dist").glob("*.tar.zst")))
    (repo / "dist" / "SHA256SUMS.sig").unlink()
    git(repo, "checkout", "-q", "-b", "feature/mute")
    code, doc, out, _ = validate(repo)
    assert code == 1
    assert failed(doc) == {"clean-tree", "branch", "version-agrees", "artifacts", "package-contents"}
    assert doc["passed"] is False and set(doc["summary"]["blocking_failed"]) == failed(doc)
    assert "plugin.json says 0.3.0, the release is 0.1.1" in evidence(doc, "version-agrees")
    assert "SHA256SUMS.sig is missing" in evidence(doc, "artifacts")
    assert "tar.zst does not match its sha256" in evidence(doc, "artifacts")
    assert "cannot read audiolab-gain-0.1.1-linux-x86_64.tar.zst" in evidence(doc, "package-contents")
    assert "NOT READY" in out and "clean-tree, branch, version-agrees, artifacts, package-contents" in out


def test_dirty_tree(repo, validate):
    (repo / "README.md").write_text("edited\n")
    code, doc, _, _ = validate(repo)
    assert code == 1 and failed(doc) == {"clean-tree"}
    assert "README.md" in evidence(doc, "clean-tree")


@pytest.mark.parametrize(("profile", "branch", "ok"), [
    ("release", "feature/x", False), ("release", "release/0.1", False), ("rc", "release/0.1", True),
    ("rc", "feature/x", False), ("hotfix", "main", False)])
def test_the_branch_fits_the_profile(repo, validate, profile, branch, ok):
    if branch != "main":
        git(repo, "checkout", "-q", "-b", branch)
    _, doc, _, _ = validate(repo, "--profile", profile)
    assert results(doc)["branch"] == ("pass" if ok else "fail")
    assert f"on {branch}" in evidence(doc, "branch")


def test_a_detached_head_on_main_counts_as_main(repo, validate):
    git(repo, "checkout", "-q", "--detach", "HEAD")
    code, doc, _, _ = validate(repo)
    assert code == 0 and "detached HEAD, contained in main" in evidence(doc, "branch")


def test_version_mismatch_between_documents(repo, validate):
    path = repo / "build" / "release" / "version.json"
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "version": "0.1.2"}))
    code, doc, _, _ = validate(repo)
    assert code == 1 and "version-agrees" in failed(doc)
    assert "CMakeLists.txt says 0.1.1, the release is 0.1.2" in evidence(doc, "version-agrees")
    assert "artifacts.json says 0.1.1, the release is 0.1.2" in evidence(doc, "version-agrees")
    assert "no tag v0.1.2" in evidence(doc, "tag")


def test_a_lightweight_tag_fails(repo, validate):
    git(repo, "tag", "-d", "v0.1.1")
    git(repo, "tag", "v0.1.1")
    code, doc, _, _ = validate(repo)
    assert code == 1 and failed(doc) == {"tag"}
    assert "lightweight" in evidence(doc, "tag")


def test_a_tag_not_at_head_fails(repo, validate):
    commit(repo, "docs: a typo")
    code, doc, _, _ = validate(repo)
    assert code == 1 and {"tag", "version-agrees"} <= failed(doc)
    assert "v0.1.1 points at" in evidence(doc, "tag") and "HEAD is" in evidence(doc, "tag")
    assert "made from commit" in evidence(doc, "version-agrees")


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("## [0.1.1]", "## [0.1.9]"), "has no section for 0.1.1"),
    (lambda t: t.replace("## [0.1.1] - ", "## [0.1.1]\n\nreleased on "), "has no date"),
])
def test_a_missing_or_undated_changelog_section_fails(repo, validate, edit, message):
    path = repo / "CHANGELOG.md"
    path.write_text(edit(path.read_text()))
    git(repo, "update-index", "--assume-unchanged", "CHANGELOG.md")  # keep the tree clean: one gate at a time
    code, doc, _, _ = validate(repo)
    assert code == 1 and failed(doc) == {"changelog"}
    assert message in evidence(doc, "changelog")


@pytest.mark.parametrize(("tamper", "message"), [
    (lambda d: flip(next(d.glob("*.tar.gz"))), "tar.gz does not match its sha256"),
    (lambda d: next(d.glob("*.deb")).write_bytes(next(d.glob("*.deb")).read_bytes()[:-1]), ".deb is "),
    (lambda d: next(d.glob("*.tar.zst")).unlink(), "tar.zst is missing"),
    (lambda d: flip_base64(d / "SHA256SUMS.sig", 5), "does not verify SHA256SUMS"),  # never "not base64"
    (lambda d: (d / "SHA256SUMS.sig").write_text("not base64\n"), "not one line of base64"),
    (lambda d: (d / "SHA256SUMS").write_text((d / "SHA256SUMS").read_text() + "0" * 64 + "  extra.zip\n"),
     "extra.zip is in SHA256SUMS but not in artifacts.json"),
])
def test_tampered_artifacts_fail(repo, validate, tamper, message):
    tamper(repo / "dist")
    code, doc, _, _ = validate(repo)
    assert code == 1 and "artifacts" in failed(doc)
    assert message in evidence(doc, "artifacts")


def test_a_signature_by_another_key_fails(repo, validate, tmp_path):
    other = write_key(tmp_path / "other.pem")
    code, doc, _, _ = validate(repo, key=other)
    assert code == 1 and failed(doc) == {"artifacts"}
    assert "does not verify SHA256SUMS with key" in evidence(doc, "artifacts")


def test_without_a_trusted_key_the_signature_gate_fails_and_the_config_can_name_one(repo, validate, built,
                                                                                    tmp_path):
    code, doc, _, _ = validate(repo, key="")
    assert code == 1 and failed(doc) == {"artifacts"}
    assert "no trusted public key" in evidence(doc, "artifacts")
    code, doc, _, _ = validate(repo, "--config", config_with(repo, tmp_path, f'public_key = "{built.public_b64}"'),
                               key="")
    assert code == 0 and results(doc)["artifacts"] == "pass"


def repack(dist: Path, key: Path, change, add: dict[str, bytes] | None = None) -> None:
    """Rewrite the tar.gz through `change(name, data) -> data | None` (None drops the member), adding the `add`
    members (names under the archive's root folder), then re-sign SHA256SUMS and rewrite artifacts.json: a release
    that is signed and intact, but wrong inside."""
    import gzip
    import hashlib
    import io
    import tarfile

    from releng import signing

    path = next(dist.glob("*.tar.gz"))
    out = io.BytesIO()
    with tarfile.open(path, "r:gz") as src, tarfile.open(fileobj=out, mode="w") as dst:
        for m in src:
            data = src.extractfile(m).read() if m.isfile() else None
            if data is not None:
                data = change(m.name, data)
                if data is None:
                    continue
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data) if data is not None else None)
        root = src.getnames()[0].split("/")[0]
        for name, data in (add or {}).items():
            info = tarfile.TarInfo(f"{root}/{name}")
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    path.write_bytes(gzip.compress(out.getvalue(), mtime=0))
    doc = json.loads((dist / "artifacts.json").read_text())
    for a in doc["artifacts"]:
        data = (dist / a["path"]).read_bytes()
        a["size"], a["sha256"] = len(data), hashlib.sha256(data).hexdigest()
    sums = "".join(f"{a['sha256']}  {a['path']}\n" for a in sorted(doc["artifacts"], key=lambda a: a["path"]))
    signature = signing.load_private_key_file(key).sign(sums.encode())
    (dist / "SHA256SUMS").write_text(sums)
    (dist / "SHA256SUMS.sig").write_text(signing.signature_line(signature))
    doc["checksums"]["sha256"] = hashlib.sha256(sums.encode()).hexdigest()
    doc["checksums"]["signature"]["value"] = signing.signature_line(signature).strip()
    (dist / "artifacts.json").write_text(json.dumps(doc))


def test_a_signed_archive_missing_a_file_fails_the_contents_gate(repo, built, validate):
    repack(repo / "dist", built.key, lambda name, data: None if name.endswith("/README.md") else data)
    code, doc, _, _ = validate(repo)
    assert code == 1 and failed(doc) == {"package-contents"}
    assert "tar.gz: the archive lacks share/doc/audiolab-gain/README.md" in evidence(doc, "package-contents")


def test_a_packaged_program_printing_another_version_fails_the_smoke_run(repo, built, validate):
    fake = b"#!/bin/sh\necho 'audiolab-gain 0.1.0'\n"
    repack(repo / "dist", built.key, lambda name, data: fake if name.endswith("/bin/audiolab-gain") else data)
    code, doc, _, _ = validate(repo)
    assert code == 1 and failed(doc) == {"smoke-run"}
    assert "printed 0.1.0, the release is 0.1.1" in evidence(doc, "smoke-run")


@pytest.mark.parametrize(("break_it", "named"), [
    (lambda r: (r / "dist" / "artifacts.json").unlink(), "artifacts.json"),
    (lambda r: (r / "dist" / "artifacts.json").write_text("{ not json"), "artifacts.json"),
    (lambda r: (r / "build" / "release" / "version.json").write_text('{"schema": "releng/version"'), "version.json"),
    (lambda r: (r / "build" / "release" / "version.json").write_text('{"schema": "releng/changes", '
                                                                      '"schema_version": 1}'), "version.json"),
    (lambda r: (r / "compat" / "matrix.json").write_text("[]"), "matrix.json"),
    (lambda r: (r / "dist" / "artifacts.json").write_text(
        (r / "dist" / "artifacts.json").read_text().replace('"platform": "linux"', '"platform": "beos"', 1)),
     "artifacts.json"),
])
def test_a_missing_or_corrupt_document_is_bad_input_naming_it(repo, validate, break_it, named):
    break_it(repo)
    code, doc, _, err = validate(repo)
    assert code == 2 and doc is None
    assert err.startswith("error: ") and named in err and len(err.strip().splitlines()) == 1
    assert not (repo / "build" / "release" / "validation.json").exists()


@pytest.mark.parametrize("junit", ["missing.xml", "corrupt.xml"])
def test_a_missing_or_corrupt_junit_report_is_bad_input(repo, validate, tmp_path, junit):
    (tmp_path / "corrupt.xml").write_text("<testsuite><testcase")
    code, _, _, err = validate(repo, "--junit", str(tmp_path / junit))
    assert code == 2 and junit in err


def test_a_junit_report_with_failures_fails_the_tests_gate(repo, validate, tmp_path):
    report = tmp_path / "report.xml"
    report.write_text('<testsuites><testsuite name="gain"><testcase classname="gain" name="limits"/>'
                      '<testcase classname="gain" name="clips"><failure message="x"/></testcase>'
                      "</testsuite></testsuites>")
    code, doc, _, _ = validate(repo, "--junit", str(report))
    assert code == 1 and failed(doc) == {"tests"}
    assert "2 tests, 1 failures" in evidence(doc, "tests") and "gain.clips" in evidence(doc, "tests")


def test_a_failing_test_command_fails_the_tests_gate(repo, validate, tmp_path):
    cfg = (repo / "releng.toml").read_text().replace('"check_presets.py"', '"-c", "raise SystemExit(3)"')
    (tmp_path / "releng.toml").write_text(cfg)
    code, doc, _, _ = validate(repo, "--config", str(tmp_path / "releng.toml"))
    assert code == 1 and failed(doc) == {"tests"}
    assert "exited 3" in evidence(doc, "tests")


def test_a_malformed_test_command_is_bad_input(repo, validate, tmp_path):
    cfg = (repo / "releng.toml").read_text().replace("test_command = [", 'test_command = "make test" #')
    (tmp_path / "releng.toml").write_text(cfg)
    code, _, _, err = validate(repo, "--config", str(tmp_path / "releng.toml"))
    assert code == 2 and "test_command" in err


def test_a_version_missing_from_the_matrix_blocks_a_release_and_warns_an_rc(repo, validate):
    path = repo / "compat" / "matrix.json"
    matrix = json.loads(path.read_text())
    matrix["releases"] = [r for r in matrix["releases"] if r["version"] != "0.1.1"]
    path.write_text(json.dumps(matrix))
    git(repo, "update-index", "--assume-unchanged", "compat/matrix.json")
    code, doc, _, _ = validate(repo)
    assert code == 1 and failed(doc) == {"compatibility"}
    assert "no entry for 0.1.1" in evidence(doc, "compatibility")
    code, doc, _, _ = validate(repo, "--profile", "rc")
    assert code == 0 and results(doc)["compatibility"] == "warn"


# ---- code freeze and profiles -------------------------------------------------------------------------------------

def test_a_feat_commit_after_the_freeze_date_fails(repo, validate, tmp_path):
    cfg = config_with(repo, tmp_path, 'freeze_date = 2000-01-01')
    code, doc, _, _ = validate(repo, "--config", cfg)
    assert code == 0 and results(doc)["code-freeze"] == "pass"  # a fix and the release commit since the freeze
    assert "2 commit(s) since the freeze (freeze_date 2000-01-01 00:00 UTC)" in evidence(doc, "code-freeze")
    commit(repo, "feat: a mute switch")
    code, doc, _, _ = validate(repo, "--config", cfg)
    assert code == 1 and results(doc)["code-freeze"] == "fail"
    assert "1 commit(s) other than docs/fix/test since the freeze" in evidence(doc, "code-freeze")
    assert "feat: a mute switch" in evidence(doc, "code-freeze")
    assert "chore(release)" not in evidence(doc, "code-freeze") and "fix: clamp" not in evidence(doc, "code-freeze")


def test_a_freeze_date_in_the_future_is_not_in_effect(repo, validate, tmp_path):
    code, doc, _, _ = validate(repo, "--config", config_with(repo, tmp_path, 'freeze_date = "2999-01-01"'))
    assert code == 0 and results(doc)["code-freeze"] == "skip"


def test_a_release_branch_allows_only_fix_docs_and_test_commits(repo, validate):
    git(repo, "checkout", "-q", "-b", "release/0.1")
    _, doc, _, _ = validate(repo, "--profile", "rc")
    assert results(doc)["code-freeze"] == "pass" and "0 commit(s)" in evidence(doc, "code-freeze")
    for message in ("fix: clip at 0 dBFS", "docs: the limiter", "test: more gain cases", "feat!: new preset format"):
        commit(repo, message)
    _, doc, _, _ = validate(repo, "--profile", "rc")
    assert results(doc)["code-freeze"] == "fail"
    assert "1 commit(s) other than docs/fix/test" in evidence(doc, "code-freeze")
    assert "feat!: new preset format" in evidence(doc, "code-freeze")
    assert "fix: clip" not in evidence(doc, "code-freeze")


def test_a_malformed_freeze_date_is_bad_input(repo, validate, tmp_path):
    code, _, _, err = validate(repo, "--config", config_with(repo, tmp_path, 'freeze_date = "next monday"'))
    assert code == 2 and "freeze_date" in err


def test_the_hotfix_profile_is_the_quick_subset(repo, validate):
    git(repo, "checkout", "-q", "-b", "hotfix/0.1.1")
    code, doc, out, _ = validate(repo, "--profile", "hotfix", "--rebuild")
    r = results(doc)
    for gate in ("compatibility", "package-contents", "rebuild", "code-freeze"):
        assert r[gate] == "skip" and "not in the hotfix profile" in evidence(doc, gate)
    assert code == 0 and not failed(doc), out
    assert {g for g, v in r.items() if v == "pass"} == set(ALL_GATES) - {
        "compatibility", "package-contents", "rebuild", "code-freeze"}
    assert "0.1.1 follows v0.1.0" in evidence(doc, "no-skipped-version")
    assert [h["id"] for h in doc["human"]] == ["sign-off", "user-message"]  # no beta for a hotfix


def test_a_hotfix_that_is_not_a_patch_fails(git_repo):
    git_repo.commit("chore: start")
    git_repo.tag("v1.2.3")
    ctx = checklist.Context(repo=git_repo.path, profile="hotfix", settings=dict(checklist.DEFAULTS),
                            version=semver.parse("1.3.0"), tags=releng_git.tags(git_repo.path))
    ok, notes = gates._no_skipped_version(ctx)
    assert ok is False and "1.3.0 skips a version after v1.2.3: next is 1.2.4 (a hotfix is a patch release)" in notes


@pytest.mark.parametrize(("last", "new", "profile", "ok"), [
    ("1.2.3", "1.2.4", "release", True), ("1.2.3", "1.3.0", "release", True), ("1.2.3", "2.0.0", "release", True),
    ("1.2.3", "1.4.0", "release", False), ("1.2.3", "1.2.5", "release", False), ("1.2.3", "1.3.0-rc.1", "rc", True),
    ("1.3.0-rc.1", "1.3.0-rc.2", "rc", True), ("1.3.0-rc.2", "1.3.0", "release", True),
    ("1.2.3", "1.2.4", "hotfix", True), ("1.2.3", "1.3.0", "hotfix", False),
])
def test_no_skipped_version(git_repo, last, new, profile, ok):
    git_repo.commit("chore: start")
    git_repo.tag(f"v{last}")
    ctx = checklist.Context(repo=git_repo.path, profile=profile, settings=dict(checklist.DEFAULTS),
                            version=semver.parse(new), tags=releng_git.tags(git_repo.path))
    assert gates._no_skipped_version(ctx)[0] is ok


# ---- the generated checklist --------------------------------------------------------------------------------------

def test_the_committed_checklist_is_the_generated_one(tmp_path, capsys):
    target = tmp_path / "release_checklist.md"
    assert validate_release.main(["--write-checklist", str(target), "-q"]) == 0
    assert (ROOT / "validation" / "release_checklist.md").read_text() == target.read_text()
    assert validate_release.main(["--write-checklist", "-"]) == 0
    text = capsys.readouterr().out
    assert text == target.read_text()
    assert all(f"`{g}`" in text for g in ALL_GATES)
    assert text.count("human;") == len(checklist.HUMAN) and "sign-off" in text and "Beta testers" in text


# ---- issue 12: unpacking caps, special files, paths inside the repository --------------------------------------

@pytest.mark.parametrize(("add", "limit", "message"), [
    ({"share/zeros.bin": bytes(8 << 20)}, "unpack_max_bytes = 1048576", "unpacks to more than 1048576 bytes"),
    ({f"share/f{i}": b"" for i in range(50)}, "unpack_max_members = 20", "holds more than 20 members"),
])
def test_an_archive_bomb_fails_the_smoke_run_clearly(repo, built, validate, tmp_path, add, limit, message):
    """The smoke gate unpacked a 306 KB tar.gz into 300 MiB: the members and their total size are capped (8 MiB of
    zeros gzip to a few KiB here), and the gate fails naming the cap, with nothing unpacked past it."""
    repack(repo / "dist", built.key, lambda name, data: data, add=add)
    assert next((repo / "dist").glob("*.tar.gz")).stat().st_size < 1 << 20
    code, doc, _, _ = validate(repo, "--config", config_with(repo, tmp_path, limit))
    assert code == 1 and "smoke-run" in failed(doc)
    assert message in evidence(doc, "smoke-run") and "[validation] unpack_max_" in evidence(doc, "smoke-run")
    assert results(doc)["artifacts"] == "pass"  # signed and intact: only what it unpacks to is refused


def test_a_malformed_unpacking_cap_is_bad_input(repo, validate, tmp_path):
    code, doc, _, err = validate(repo, "--config", config_with(repo, tmp_path, 'unpack_max_bytes = "lots"'))
    assert code == 2 and doc is None and "unpack_max_bytes must be a whole number" in err


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_a_signature_that_is_a_device_or_a_fifo_fails_the_gate_without_hanging(repo, validate, special):
    """A SHA256SUMS.sig that is /dev/zero gave MemoryError; a FIFO hung the run. Both are refused unread."""
    import os

    sig = repo / "dist" / "SHA256SUMS.sig"
    sig.unlink()
    if special == "fifo":
        os.mkfifo(sig)
    else:
        sig.symlink_to(special)
    code, doc, _, _ = validate(repo)
    assert code == 1 and failed(doc) == {"artifacts"}
    kind = "a FIFO" if special == "fifo" else "a character device"
    assert f"cannot read SHA256SUMS.sig: {kind}, not a regular file" in evidence(doc, "artifacts")


@pytest.mark.parametrize(("extra", "key"), [
    ('\n[[versioning.files]]\npath = "../outside-ver.txt"\nformat = "json"\n', "[[versioning.files]] path"),
    ('\n[[versioning.files]]\npath = "link-ver.txt"\nformat = "json"\n', "[[versioning.files]] path"),
    ('changelog = "../outside-ver.txt"', "[validation] changelog"),
    ('compatibility_matrix = "link-ver.txt"', "[validation] compatibility_matrix"),
    ('public_key = "../outside-ver.txt"', "[validation] public_key"),
    ('\n[packaging.levels]\n', "[packaging] contents"),  # the example's own [packaging] contents, redirected
])
def test_a_configured_path_outside_the_repository_is_bad_input(repo, validate, tmp_path, extra, key):
    """Every configured path must resolve inside the repository, symlinks included: exit 2 naming the key."""
    outside = repo.parent / "outside-ver.txt"
    outside.write_text('{"version": "0.1.1"}\n')
    (repo / "link-ver.txt").symlink_to(outside)
    cfg = (repo / "releng.toml").read_text().replace('compatibility_matrix = "compat/matrix.json"\n', "")
    if key == "[packaging] contents":
        cfg = cfg.replace('contents = "package_contents.toml"', 'contents = "link-ver.txt"')
    (tmp_path / "releng.toml").write_text(cfg + extra + "\n")  # [validation] is its last table
    code, doc, _, err = validate(repo, "--config", str(tmp_path / "releng.toml"))
    assert code == 2 and doc is None and len(err.strip().splitlines()) == 1
    assert err.startswith(f"error: {key} ") and "is outside the repository" in err
    assert outside.read_text() == '{"version": "0.1.1"}\n'
