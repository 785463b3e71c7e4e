"""scripts/release.sh on a plugin that is not examples/plugin (issue 13, item 4): a step that fails after the tag and
before anything is published leaves no tag and no release commit behind, and says so; "nothing releasable" is said
even though the script runs bump-version with -q."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from testkit import NEBULA_CONFIG, write_key, write_nebula

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CONFIG = NEBULA_CONFIG


def release_sh(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("RELENG_SIGNING_KEY", None)
    return subprocess.run(["bash", str(ROOT / "scripts" / "release.sh"), *args], cwd=cwd, capture_output=True,
                          text=True, env=env)


@pytest.fixture
def nebula(make_repo, tmp_path):
    repo = make_repo("nebula")
    write_nebula(repo.path)
    (repo.path / "releng.toml").write_text(CONFIG)
    (repo.path / ".gitignore").write_text("build/\ndist/\n")
    repo.git("add", "-A")
    repo.commit("feat: the nebula synth", allow_empty=False)
    repo.tag("v0.3.0")
    write_key(tmp_path / "release.pem")
    return repo


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed")
def test_a_build_that_fails_after_the_tag_removes_the_tag_and_the_release_commit(nebula, tmp_path):
    broken = "int main() { return missing_symbol; }\n"
    nebula.commit("fix: voices stay in tune", files={"src/main.cpp": broken})
    head, before = nebula.head(), nebula.snapshot()
    done = release_sh("--no-publish", "--signing-key", str(tmp_path / "release.pem"), cwd=nebula.path)
    assert done.returncode != 0
    assert "removed the tag v0.3.1 and the release commit" in done.stderr, done.stderr[-2000:]
    assert nebula.git("tag", "-l").split() == ["v0.3.0"]
    assert nebula.head() == head
    after = {k: v for k, v in nebula.snapshot().items() if not k.startswith(("build/", "dist/"))}
    assert after == {k: v for k, v in before.items() if not k.startswith(("build/", "dist/"))}
    assert nebula.git("status", "--porcelain", "--untracked-files=no") == ""


def test_nothing_releasable_is_said_and_exit_1(nebula, tmp_path):
    nebula.commit("docs: a typo")
    done = release_sh("--no-publish", "--signing-key", str(tmp_path / "release.pem"), cwd=nebula.path)
    assert done.returncode == 1
    assert "nothing releasable since v0.3.0" in done.stderr
    assert "Nothing releasable" in done.stderr and nebula.git("tag", "-l").split() == ["v0.3.0"]


def test_the_installed_command_runs_the_bundled_script():
    exe = BIN / "releng-release"
    if not exe.exists():
        pytest.skip("releng-release not installed (make setup)")
    done = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "bump-version auto --dry-run" in done.stdout and "--tag-only" in done.stdout


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed")
def test_tagged_finds_a_release_tag_of_any_prefix(nebula, tmp_path):
    (nebula.path / "releng.toml").write_text(CONFIG.replace("[[versioning.files]]", '[versioning]\ntag_prefix = '
                                                            '"nebula-"\n\n[[versioning.files]]', 1))
    nebula.commit("build: tags named nebula-X.Y.Z", files={"releng.toml": (nebula.path / "releng.toml").read_text()})
    nebula.tag("nebula-0.3.0")
    done = release_sh("--tagged", "--no-publish", "--signing-key", str(tmp_path / "release.pem"), cwd=nebula.path)
    assert "gen-changelog --version 0.3.0" in done.stderr, done.stderr[-2000:]
    assert "HEAD carries no release tag" not in done.stderr
