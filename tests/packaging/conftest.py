"""Fixtures for build-package and verify-artifacts: one real CMake build of the sample plugin per session.

The build (configure, compile, ctest, install, package) costs about ten seconds, so it runs once; tests that
need a different staging tree copy the built one and package it with `--staging`, which skips CMake.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from releng._scripts.packaging import build_package
from releng.packaging import plugin_formats
from testkit import copy_plugin, write_key

COMMIT_TIME = 1_700_000_000
CHANGELOG = """# Changelog

## [Unreleased]

## [0.1.0] - 2023-11-14

### Added

- A gain stage with a soft or hard limiter.
"""


@dataclass(frozen=True)
class Release:
    source: Path  # a git repository: the sample plugin, committed and tagged v0.1.0
    dist: Path  # what `build-package --signing-key key` wrote
    stage: Path  # the staging tree CMake installed
    key: Path  # PEM private key
    public_b64: str
    arch: str
    commit_time: int = COMMIT_TIME

    def head(self) -> str:
        return git(self.source, "rev-parse", "HEAD").strip()


def git(repo: Path, *args: str) -> str:
    stamp = f"{COMMIT_TIME} +0000"
    env = dict(os.environ, GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=env).stdout


@pytest.fixture(scope="session")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    base = tmp_path_factory.mktemp("release")
    source = copy_plugin(base / "plugin", CHANGELOG)
    git(source, "init", "-q", "-b", "main")
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "chore: import the gain plugin")
    git(source, "tag", "-a", "v0.1.0", "-m", "Release 0.1.0")
    public = write_key(base / "release.pem")
    code = build_package.main(["--source", str(source), "--signing-key", str(base / "release.pem"), "-q"])
    assert code == 0, "the session build of examples/plugin failed"
    arch = plugin_formats.host_arch()
    return Release(source, source / "dist", source / "build" / "package" / f"linux-{arch}" / "stage",
                   base / "release.pem", public, arch)


@pytest.fixture
def stage_copy(release: Release, tmp_path: Path) -> Path:
    """A private copy of the session's staging tree, to change before packaging it with --staging."""
    dest = tmp_path / "stage"
    shutil.copytree(release.stage, dest, symlinks=True)
    return dest


@pytest.fixture
def package(release: Release, tmp_path: Path) -> Callable[..., int]:
    """`package(stage, *extra)` runs build-package --staging in-process; output in tmp_path/out."""

    def run(stage: Path, *extra: str, signed: bool = True) -> int:
        args = ["--source", str(release.source), "--staging", str(stage), "--out", str(tmp_path / "out"),
                "--build-dir", str(tmp_path / "work"), *extra]
        args += ["--signing-key", str(release.key)] if signed else ["--unsigned"]
        return build_package.main(args)

    return run


@pytest.fixture
def new_key(tmp_path: Path) -> Callable[[str], tuple[Path, str]]:
    """`new_key(name)` writes another Ed25519 PEM key; returns (path, base64 public key)."""

    def make(name: str) -> tuple[Path, str]:
        return tmp_path / name, write_key(tmp_path / name)

    return make


@pytest.fixture
def dist_copy(release: Release, tmp_path: Path) -> Path:
    """A private copy of the session's release folder, to tamper with."""
    dest = tmp_path / "dist"
    shutil.copytree(release.dist, dest)
    return dest
